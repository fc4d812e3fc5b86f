// Resource state and bindings for the rules (private to the analyzer).
//
// The latest known configuration of each vault, key, AI resource and role
// assignment, updated from events. Last writer wins by event time, per
// resource: an event older than the resource's newest applied event is
// stale and changes nothing (ApplyResult::fresh is false).
//
// Vaults and keys are named by vault *name* (the first label of the vault
// host, the last segment of its ARM id): AI accounts name their vault by URI,
// workspaces by ARM id, AuditEvent by both, and vault names are unique within
// a cloud, so the name is the one key all sources share.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cmkwatch/common/event.h"

namespace cmkwatch::analyzer::internal {

inline constexpr int64_t kNever = std::numeric_limits<int64_t>::min();

struct VaultState {
  std::string name;
  std::string id;  // canonical ARM id, once an event said it
  int64_t updated = kNever;
  std::optional<bool> soft_delete;
  std::optional<bool> purge_protection;
  std::optional<bool> rbac;
  std::optional<std::string> public_network_access;
  std::optional<NetworkAcls> acls;
  // Key permissions by principal object id. `policies_complete`: the list
  // came whole (a vault body), so a principal absent from it has none.
  std::map<std::string, std::vector<std::string>> policies;
  bool policies_complete = false;
  std::string location;
  std::string tenant_id;
  bool deleted = false;
  int64_t last_audit = kNever;  // newest AuditEvent from the vault (CMK016)
  bool blind = false;           // CMK016's silence alert is open
  bool body_seen = false;       // a whole vault body was seen (CMK009 can judge)
};

struct KeyVersionState {
  std::optional<bool> enabled;
};

struct KeyState {
  std::string vault;  // vault name
  std::string name;
  std::string id;  // canonical ARM id: <vault id>/keys/<name>
  int64_t updated = kNever;
  std::string kty;
  std::optional<int64_t> size;
  std::optional<bool> enabled;
  std::optional<int64_t> expires;
  bool deleted = false;
  bool purged = false;
  std::string current_version;  // from the newest create/rotate seen
  std::map<std::string, KeyVersionState> versions;
  // Principals (object ids) seen unwrapping with this key, and when they
  // last succeeded: the data plane's own word on who uses the key.
  std::map<std::string, int64_t> users;
  // Principals with an open CMK006 on this key, so a success (the common
  // case) looks for an alert to resolve only when there is one.
  std::set<std::string, std::less<>> outages;
};

struct AiState {
  std::string id;
  ResourceKind kind = ResourceKind::kAiAccount;
  int64_t updated = kNever;
  bool deleted = false;
  std::string account_kind;  // "AIServices", "Hub", ...
  std::string location;
  std::string tenant_id;
  std::string key_source;
  std::string vault;     // vault name
  std::string vault_id;  // workspace keyVaultArmId, when said
  std::string key_name;
  std::string key_version;
  std::vector<std::string> previous_versions;  // before in-vault rotations (CMK017), bounded
  std::string identity_type;
  std::string principal_id;
  std::string identity_client_id;
  std::set<std::string> learned_principals;  // object ids behind identity_client_id
  bool Cmk() const { return key_source == "Microsoft.KeyVault" && !vault.empty(); }
  bool Uses(std::string_view object_id) const {
    return !object_id.empty() && (object_id == principal_id || learned_principals.count(std::string(object_id)) > 0);
  }
};

struct RoleAssignmentState {
  std::string principal_id;
  std::string role;   // role definition GUID
  std::string scope;  // canonical ARM id
  int64_t updated = kNever;
  bool deleted = false;
};

// "kv" from ".../vaults/kv/keys/k" or "kv.vault.azure.net"; "" when neither.
std::string VaultNameOfId(std::string_view canonical_id);
std::string VaultNameOfHost(std::string_view host);
// The same as views, without allocating (per-event use); the host must be
// lower case already (KeyRef::vault is).
std::string_view VaultNameViewOfId(std::string_view canonical_id);
std::string_view VaultNameViewOfHost(std::string_view lower_host);
// "kv" from a vault URI "https://kv.vault.azure.net/".
std::string VaultNameOfUri(std::string_view uri);
// The segment after `marker` ("/resourcegroups/", "/keys/") in an id, ""
// when the marker is absent.
std::string_view SegmentAfter(std::string_view canonical_id, std::string_view marker);
// The resource group segment of an id, "" when none.
inline std::string_view ResourceGroupOf(std::string_view canonical_id) {
  return SegmentAfter(canonical_id, "/resourcegroups/");
}

// Role definitions that grant get/wrapKey/unwrapKey on keys (RULES.md CMK005).
bool IsKeyCryptoRole(std::string_view role_guid);

class State {
 public:
  explicit State(size_t max_per_kind) : max_(max_per_kind) {}

  // Finds or creates; nullptr when the kind is full (counted in dropped()).
  VaultState* Vault(std::string_view name);
  KeyState* Key(std::string_view vault, std::string_view key);
  AiState* Ai(std::string_view id);
  RoleAssignmentState* RoleAssignment(std::string_view id);

  const VaultState* FindVault(std::string_view name) const;
  const KeyState* FindKey(std::string_view vault, std::string_view key) const;
  const AiState* FindAi(std::string_view id) const;

  VaultState* FindVault(std::string_view name);
  KeyState* FindKey(std::string_view vault, std::string_view key);
  // Keeps the vault and client-id indexes right after `id` changed from
  // `before` (what BoundToVault and AiByClientId read).
  void Reindex(const std::string& id, const AiState& before, const AiState& after);
  // AI resources whose CMK identity is named by this client id.
  std::vector<AiState*> AiByClientId(std::string_view client_id);

  // AI resources (not deleted) whose CMK is in the vault / is the key.
  std::vector<const AiState*> BoundToVault(std::string_view vault) const;
  std::vector<const AiState*> BoundToKey(std::string_view vault, std::string_view key) const;
  // Principals that must keep get/wrapKey/unwrapKey on the vault: the bound
  // AI resources' identities, and whoever unwrapped with one of its keys.
  std::set<std::string> BoundPrincipals(std::string_view vault) const;

  const std::map<std::string, VaultState, std::less<>>& vaults() const { return vaults_; }
  uint64_t dropped() const { return dropped_; }

 private:
  template <typename M>
  typename M::mapped_type* FindOrAdd(M& map, std::string key);

  size_t max_;
  uint64_t dropped_ = 0;
  // Transparent comparators: looked up by views into the event, so the
  // per-event path allocates only when a resource is new.
  std::map<std::string, VaultState, std::less<>> vaults_;
  // Hashed: keys are looked up for every data-plane event.
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, KeyState, Hash, std::equal_to<>> keys_;  // "<vault>/<key>"
  std::map<std::string, AiState, std::less<>> ai_;
  std::map<std::string, RoleAssignmentState, std::less<>> role_assignments_;
  std::map<std::string, std::set<std::string>, std::less<>> ai_by_vault_;   // vault name -> AI ids
  std::map<std::string, std::set<std::string>, std::less<>> ai_by_client_;  // client id -> AI ids
  mutable std::string key_scratch_;  // FindKey's lookup key, reused
};

}  // namespace cmkwatch::analyzer::internal
