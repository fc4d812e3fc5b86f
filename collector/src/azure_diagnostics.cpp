// Key Vault AuditEvent as a Log Analytics AzureDiagnostics row: the record
// flattened into one column per leaf, named by path with '_' and suffixed
// by type (_s string, _d number, _g GUID, _b bool, _t datetime).
//
//   row := { TimeGenerated, ResourceId | _ResourceId, OperationName,
//            ResultType, ResultSignature, CallerIPAddress, CorrelationId,
//            Category: "AuditEvent", ResourceProvider: "MICROSOFT.KEYVAULT",
//            Type: "AzureDiagnostics",
//            id_s, requestUri_s, httpStatusCode_d,
//            identity_claim_<claim>_{s,g}      claim in short form (oid) or
//                                              flattened URI form
//                                              (http_schemas_microsoft_com_
//                                              identity_claims_objectidentifier)
//            enableSoftDelete_b, enablePurgeProtection_b,
//            enableRbacAuthorization_b, softDeleteRetentionInDays_d,
//            publicNetworkAccess_s, networkAcls_{defaultAction, bypass,
//            ipRules, virtualNetworkRules}_s,
//            {added,removed}AccessPolicy_{ObjectId, TenantId,
//            ApplicationId}_g, ..._Permissions_keys_s   (JSON array text or
//                                                        "Get, WrapKey")
//            keyProperties_{kty, size, attributes_enabled, attributes_exp}_*,
//            ... }
//
// `az monitor log-analytics query` prints every value as a string ("True",
// "200.0") and absent values as ""; both are accepted. Column names compare
// case-insensitively.
#include <algorithm>
#include <array>

#include "cmkwatch/common/resource_id.h"
#include "cmkwatch/common/time.h"
#include "keyvault_audit.h"
#include "normalize.h"
#include "parsers.h"

namespace cmkwatch::collector::internal {
namespace {

enum class Column : uint8_t {
  kNone,
  kTime,
  kResourceId,
  kOperationName,
  kCategory,
  kResultType,
  kResultSignature,
  kCallerIp,
  kCorrelationId,
  kResourceProvider,
  kType,
  kId,
  kRequestUri,
  kHttpStatusCode,
  kEnableSoftDelete,
  kEnablePurgeProtection,
  kEnableRbacAuthorization,
  kSoftDeleteRetention,
  kPublicNetworkAccess,
  kDefaultAction,
  kBypass,
  kIpRules,
  kVirtualNetworkRules,
};

// Names as Log Analytics spells them; flattened columns without their type
// suffix, so that a column typed differently in another workspace (id_s vs
// id_g) is still found.
const FieldTable<Column>& Columns() {
  static const FieldTable<Column> table(
      {
          {"TimeGenerated", Column::kTime},
          {"ResourceId", Column::kResourceId},
          {"_ResourceId", Column::kResourceId},
          {"OperationName", Column::kOperationName},
          {"Category", Column::kCategory},
          {"ResultType", Column::kResultType},
          {"ResultSignature", Column::kResultSignature},
          {"CallerIPAddress", Column::kCallerIp},
          {"CorrelationId", Column::kCorrelationId},
          {"ResourceProvider", Column::kResourceProvider},
          {"Type", Column::kType},
          {"id", Column::kId},
          {"requestUri", Column::kRequestUri},
          {"httpStatusCode", Column::kHttpStatusCode},
          {"enableSoftDelete", Column::kEnableSoftDelete},
          {"enablePurgeProtection", Column::kEnablePurgeProtection},
          {"enableRbacAuthorization", Column::kEnableRbacAuthorization},
          {"softDeleteRetentionInDays", Column::kSoftDeleteRetention},
          {"publicNetworkAccess", Column::kPublicNetworkAccess},
          {"networkAcls_defaultAction", Column::kDefaultAction},
          {"networkAcls_bypass", Column::kBypass},
          {"networkAcls_ipRules", Column::kIpRules},
          {"networkAcls_virtualNetworkRules", Column::kVirtualNetworkRules},
      },
      Column::kNone);
  return table;
}

constexpr std::string_view kClaimPrefix = "identity_claim_";
constexpr std::string_view kAddedPrefix = "addedAccessPolicy_";
constexpr std::string_view kRemovedPrefix = "removedAccessPolicy_";
constexpr std::string_view kKeyPrefix = "keyProperties_";

// "id_s" → "id"; names without a type suffix are returned as they are.
std::string_view StripTypeSuffix(std::string_view name) {
  if (name.size() > 2 && name[name.size() - 2] == '_') {
    switch (name.back()) {
      case 's': case 'd': case 'g': case 'b': case 't':
      case 'S': case 'D': case 'G': case 'B': case 'T': return name.substr(0, name.size() - 2);
      default: break;
    }
  }
  return name;
}

// A non-empty string value; "" is how az CLI prints an absent value.
std::optional<std::string_view> NonEmpty(od::value v) {
  auto s = AsString(v);
  if (!s || s->empty()) return std::nullopt;
  return s;
}

// The claim a flattened identity_claim_* column holds, in the form
// ApplyClaim knows ("oid", "appid", ...). Log Analytics replaces the URI's
// punctuation with '_': "http://schemas.microsoft.com/identity/claims/
// objectidentifier" becomes "http_schemas_microsoft_com_identity_claims_
// objectidentifier".
std::string_view ClaimName(std::string_view flattened, std::array<char, 96>& buf) {
  if (flattened.size() > buf.size()) return {};
  for (size_t i = 0; i < flattened.size(); ++i) {
    const char c = flattened[i];
    buf[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  std::string_view name(buf.data(), flattened.size());
  if (name.substr(0, 5) == "http_") {
    // Long URI forms: only the part after ".../claims/" matters.
    const size_t at = name.rfind("_claims_");
    if (at == std::string_view::npos) return {};
    name.remove_prefix(at + 8);
  }
  if (name == "objectidentifier") return "oid";
  if (name == "tenantid") return "tid";
  if (name == "name") return "unique_name";
  if (name == "emailaddress") return "email";
  return name;
}

class RowReader {
 public:
  explicit RowReader(AuditFields& f) : f_(f) {}

  Status Read(od::object row) {
    for (auto field : row) {
      std::string_view name;
      if (auto err = FieldName(field, name)) return JsonError(err, "AzureDiagnostics column name");
      od::value v;
      if (auto err = field.value().get(v)) return JsonError(err, "AzureDiagnostics column value");
      Column id = Columns().Find(name);
      if (id == Column::kNone) id = Columns().Find(StripTypeSuffix(name));
      if (id != Column::kNone) {
        if (auto st = OnColumn(id, v); !st.ok()) return st;
      } else if (StartsWithName(name, kClaimPrefix)) {
        if (auto s = NonEmpty(v)) {
          std::array<char, 96> buf;
          const std::string_view claim = ClaimName(StripTypeSuffix(name.substr(kClaimPrefix.size())), buf);
          if (!claim.empty()) ApplyClaim(claim, *s, f_.actor);
        }
      } else if (StartsWithName(name, kAddedPrefix)) {
        OnPolicyColumn(StripTypeSuffix(name.substr(kAddedPrefix.size())), v, added_, added_seen_);
      } else if (StartsWithName(name, kRemovedPrefix)) {
        OnPolicyColumn(StripTypeSuffix(name.substr(kRemovedPrefix.size())), v, removed_, removed_seen_);
      } else if (StartsWithName(name, kKeyPrefix)) {
        OnKeyColumn(StripTypeSuffix(name.substr(kKeyPrefix.size())), v);
      }
    }
    if (added_seen_) Finish(std::move(added_), f_.vault.added_policies);
    if (removed_seen_) Finish(std::move(removed_), f_.vault.removed_policies);
    return Status::Ok();
  }

 private:
  Status OnColumn(Column id, od::value v) {
    switch (id) {
      case Column::kNone: break;
      case Column::kTime:
        f_.time_seen = true;
        if (auto s = AsString(v)) {
          f_.time_text = *s;
          f_.time = ParseTimestamp(*s);
        } else {
          f_.time = AsTime(v);
        }
        break;
      case Column::kResourceId: SetIfEmpty(f_.resource_id, v); break;
      case Column::kOperationName: SetIfEmpty(f_.operation, v); break;
      case Column::kCategory: SetIfEmpty(f_.category, v); break;
      case Column::kResultType: SetIfEmpty(f_.result_type, v); break;
      case Column::kResultSignature: SetIfEmpty(f_.result_signature, v); break;
      case Column::kCallerIp: SetIfEmpty(f_.caller_ip, v); break;
      case Column::kCorrelationId: SetIfEmpty(f_.correlation_id, v); break;
      case Column::kResourceProvider:
        if (auto s = NonEmpty(v); s && !KeyIs(*s, "MICROSOFT.KEYVAULT")) {
          return Status::Unsupported("AzureDiagnostics row from resource provider " + std::string(s->substr(0, 60)) +
                                     " is not a Key Vault AuditEvent");
        }
        break;
      case Column::kType:
        if (auto s = NonEmpty(v); s && !KeyIs(*s, "AzureDiagnostics")) {
          return Status::Unsupported("a Log Analytics " + std::string(s->substr(0, 40)) +
                                     " row is not an AzureDiagnostics row");
        }
        break;
      case Column::kId: SetIfEmpty(f_.object_uri, v); break;
      case Column::kRequestUri: SetIfEmpty(f_.request_uri, v); break;
      case Column::kHttpStatusCode:
        if (auto code = AsInt(v); code && *code >= 100 && *code <= 999) f_.http_status = static_cast<int>(*code);
        break;
      case Column::kEnableSoftDelete: SetVaultBool(f_.vault.enable_soft_delete, v); break;
      case Column::kEnablePurgeProtection: SetVaultBool(f_.vault.enable_purge_protection, v); break;
      case Column::kEnableRbacAuthorization: SetVaultBool(f_.vault.enable_rbac_authorization, v); break;
      case Column::kSoftDeleteRetention:
        if (auto days = AsInt(v)) {
          f_.vault.soft_delete_retention_days = days;
          f_.vault_seen = true;
        }
        break;
      case Column::kPublicNetworkAccess:
        if (auto s = NonEmpty(v)) {
          f_.vault.public_network_access = CanonicalEnum(*s, {"Enabled", "Disabled", "SecuredByPerimeter"});
          f_.vault_seen = true;
        }
        break;
      case Column::kDefaultAction:
        if (auto s = NonEmpty(v)) Acls().default_action = CanonicalEnum(*s, {"Allow", "Deny"});
        break;
      case Column::kBypass:
        if (auto s = NonEmpty(v)) Acls().bypass = CanonicalEnum(*s, {"AzureServices", "None"});
        break;
      case Column::kIpRules:
        if (auto s = NonEmpty(v)) Acls().ip_rules = CountListText(*s);
        break;
      case Column::kVirtualNetworkRules:
        if (auto s = NonEmpty(v)) Acls().virtual_network_rules = CountListText(*s);
        break;
    }
    return Status::Ok();
  }

  // ObjectId, TenantId, ApplicationId, Permissions_keys (suffix removed).
  static void OnPolicyColumn(std::string_view name, od::value v, AccessPolicy& p, bool& seen) {
    auto s = NonEmpty(v);
    if (!s) return;
    if (KeyIs(name, "ObjectId")) {
      p.object_id = AsciiLower(*s);
    } else if (KeyIs(name, "TenantId")) {
      p.tenant_id = AsciiLower(*s);
    } else if (KeyIs(name, "ApplicationId")) {
      p.application_id = AsciiLower(*s);
    } else if (KeyIs(name, "Permissions_keys")) {
      p.key_permissions = SplitListText(*s);
    } else {
      return;
    }
    seen = true;
  }

  // kty/type, size/keySize/key_size, key_ops, [attributes_]enabled/exp/nbf.
  void OnKeyColumn(std::string_view name, od::value v) {
    if (StartsWithName(name, "attributes_")) name.remove_prefix(11);
    KeyChanges& k = f_.key;
    bool seen = false;
    if (KeyIs(name, "kty") || KeyIs(name, "type") || KeyIs(name, "keyType")) {
      if (auto s = NonEmpty(v)) {
        k.kty = CanonicalKty(*s);
        seen = true;
      }
    } else if (KeyIs(name, "size") || KeyIs(name, "keySize") || KeyIs(name, "key_size")) {
      if (auto n = AsInt(v); n && *n > 0) {
        k.key_size = n;
        seen = true;
      }
    } else if (KeyIs(name, "key_ops") || KeyIs(name, "keyOps")) {
      if (auto s = NonEmpty(v)) {
        k.key_ops = SplitListText(*s);
        for (auto& op : k.key_ops) op = AsciiLower(op);
        seen = true;
      }
    } else if (KeyIs(name, "enabled")) {
      if (auto b = AsBool(v)) {
        k.enabled = b;
        seen = true;
      }
    } else if (KeyIs(name, "exp") || KeyIs(name, "expires")) {
      if (auto t = AsTime(v)) {
        k.expires = t;
        seen = true;
      }
    } else if (KeyIs(name, "nbf") || KeyIs(name, "notBefore")) {
      if (auto t = AsTime(v)) {
        k.not_before = t;
        seen = true;
      }
    }
    if (seen) f_.key_seen = true;
  }

  void Finish(AccessPolicy&& p, std::vector<AccessPolicy>& out) {
    NormalizePermissions(p.key_permissions);
    out.push_back(std::move(p));
    f_.vault_seen = true;
  }

  NetworkAcls& Acls() {
    if (!f_.vault.network_acls) f_.vault.network_acls.emplace();
    f_.vault_seen = true;
    return *f_.vault.network_acls;
  }

  void SetIfEmpty(std::string_view& target, od::value v) {
    if (!target.empty()) return;
    if (auto s = NonEmpty(v)) target = *s;
  }

  void SetVaultBool(std::optional<bool>& target, od::value v) {
    if (auto b = AsBool(v)) {
      target = b;
      f_.vault_seen = true;
    }
  }

  AuditFields& f_;
  AccessPolicy added_, removed_;
  bool added_seen_ = false, removed_seen_ = false;
};

}  // namespace

Result<Event> ParseAzureDiagnosticsDoc(od::document& doc, std::string_view raw, const ParseLimits&) {
  auto root = RootObject(doc);
  if (!root.ok()) return root.status();
  AuditFields f;
  f.log_analytics = true;
  f.names = AuditNames{"AzureDiagnostics row", "TimeGenerated", "OperationName", "ResourceId"};
  RowReader reader(f);
  if (auto st = reader.Read(*root); !st.ok()) return st;
  return BuildAuditEvent(f, raw);
}

}  // namespace cmkwatch::collector::internal
