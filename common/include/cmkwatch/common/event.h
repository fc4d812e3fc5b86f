// Event: the one normalized record every parser produces and every later
// stage (wire, timeline, rules, alerts, reports) consumes.
//
// Conventions, so that rules compare plain values:
//  * resource_id is an ARM id, lower-cased, without a trailing '/'. Azure
//    sends the same id in upper and lower case.
//  * time is UTC nanoseconds since the Unix epoch (Azure gives up to 7
//    fractional digits, i.e. 100 ns).
//  * operation: ARM operations (Activity Log, Event Grid resource events,
//    inventory) lower-cased ("microsoft.keyvault/vaults/write"); Key Vault
//    data-plane operations as Key Vault spells them ("KeyDelete"); Event Grid
//    Key Vault events by their event type ("Microsoft.KeyVault.KeyExpired").
//  * Enumerations that Azure spells in several cases are normalized to the
//    documented spelling ("Deny", "AzureServices", "Microsoft.KeyVault",
//    "RSA-HSM", "SystemAssigned"); unknown spellings are kept as sent.
//  * Permission names are lower-case ("wrapkey").
//  * Absent means "not said by this event": std::optional / empty string.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cmkwatch {

enum class Source : uint8_t { kActivityLog, kKeyVaultAudit, kEventGrid, kInventory };

enum class ResourceKind : uint8_t {
  kUnknown,
  kVault,              // Microsoft.KeyVault/vaults
  kKey,                // Microsoft.KeyVault/vaults/keys
  kSecret,             // Microsoft.KeyVault/vaults/secrets
  kCertificate,        // Key Vault certificates (data plane)
  kManagedHsm,         // Microsoft.KeyVault/managedHSMs
  kAiAccount,          // Microsoft.CognitiveServices/accounts (incl. AI Foundry AIServices)
  kMlWorkspace,        // Microsoft.MachineLearningServices/workspaces (incl. hubs)
  kRoleAssignment,     // Microsoft.Authorization/roleAssignments
  kDiagnosticSetting,  // Microsoft.Insights/diagnosticSettings
  kResourceGroup,
  kSubscription,
  kOther,              // an ARM resource of another type
};

enum class Outcome : uint8_t { kUnknown, kStarted, kAccepted, kSucceeded, kFailed };

std::string_view ToString(Source s);
std::string_view ToString(ResourceKind k);
std::string_view ToString(Outcome o);

// Who did it. Identity claims arrive in short ("oid") and long URI form; both
// end up here.
struct Actor {
  std::string object_id;       // Entra object id (oid / objectidentifier)
  std::string app_id;          // application (client) id
  std::string upn;             // user principal name or e-mail
  std::string ip;              // caller IP address
  std::string tenant_id;
  std::string principal_type;  // "User", "ServicePrincipal", ... when said

  bool empty() const {
    return object_id.empty() && app_id.empty() && upn.empty() && ip.empty() && tenant_id.empty() &&
           principal_type.empty();
  }
  bool operator==(const Actor&) const = default;
};

// A Key Vault key, as the data plane names it.
struct KeyRef {
  std::string vault;    // vault host, lower case: "contoso.vault.azure.net"
  std::string name;     // key name, lower case ("" when the event is about the vault)
  std::string version;  // key version, lower case ("" when unversioned)
  bool operator==(const KeyRef&) const = default;
};

struct AccessPolicy {
  std::string tenant_id;
  std::string object_id;
  std::string application_id;
  std::vector<std::string> key_permissions;  // lower case, sorted, unique: "get", "unwrapkey", ...
  bool operator==(const AccessPolicy&) const = default;
};

struct NetworkAcls {
  std::string default_action;  // "Allow" / "Deny"
  std::string bypass;          // "AzureServices" / "None"
  uint32_t ip_rules = 0;
  uint32_t virtual_network_rules = 0;
  bool operator==(const NetworkAcls&) const = default;
};

struct VaultChanges {
  std::optional<bool> enable_soft_delete;
  std::optional<bool> enable_purge_protection;
  std::optional<bool> enable_rbac_authorization;
  std::optional<int64_t> soft_delete_retention_days;
  std::optional<std::string> public_network_access;  // "Enabled" / "Disabled"
  std::optional<NetworkAcls> network_acls;
  // The vault's complete resulting list of access policies (vault write / PUT
  // / inventory), when the event carries one.
  std::optional<std::vector<AccessPolicy>> access_policies;
  // An incremental access policy change (accessPolicies/write, or Key Vault's
  // addedAccessPolicy/removedAccessPolicy audit properties).
  std::string access_policy_operation;  // "add", "replace", "remove" or ""
  std::vector<AccessPolicy> added_policies;
  std::vector<AccessPolicy> removed_policies;
  std::string location;
  std::string tenant_id;
  std::string vault_uri;  // "https://contoso.vault.azure.net/" as Azure reports it
  bool operator==(const VaultChanges&) const = default;
};

struct KeyChanges {
  std::string kty;  // "RSA", "RSA-HSM", "EC", "EC-HSM", "oct", "oct-HSM"
  std::optional<int64_t> key_size;
  std::string curve;
  std::optional<bool> enabled;
  std::optional<int64_t> expires;     // ns since epoch
  std::optional<int64_t> not_before;  // ns since epoch
  std::vector<std::string> key_ops;   // lower case, as listed
  bool operator==(const KeyChanges&) const = default;
};

// Encryption and identity of an AI resource: a Cognitive Services / AI Foundry
// account or a Machine Learning (hub) workspace.
struct AccountChanges {
  std::string kind;            // account kind ("AIServices", "OpenAI", ...) or workspace kind ("Hub")
  std::string location;
  std::string key_source;      // "Microsoft.KeyVault" / "Microsoft.CognitiveServices"
  std::string key_vault_uri;   // lower case, with trailing '/': "https://contoso.vault.azure.net/"
  std::string key_vault_arm_id;  // workspace keyVaultArmId, canonical ARM id
  std::string key_name;        // lower case
  std::string key_version;     // lower case
  std::string encryption_status;  // workspace: "Enabled" / "Disabled"
  std::string identity_type;   // "SystemAssigned", "UserAssigned", "SystemAssigned,UserAssigned", "None"
  std::string principal_id;    // system-assigned identity's object id
  std::string tenant_id;
  std::vector<std::string> user_assigned_identities;  // canonical ARM ids of user-assigned identities
  std::string identity_client_id;  // the identity CMK uses (user-assigned), when named
  std::string encryption_identity;  // ARM id of the identity CMK uses (workspace)
  bool operator==(const AccountChanges&) const = default;
};

struct RoleAssignmentChanges {
  std::string principal_id;
  std::string principal_type;
  std::string role_definition_id;  // the role's GUID, lower case (last segment of the definition id)
  std::string scope;               // canonical ARM id
  bool operator==(const RoleAssignmentChanges&) const = default;
};

struct DiagnosticSettingChanges {
  std::vector<std::string> enabled_categories;  // as named ("AuditEvent", "audit", "allLogs")
  std::string target;                           // workspace / storage / event hub ARM id
  bool operator==(const DiagnosticSettingChanges&) const = default;
};

// The typed changes a rule needs. Each part is present only when the event
// said something about it.
struct Changes {
  std::optional<VaultChanges> vault;
  std::optional<KeyChanges> key;
  std::optional<AccountChanges> account;
  std::optional<RoleAssignmentChanges> role_assignment;
  std::optional<DiagnosticSettingChanges> diagnostic_setting;
  bool empty() const {
    return !vault && !key && !account && !role_assignment && !diagnostic_setting;
  }
  bool operator==(const Changes&) const = default;
};

struct Event {
  // Stable id, used for dedup: the source's own id where it has one
  // (Event Grid id, Activity Log eventDataId), else "<source>:" + 32 hex
  // digits of XXH3-128 over the record with insignificant whitespace
  // removed, so the same record framed differently gets the same id. (Why
  // not SHA-256: see HashEventId in collector/src/normalize.cpp.)
  std::string id;
  Source source = Source::kActivityLog;
  int64_t time = 0;  // ns since the Unix epoch, UTC
  std::string resource_id;
  ResourceKind resource_kind = ResourceKind::kUnknown;
  std::string operation;
  Outcome outcome = Outcome::kUnknown;
  int http_status = 0;  // 0 when unknown
  std::string correlation_id;
  Actor actor;
  std::optional<KeyRef> key;
  Changes changes;
  std::string raw;  // the record's original bytes

  bool operator==(const Event&) const = default;
};

// A record that could not be read: where it was, what it looked like, and
// why, in words an operator understands. Quarantined records travel and are
// stored like events; nothing is dropped silently.
struct QuarantineEntry {
  std::string path;          // file, "-" for stdin, or the source's name
  uint64_t offset = 0;       // byte offset in the (decompressed) stream
  uint64_t line = 1;         // 1-based line of that byte
  std::string format_guess;  // the format tried, or "unknown"
  std::string reason;
  bool operator==(const QuarantineEntry&) const = default;
};

// Kind of an ARM resource id (already canonical), from its provider/type path.
ResourceKind KindOfResourceId(std::string_view canonical_id);

}  // namespace cmkwatch
