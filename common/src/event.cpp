#include "cmkwatch/common/event.h"

namespace cmkwatch {

std::string_view ToString(Source s) {
  switch (s) {
    case Source::kActivityLog: return "activity_log";
    case Source::kKeyVaultAudit: return "keyvault_audit";
    case Source::kEventGrid: return "event_grid";
    case Source::kInventory: return "inventory";
  }
  return "unknown";
}

std::string_view ToString(ResourceKind k) {
  switch (k) {
    case ResourceKind::kUnknown: return "unknown";
    case ResourceKind::kVault: return "vault";
    case ResourceKind::kKey: return "key";
    case ResourceKind::kSecret: return "secret";
    case ResourceKind::kCertificate: return "certificate";
    case ResourceKind::kManagedHsm: return "managed_hsm";
    case ResourceKind::kAiAccount: return "ai_account";
    case ResourceKind::kMlWorkspace: return "ml_workspace";
    case ResourceKind::kRoleAssignment: return "role_assignment";
    case ResourceKind::kDiagnosticSetting: return "diagnostic_setting";
    case ResourceKind::kResourceGroup: return "resource_group";
    case ResourceKind::kSubscription: return "subscription";
    case ResourceKind::kOther: return "other";
  }
  return "unknown";
}

std::string_view ToString(Outcome o) {
  switch (o) {
    case Outcome::kUnknown: return "unknown";
    case Outcome::kStarted: return "started";
    case Outcome::kAccepted: return "accepted";
    case Outcome::kSucceeded: return "succeeded";
    case Outcome::kFailed: return "failed";
  }
  return "unknown";
}

}  // namespace cmkwatch
