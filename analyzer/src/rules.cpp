// The built-in rules (../shared/RULES.md) and the alert lifecycle.
//
// Shape: Process() does per-event bookkeeping (AuditEvent freshness per
// vault), applies the event to the resource state once, then runs the rules
// indexed under (resource kind, lower-cased operation) and under (kind, "*")
// for rules that judge any state change of that kind. Each rule either
// raises (opens or updates an alert) or clears (resolves it); both go
// through one lifecycle, so repeats, suppression, severity overrides and
// late events are handled in one place.
#include "cmkwatch/analyzer/rules.h"

#include <algorithm>
#include <unordered_map>
#include <utility>

#include "cmkwatch/common/hash.h"
#include "cmkwatch/common/resource_id.h"
#include "state.h"

namespace cmkwatch::analyzer {

using internal::AiState;
using internal::KeyState;
using internal::kNever;
using internal::State;
using internal::VaultState;

namespace {

constexpr char kSep = '\x1f';
constexpr size_t kMaxPreviousVersions = 16;
constexpr size_t kMaxKeyUsers = 64;
constexpr size_t kMaxVersions = 256;

// The catalogue: RULES.md's table, with the seed's consequence ("why") and
// the remediation in words an on-call engineer can act on.
const std::vector<RuleInfo> kCatalogue = {
    {"CMK001", "Key deleted", Severity::kCritical, Severity::kLow,
     "With its key deleted, the AI resource cannot download training data, fine-tune or deploy; existing "
     "deployments keep serving until they restart.",
     "Recover the key (az keyvault key recover) within the soft-delete retention period."},
    {"CMK002", "Key purged", Severity::kCritical, Severity::kLow,
     "A purged key cannot be recovered: data encrypted with it is permanently unreadable to the AI resource.",
     "Treat as data loss: restore from a key backup if one exists, and find who purged it."},
    {"CMK003", "Key disabled, expired or near expiry", Severity::kCritical, Severity::kInfo,
     "The customer-managed key must stay usable; a disabled or expired key stops the AI resource from "
     "unwrapping its data encryption key.",
     "Enable the key or set a new expiry (az keyvault key set-attributes), or rotate to a new version in the "
     "same vault."},
    {"CMK004", "Vault deleted or purged", Severity::kCritical, Severity::kLow,
     "Every key in the vault is gone with it: AI resources using them lose access to their data.",
     "Recover the vault (az keyvault recover) within the soft-delete retention period."},
    {"CMK005", "Identity's key access revoked", Severity::kCritical, std::nullopt,
     "The AI resource's managed identity needs get, wrap key and unwrap key on the key; without them, "
     "encryption and decryption fail.",
     "Restore the access policy (get, wrapKey, unwrapKey) or the Key Vault Crypto Service Encryption User role "
     "for the identity."},
    {"CMK006", "CMK outage in effect", Severity::kCritical, std::nullopt,
     "The AI resource's identity is being refused the key: its data cannot be decrypted right now.",
     "Check the key, the vault firewall and the identity's access; the alert resolves on its next success."},
    {"CMK007", "Vault firewall blocks trusted services", Severity::kHigh, Severity::kLow,
     "With the Key Vault firewall on, trusted Microsoft services must be allowed, or the AI resource cannot "
     "reach its key.",
     "Allow trusted Microsoft services (networkAcls.bypass = AzureServices) or open the firewall."},
    {"CMK008", "Soft delete off", Severity::kHigh, Severity::kMedium,
     "Both soft delete and purge protection must be on for customer-managed keys; without soft delete a "
     "deleted key is gone at once.",
     "Enable soft delete on the vault."},
    {"CMK009", "Purge protection off", Severity::kHigh, Severity::kMedium,
     "Both soft delete and purge protection must be on; without purge protection a deleted key can be purged "
     "before anyone can recover it.",
     "Enable purge protection (az keyvault update --enable-purge-protection); it cannot be turned off again."},
    {"CMK010", "Unsupported key", Severity::kHigh, std::nullopt,
     "Only RSA and RSA-HSM keys of size 2048 are supported for the AI resource's encryption.",
     "Bind the AI resource to an RSA or RSA-HSM 2048-bit key in the same vault."},
    {"CMK011", "Rotation targets another vault", Severity::kCritical, std::nullopt,
     "Cross-vault key rotation isn't supported: only update to keys in the same Key Vault instance.",
     "Point the AI resource back at a key in its original vault."},
    {"CMK012", "Switch from customer-managed to Microsoft-managed keys attempted", Severity::kHigh, std::nullopt,
     "You can't switch back from customer-managed keys to Microsoft-managed keys.",
     "Keep the customer-managed key configuration; find out who attempted the change and why."},
    {"CMK013", "Managed identity removed or replaced", Severity::kCritical, std::nullopt,
     "A managed identity is a prerequisite for customer-managed keys; the new or missing identity has no "
     "access to the key.",
     "Restore the identity, or grant the new one get, wrapKey and unwrapKey on the key."},
    {"CMK014", "Vault placement", Severity::kHigh, std::nullopt,
     "The vault must be in the same region and Microsoft Entra tenant as the AI resource (and, for the portal, "
     "the same resource group).",
     "Use a key in a vault in the AI resource's region and tenant."},
    {"CMK015", "Hub encryption changed after creation", Severity::kHigh, std::nullopt,
     "Hub resources can't be updated post-creation to change their encryption settings.",
     "Revert the change; a different key needs a new hub."},
    {"CMK016", "Audit blind spot", Severity::kHigh, Severity::kMedium,
     "Without the vault's AuditEvent logs, key deletions, revocations and outages go unseen.",
     "Restore the vault's diagnostic setting with the AuditEvent category, and check the log pipeline."},
    {"CMK017", "Previous key version disabled or deleted after rotation", Severity::kHigh, std::nullopt,
     "Rotating the key doesn't re-encrypt existing data: data remains encrypted with the previous key "
     "version, which must stay enabled.",
     "Re-enable the previous key version."},
    {"CMK018", "Key rotated", Severity::kInfo, Severity::kInfo,
     "Rotation within the same vault is supported; existing data is not re-encrypted and stays under the "
     "previous version.",
     "No action needed; keep the previous version enabled."},
    {"CMK019", "CMK resource soft-deleted", Severity::kInfo, std::nullopt,
     "Storage-related charges continue to accrue during the soft-delete retention period.",
     "Purge or recover the AI resource."},
};

const RuleInfo* FindRule(std::string_view id) {
  for (const RuleInfo& r : kCatalogue) {
    if (r.id == id) return &r;
  }
  return nullptr;
}

bool Glob(std::string_view pattern, std::string_view text) {
  // Iterative '*' matching with one backtrack point: linear in practice and
  // never recursive, so a hostile pattern from configuration cannot blow
  // the stack.
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == text[t] || pattern[p] == '?')) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

// A state change happened: the event succeeded, or was accepted (ARM's 201
// and 202 for long-running writes, whose body is the resource as it will
// be), or is an inventory snapshot. Started and failed writes say what was
// attempted, not what is.
bool Applies(const Event& e) {
  return e.outcome == Outcome::kSucceeded || e.outcome == Outcome::kAccepted ||
         (e.outcome == Outcome::kUnknown && e.source == Source::kInventory);
}

bool Refused(const Event& e) {
  return e.outcome == Outcome::kFailed && (e.http_status == 401 || e.http_status == 403 || e.http_status == 404);
}

bool HasAll(const std::vector<std::string>& perms) {
  auto has = [&](std::string_view p) { return std::find(perms.begin(), perms.end(), p) != perms.end(); };
  return (has("get") || has("all")) && (has("wrapkey") || has("all")) && (has("unwrapkey") || has("all"));
}

std::string LastSegments(std::string_view id, int n) {
  size_t at = id.size();
  for (int i = 0; i < n && at != std::string_view::npos && at > 0; ++i) at = id.rfind('/', at - 1);
  return std::string(at == std::string_view::npos ? id : id.substr(at + 1));
}

std::string_view KeyNameOfId(std::string_view id) { return internal::SegmentAfter(id, "/keys/"); }

std::vector<std::string> Ids(const std::vector<const AiState*>& ai) {
  std::vector<std::string> out;
  out.reserve(ai.size());
  for (const AiState* a : ai) out.push_back(a->id);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

const std::vector<RuleInfo>& RuleCatalogue() { return kCatalogue; }

std::string_view ToString(Severity s) {
  switch (s) {
    case Severity::kInfo: return "info";
    case Severity::kLow: return "low";
    case Severity::kMedium: return "medium";
    case Severity::kHigh: return "high";
    case Severity::kCritical: return "critical";
  }
  return "unknown";
}

std::string_view ToString(AlertStatus s) {
  switch (s) {
    case AlertStatus::kOpen: return "open";
    case AlertStatus::kResolved: return "resolved";
    case AlertStatus::kSuppressed: return "suppressed";
  }
  return "unknown";
}

std::string_view ToString(AlertChange::Kind k) {
  switch (k) {
    case AlertChange::Kind::kOpened: return "opened";
    case AlertChange::Kind::kUpdated: return "updated";
    case AlertChange::Kind::kResolved: return "resolved";
  }
  return "unknown";
}

std::optional<Severity> ParseSeverity(std::string_view text) {
  for (Severity s : {Severity::kInfo, Severity::kLow, Severity::kMedium, Severity::kHigh, Severity::kCritical}) {
    if (EqualsIgnoreCase(text, ToString(s))) return s;
  }
  return std::nullopt;
}

struct RuleEngine::Impl {
  // What one event is judged with: the event, where it points, and whether
  // it was newer than the state it touched.
  struct Ctx {
    Ctx(const Event& event, std::string_view operation) : e(event), op(operation) {}
    const Event& e;
    std::string_view op;     // lower case
    std::string_view vault;  // vault name, "" when none (a view into the event)
    std::string_view key;    // key name, "" when none
    bool fresh = true;  // false: older than the state it would change
    bool applied = false;  // it changed state
    std::optional<AiState> prev;     // the AI resource before this event
    std::optional<AiState> attempt;  // what a started write would make of it
    bool regrade = false;  // re-judging state on a binding change: no new evidence
    std::vector<AlertChange>* out = nullptr;
  };
  using Rule = void (Impl::*)(Ctx&);

  explicit Impl(RulesConfig c) : config(std::move(c)), state(config.max_resources) { BuildIndex(); }

  RulesConfig config;
  State state;
  std::vector<Alert> alerts;                          // every alert, in the order opened
  std::unordered_map<std::string, size_t> active;     // lifecycle key -> alerts index
  std::unordered_map<std::string, int64_t> resolved;  // lifecycle key -> newest resolution time
  // Open alerts by resource: lifecycle key -> alerts index.
  std::unordered_map<std::string, std::map<std::string, size_t>> active_by_resource;
  // The rule index: by lower-cased operation, then kind; and per kind the
  // rules that judge any state change of that kind ("*").
  static constexpr size_t kKinds = static_cast<size_t>(ResourceKind::kOther) + 1;
  std::unordered_map<std::string, std::vector<std::pair<ResourceKind, Rule>>> by_op;
  std::vector<Rule> any_op[kKinds];
  std::string op_buf;  // the event's operation, lower-cased (reused)

  void On(ResourceKind kind, std::initializer_list<std::string_view> ops, Rule rule) {
    for (std::string_view op : ops) {
      if (op == "*") {
        any_op[static_cast<size_t>(kind)].push_back(rule);
      } else {
        by_op[std::string(op)].emplace_back(kind, rule);
      }
    }
  }

  void BuildIndex() {
    using K = ResourceKind;
    On(K::kKey, {"keydelete", "microsoft.keyvault/vaults/keys/delete"}, &Impl::KeyDeleted);
    On(K::kKey, {"keyrecover", "microsoft.keyvault/vaults/keys/recover/action"}, &Impl::KeyRecovered);
    On(K::kKey, {"keypurge", "microsoft.keyvault/vaults/keys/purge/action"}, &Impl::KeyPurged);
    On(K::kKey, {"*"}, &Impl::KeyUsable);
    On(K::kKey, {"*"}, &Impl::KeySupported);
    On(K::kKey, {"*"}, &Impl::PreviousVersion);
    On(K::kKey, {"keyunwrap", "keywrap", "keyget"}, &Impl::KeyUse);
    On(K::kKey, {"keyrotate", "keyrotateifdue", "microsoft.keyvault.keynewversioncreated"}, &Impl::KeyRotated);
    On(K::kVault, {"vaultdelete", "microsoft.keyvault/vaults/delete"}, &Impl::VaultDeleted);
    On(K::kOther, {"microsoft.keyvault/locations/deletedvaults/purge/action"}, &Impl::VaultDeleted);
    On(K::kVault, {"vaultrecover"}, &Impl::VaultRecovered);
    On(K::kVault, {"*"}, &Impl::VaultPosture);
    On(K::kRoleAssignment, {"microsoft.authorization/roleassignments/delete", "microsoft.authorization/roleassignments/write"},
       &Impl::RoleAccess);
    On(K::kDiagnosticSetting,
       {"microsoft.insights/diagnosticsettings/delete", "microsoft.insights/diagnosticsettings/write"},
       &Impl::DiagnosticSetting);
    for (K kind : {K::kAiAccount, K::kMlWorkspace}) On(kind, {"*"}, &Impl::AiWrite);
  }

  // ---- lifecycle -------------------------------------------------------

  static std::string LifecycleKey(std::string_view rule, std::string_view resource, std::string_view subject) {
    std::string k(rule);
    k += kSep;
    k += resource;
    k += kSep;
    k += subject;
    return k;
  }

  std::optional<Severity> SeverityFor(const RuleInfo& info, bool bound, std::optional<Severity> bound_severity) const {
    std::optional<Severity> s = bound ? bound_severity.value_or(info.bound) : info.unbound;
    if (!s) return std::nullopt;
    auto it = config.rules.find(std::string(info.id));
    if (it != config.rules.end() && it->second.severity) s = it->second.severity;
    return s;
  }

  bool Enabled(std::string_view rule) const {
    auto it = config.rules.find(std::string(rule));
    return it == config.rules.end() || it->second.enabled;
  }

  const Suppression* SuppressionFor(std::string_view rule, std::string_view resource, int64_t at) const {
    for (const Suppression& s : config.suppressions) {
      if (s.rule != "*" && s.rule != rule) continue;
      if (s.expires != 0 && at >= s.expires) continue;
      if (Glob(s.resource_pattern, resource)) return &s;
    }
    return nullptr;
  }

  static void AddEvidence(Alert& a, const Event& e) {
    if (a.evidence.size() < kMaxEvidence) {
      a.evidence.push_back(e.id);
    } else {
      a.evidence.back() = e.id;
    }
  }

  // Opens the alert for (rule, resource, subject), or adds this event to
  // the open one. `bound_severity` overrides the catalogue's bound
  // severity for rules with variants (CMK003 near expiry).
  void Raise(Ctx& c, std::string_view rule, const std::string& resource, std::string_view subject, bool bound,
             std::vector<std::string> affected, std::string_view detail = {},
             std::optional<Severity> bound_severity = std::nullopt) {
    if (!Enabled(rule) || resource.empty()) return;
    const RuleInfo* info = FindRule(rule);
    const std::optional<Severity> severity = SeverityFor(*info, bound, bound_severity);
    if (!severity) return;
    const Event& e = c.e;
    std::string key = LifecycleKey(rule, resource, subject);
    if (c.regrade) {
      // The event is not evidence of the condition (a binding that appeared
      // later): only the open alert's severity and blast radius follow it.
      auto it = active.find(key);
      if (it == active.end()) return;
      Alert& a = alerts[it->second];
      std::sort(affected.begin(), affected.end());
      if (a.severity == *severity && a.affected == affected) return;
      a.severity = *severity;
      a.affected = std::move(affected);
      c.out->push_back({AlertChange::Kind::kUpdated, a});
      return;
    }
    if (auto it = active.find(key); it != active.end()) {
      Alert& a = alerts[it->second];
      ++a.count;
      AddEvidence(a, e);
      if (e.time >= a.last_seen) {
        a.last_seen = e.time;
        a.time = e.time;
        a.operation = e.operation;
        a.actor = e.actor;
        a.severity = *severity;
        if (!detail.empty()) a.title = Title(*info, resource, detail);
      }
      a.first_seen = std::min(a.first_seen, e.time);
      // A suppression that has expired since lets the next evidence through.
      if (a.status == AlertStatus::kSuppressed && SuppressionFor(rule, resource, e.time) == nullptr) {
        a.status = AlertStatus::kOpen;
        a.suppression.clear();
      }
      for (auto& id : affected) {
        if (!std::binary_search(a.affected.begin(), a.affected.end(), id)) {
          a.affected.insert(std::upper_bound(a.affected.begin(), a.affected.end(), id), id);
        }
      }
      c.out->push_back({AlertChange::Kind::kUpdated, a});
      return;
    }
    // A late event older than the resolution of the same condition does
    // not reopen it: newer state already said it was fixed.
    if (auto it = resolved.find(key); it != resolved.end() && e.time < it->second) return;
    Alert a;
    std::string seed = key;
    seed += kSep;
    seed += e.id;
    a.id = std::string(rule) + "-" + HexLower(Sha256(seed), 8);
    a.rule = std::string(rule);
    a.title = Title(*info, resource, detail);
    a.severity = *severity;
    a.resource_id = resource;
    a.subject = std::string(subject);
    a.affected = std::move(affected);
    std::sort(a.affected.begin(), a.affected.end());
    a.operation = e.operation;
    a.actor = e.actor;
    a.time = e.time;
    a.why = std::string(info->why);
    a.remediation = std::string(info->remediation);
    a.evidence.push_back(e.id);
    a.first_seen = a.last_seen = e.time;
    a.count = 1;
    if (const Suppression* s = SuppressionFor(rule, resource, e.time)) {
      a.status = AlertStatus::kSuppressed;
      a.suppression = s->reason;
    }
    active_by_resource[resource].emplace(key, alerts.size());
    active.emplace(std::move(key), alerts.size());
    alerts.push_back(a);
    c.out->push_back({AlertChange::Kind::kOpened, std::move(a)});
  }

  // Resolves the open alert for (rule, resource, subject), if any, with this
  // event as the evidence. An event older than the alert's latest evidence
  // resolves nothing.
  void Clear(Ctx& c, std::string_view rule, const std::string& resource, std::string_view subject) {
    if (c.regrade) return;  // not evidence of anything
    auto it = active.find(LifecycleKey(rule, resource, subject));
    if (it == active.end()) return;
    Alert& a = alerts[it->second];
    if (c.e.time < a.last_seen) return;
    a.status = AlertStatus::kResolved;
    a.resolved_at = c.e.time;
    a.resolved_by = c.e.id;
    AddEvidence(a, c.e);
    resolved[it->first] = std::max(resolved[it->first], c.e.time);
    c.out->push_back({AlertChange::Kind::kResolved, a});
    if (auto r = active_by_resource.find(a.resource_id); r != active_by_resource.end()) {
      r->second.erase(it->first);
      if (r->second.empty()) active_by_resource.erase(r);
    }
    active.erase(it);
  }

  // Open alerts of `rule` on `resource`, ordered by lifecycle key.
  std::vector<const Alert*> OpenOn(std::string_view rule, const std::string& resource) const {
    std::vector<const Alert*> out;
    auto r = active_by_resource.find(resource);
    if (r == active_by_resource.end()) return out;
    for (const auto& [key, at] : r->second) {
      if (alerts[at].rule == rule) out.push_back(&alerts[at]);
    }
    return out;
  }

  // Clears every open alert of `rule` on `resource` whose subject passes.
  template <typename Pred>
  void ClearWhere(Ctx& c, std::string_view rule, const std::string& resource, Pred pred) {
    std::vector<std::string> subjects;
    for (const Alert* a : OpenOn(rule, resource)) {
      if (pred(a->subject)) subjects.push_back(a->subject);
    }
    for (const auto& s : subjects) Clear(c, rule, resource, s);
  }

  static std::string Title(const RuleInfo& info, std::string_view resource, std::string_view detail) {
    std::string t(info.what);
    t += ": ";
    t += LastSegments(resource, resource.find("/keys/") != std::string_view::npos ? 3 : 1);
    if (!detail.empty()) {
      t += " (";
      t += detail;
      t += ')';
    }
    return t;
  }

  // ---- state -----------------------------------------------------------

  std::string VaultIdOrName(const Ctx& c) const {
    const VaultState* v = state.FindVault(c.vault);
    return v && !v->id.empty() ? v->id : std::string(VaultIdPrefix(c.e.resource_id));
  }

  std::string KeyId(const Ctx& c) const {
    std::string id = VaultIdOrName(c);
    if (id.empty() || c.key.empty()) return {};
    id += "/keys/";
    id += c.key;
    return id;
  }

  // Views into the event: no allocation on the per-event path.
  static void Locate(Ctx& c) {
    const Event& e = c.e;
    c.vault = internal::VaultNameViewOfId(e.resource_id);
    if (c.vault.empty() && e.key) c.vault = internal::VaultNameViewOfHost(e.key->vault);
    if (c.vault.empty() && c.op == "microsoft.keyvault/locations/deletedvaults/purge/action") {
      const std::string_view id = e.resource_id;
      c.vault = id.substr(id.rfind('/') + 1);
    }
    if (e.key && !e.key->name.empty()) {
      c.key = e.key->name;
    } else if (e.resource_kind == ResourceKind::kKey) {
      c.key = KeyNameOfId(e.resource_id);
    }
  }

  void ApplyVault(Ctx& c) {
    const Event& e = c.e;
    VaultState* v = state.Vault(c.vault);
    if (!v) return;
    if (v->id.empty()) v->id = std::string(VaultIdPrefix(e.resource_id));
    if (!Applies(e)) return;
    const bool lifecycle = c.op == "vaultdelete" || c.op == "microsoft.keyvault/vaults/delete" ||
                           c.op == "vaultrecover" || c.op == "microsoft.keyvault/locations/deletedvaults/purge/action";
    if (!e.changes.vault && !lifecycle) return;
    c.fresh = e.time >= v->updated;
    if (!c.fresh) return;
    v->updated = e.time;
    c.applied = true;
    if (lifecycle) {
      v->deleted = c.op != "vaultrecover";
      return;
    }
    const VaultChanges& ch = *e.changes.vault;
    v->deleted = false;  // a write means the vault is there
    if (ch.enable_soft_delete) v->soft_delete = ch.enable_soft_delete;
    // Purge protection cannot be turned off once on: a body without it
    // does not say it is off.
    if (ch.enable_purge_protection) v->purge_protection = *ch.enable_purge_protection || v->purge_protection.value_or(false);
    if (ch.enable_rbac_authorization) v->rbac = ch.enable_rbac_authorization;
    if (ch.public_network_access) v->public_network_access = ch.public_network_access;
    if (ch.network_acls) v->acls = ch.network_acls;
    if (!ch.location.empty()) v->location = ch.location;
    if (!ch.tenant_id.empty()) v->tenant_id = ch.tenant_id;
    if (ch.access_policies) {
      v->policies.clear();
      for (const AccessPolicy& p : *ch.access_policies) v->policies[p.object_id] = p.key_permissions;
      v->policies_complete = true;
    }
    for (const AccessPolicy& p : ch.removed_policies) {
      if (ch.access_policy_operation == "remove" && !p.key_permissions.empty()) {
        // az keyvault delete-policy removes the principal; a remove with
        // permissions takes those away.
        auto& perms = v->policies[p.object_id];
        std::vector<std::string> kept;
        for (const auto& perm : perms) {
          if (std::find(p.key_permissions.begin(), p.key_permissions.end(), perm) == p.key_permissions.end()) {
            kept.push_back(perm);
          }
        }
        perms = std::move(kept);
      } else {
        v->policies[p.object_id] = {};
      }
    }
    for (const AccessPolicy& p : ch.added_policies) {
      auto& perms = v->policies[p.object_id];
      if (ch.access_policy_operation == "replace") perms.clear();
      for (const auto& perm : p.key_permissions) {
        if (std::find(perms.begin(), perms.end(), perm) == perms.end()) perms.push_back(perm);
      }
    }
  }

  bool IsPurgeProtectionBody(const Ctx& c) const {
    // ARM leaves enablePurgeProtection out of a vault's body until it is
    // on, so a whole vault body (a write's response or a snapshot) without
    // it says "off". A PATCH that only changes the firewall says nothing.
    const VaultChanges& ch = *c.e.changes.vault;
    return ch.enable_purge_protection.has_value() || !ch.vault_uri.empty() || ch.access_policies.has_value();
  }

  void ApplyKey(Ctx& c) {
    const Event& e = c.e;
    KeyState* k = state.Key(c.vault, c.key);
    if (!k) return;
    if (k->id.empty()) k->id = KeyId(c);
    if (!Applies(e)) return;
    const bool deleted = c.op == "keydelete" || c.op == "microsoft.keyvault/vaults/keys/delete";
    const bool purged = c.op == "keypurge" || c.op == "microsoft.keyvault/vaults/keys/purge/action";
    const bool recovered = c.op == "keyrecover" || c.op == "microsoft.keyvault/vaults/keys/recover/action";
    const bool created = c.op == "keycreate" || c.op == "keyimport" || c.op == "keyrotate" ||
                         c.op == "keyrotateifdue" || c.op == "microsoft.keyvault/vaults/keys/write" ||
                         c.op == "microsoft.keyvault.keynewversioncreated";
    if (!e.changes.key && !deleted && !purged && !recovered && !created) return;
    c.fresh = e.time >= k->updated;
    if (!c.fresh) return;
    k->updated = e.time;
    c.applied = true;
    if (deleted || purged) {
      k->deleted = true;
      k->purged = k->purged || purged;
      return;
    }
    const std::string version = e.key ? e.key->version : std::string();
    if (recovered || created) k->deleted = false;
    if (created && !version.empty()) k->current_version = version;
    if (!e.changes.key) return;
    const KeyChanges& ch = *e.changes.key;
    if (!ch.kty.empty()) k->kty = ch.kty;
    if (ch.key_size) k->size = ch.key_size;
    if (ch.enabled) {
      if (!version.empty() && k->versions.size() < kMaxVersions) k->versions[version].enabled = ch.enabled;
      // The key's own "enabled" is its current version's; an update to an
      // older version (CMK017's case) does not disable the key.
      if (!IsOlderVersion(*k, version)) k->enabled = ch.enabled;
    }
    if (ch.expires) k->expires = ch.expires;
  }

  // Whether `version` is known not to be the key's current one: a newer
  // version was created, or a bound AI resource rotated away from it.
  bool IsOlderVersion(const KeyState& k, const std::string& version) const {
    if (version.empty()) return false;
    if (!k.current_version.empty()) return version != k.current_version;
    for (const AiState* a : state.BoundToKey(k.vault, k.name)) {
      if (a->key_version == version) return false;
      if (std::find(a->previous_versions.begin(), a->previous_versions.end(), version) != a->previous_versions.end()) {
        return true;
      }
    }
    return false;
  }

  void ApplyAi(Ctx& c) {
    const Event& e = c.e;
    AiState* a = state.Ai(e.resource_id);
    if (!a) return;
    a->kind = e.resource_kind;
    c.prev = *a;
    if (e.outcome == Outcome::kStarted && e.changes.account && e.time >= a->updated) {
      // A write being attempted: what it would make of the resource, judged
      // by the rules about attempts (CMK011, CMK012) but never stored:
      // ARM may still refuse it.
      AiState attempt = *a;
      MergeAccount(attempt, *e.changes.account);
      c.attempt = std::move(attempt);
      return;
    }
    if (!Applies(e)) return;
    const bool deleted = c.op.ends_with("/delete");
    if (!e.changes.account && !deleted) return;
    c.fresh = e.time >= a->updated;
    if (!c.fresh) return;
    a->updated = e.time;
    c.applied = true;
    if (deleted) {
      a->deleted = true;
      return;
    }
    a->deleted = false;
    MergeAccount(*a, *e.changes.account);
    state.Reindex(a->id, *c.prev, *a);
  }

  // What an account/workspace body says, over what was known: a field the
  // body leaves out keeps its value.
  static void MergeAccount(AiState& a, const AccountChanges& ch) {
    if (!ch.kind.empty()) a.account_kind = ch.kind;
    if (!ch.location.empty()) a.location = ch.location;
    if (!ch.tenant_id.empty()) a.tenant_id = ch.tenant_id;
    if (!ch.key_source.empty()) a.key_source = ch.key_source;
    std::string vault;
    if (!ch.key_vault_uri.empty()) {
      vault = internal::VaultNameOfUri(ch.key_vault_uri);
    } else if (!ch.key_vault_arm_id.empty()) {
      vault = internal::VaultNameOfId(ch.key_vault_arm_id);
    }
    if (!ch.key_vault_arm_id.empty()) a.vault_id = ch.key_vault_arm_id;
    const std::string name = ch.key_name.empty() ? a.key_name : ch.key_name;
    if (!vault.empty() && vault == a.vault && name == a.key_name && !ch.key_version.empty() &&
        !a.key_version.empty() && ch.key_version != a.key_version) {
      if (a.previous_versions.size() >= kMaxPreviousVersions) a.previous_versions.erase(a.previous_versions.begin());
      a.previous_versions.push_back(a.key_version);
    } else if (!vault.empty() && (vault != a.vault || name != a.key_name)) {
      a.previous_versions.clear();
    }
    if (!vault.empty()) a.vault = vault;
    if (!ch.key_name.empty()) a.key_name = ch.key_name;
    if (!ch.key_version.empty() || !vault.empty()) a.key_version = ch.key_version;
    if (!ch.identity_type.empty()) {
      a.identity_type = ch.identity_type;
      if (ch.identity_type == "None") {
        a.principal_id.clear();
        a.learned_principals.clear();
      }
    }
    if (!ch.principal_id.empty()) a.principal_id = ch.principal_id;
    if (!ch.identity_client_id.empty() && ch.identity_client_id != a.identity_client_id) {
      a.identity_client_id = ch.identity_client_id;
      a.learned_principals.clear();
    }
  }

  void Apply(Ctx& c) {
    switch (c.e.resource_kind) {
      case ResourceKind::kVault:
      case ResourceKind::kOther:
        if (!c.vault.empty()) ApplyVault(c);
        break;
      case ResourceKind::kKey:
        ApplyKey(c);
        break;
      case ResourceKind::kAiAccount:
      case ResourceKind::kMlWorkspace:
        ApplyAi(c);
        break;
      default:
        break;
    }
  }

  // ---- rules -----------------------------------------------------------

  std::vector<const AiState*> KeyBound(const Ctx& c) const { return state.BoundToKey(c.vault, c.key); }

  bool KeyIsBound(const Ctx& c, const std::vector<const AiState*>& ai) const {
    if (!ai.empty()) return true;
    const KeyState* k = state.FindKey(c.vault, c.key);
    return k && !k->users.empty();
  }

  void KeyDeleted(Ctx& c) {  // CMK001
    if (!c.applied) return;
    auto ai = KeyBound(c);
    Raise(c, "CMK001", KeyId(c), "", KeyIsBound(c, ai), Ids(ai));
  }
  void KeyRecovered(Ctx& c) {
    if (c.applied) Clear(c, "CMK001", KeyId(c), "");
  }
  void KeyPurged(Ctx& c) {  // CMK002: never resolves
    if (!c.applied) return;
    auto ai = KeyBound(c);
    Raise(c, "CMK002", KeyId(c), "", KeyIsBound(c, ai), Ids(ai));
  }

  void KeyUsable(Ctx& c) {  // CMK003
    const bool expired_event = c.op == "microsoft.keyvault.keyexpired";
    const bool near_event = c.op == "microsoft.keyvault.keynearexpiry";
    if (!c.fresh || (!c.applied && !expired_event && !near_event)) return;
    const KeyState* k = state.FindKey(c.vault, c.key);
    if (!k || k->deleted) return;
    auto ai = KeyBound(c);
    const bool bound = KeyIsBound(c, ai);
    const bool expired = expired_event || (k->expires && *k->expires <= c.e.time);
    if (k->enabled == false) {
      Raise(c, "CMK003", k->id, "", bound, Ids(ai), "disabled");
    } else if (expired) {
      Raise(c, "CMK003", k->id, "", bound, Ids(ai), "expired");
    } else if (near_event) {
      Raise(c, "CMK003", k->id, "", bound, Ids(ai), "near expiry", Severity::kMedium);
    } else if (c.e.changes.key && (c.e.changes.key->enabled == true || c.e.changes.key->expires)) {
      Clear(c, "CMK003", k->id, "");
    }
  }

  void KeySupported(Ctx& c) {  // CMK010, on the key's side
    if (!c.applied || !c.e.changes.key) return;
    JudgeKeySupport(c, c.vault, c.key);
  }

  void JudgeKeySupport(Ctx& c, std::string_view vault, std::string_view key) {
    const KeyState* k = state.FindKey(vault, key);
    if (!k || k->id.empty() || (k->kty.empty() && !k->size)) return;
    auto ai = state.BoundToKey(vault, key);
    const bool supported = (k->kty.empty() || k->kty == "RSA" || k->kty == "RSA-HSM") && (!k->size || *k->size == 2048);
    if (!supported && !ai.empty()) {
      std::string detail = k->kty.empty() ? std::string("?") : k->kty;
      if (k->size) detail += " " + std::to_string(*k->size);
      Raise(c, "CMK010", k->id, "", true, Ids(ai), detail);
    } else {
      Clear(c, "CMK010", k->id, "");
    }
  }

  void PreviousVersion(Ctx& c) {  // CMK017
    if (!c.applied || !c.e.changes.key || !c.e.changes.key->enabled || !c.e.key || c.e.key->version.empty()) return;
    const std::string& version = c.e.key->version;
    std::vector<const AiState*> rotated;
    for (const AiState* a : KeyBound(c)) {
      if (std::find(a->previous_versions.begin(), a->previous_versions.end(), version) != a->previous_versions.end()) {
        rotated.push_back(a);
      }
    }
    const KeyState* k = state.FindKey(c.vault, c.key);
    if (!k) return;
    if (*c.e.changes.key->enabled == false && !rotated.empty()) {
      Raise(c, "CMK017", k->id, version, true, Ids(rotated), "version " + version);
    } else if (*c.e.changes.key->enabled) {
      Clear(c, "CMK017", k->id, version);
    }
  }

  void KeyUse(Ctx& c) {  // CMK006, and learning who uses the key
    const Event& e = c.e;
    const std::string& principal = e.actor.object_id;
    if (principal.empty() || c.key.empty()) return;
    KeyState* k = state.Key(c.vault, c.key);
    if (!k) return;
    if (k->id.empty()) k->id = KeyId(c);
    if (e.outcome == Outcome::kSucceeded) {
      // Wrapping and unwrapping are what an encrypting service does with
      // its CMK; a KeyGet is as likely an administrator, so it binds no one.
      if (c.op != "keyget") {
        auto it = k->users.find(principal);
        if (it != k->users.end()) {
          it->second = std::max(it->second, e.time);
        } else if (k->users.size() < kMaxKeyUsers) {
          k->users.emplace(principal, e.time);
        }
        // A user-assigned identity is named by client id in the account;
        // its object id is learned here.
        if (!e.actor.app_id.empty()) {
          for (AiState* a : state.AiByClientId(e.actor.app_id)) {
            if (!a->Uses(principal) && a->learned_principals.size() < kMaxKeyUsers) {
              a->learned_principals.insert(principal);
            }
          }
        }
      }
      if (auto it = k->outages.find(principal); it != k->outages.end()) {
        k->outages.erase(it);
        Clear(c, "CMK006", k->id, principal);
      }
      return;
    }
    if (!Refused(e)) return;
    // A refusal older than the identity's last success is history.
    if (auto it = k->users.find(principal); it != k->users.end() && it->second > e.time) return;
    std::vector<const AiState*> ai;
    for (const AiState* a : state.BoundToVault(c.vault)) {
      if (a->Uses(principal) || (!e.actor.app_id.empty() && a->identity_client_id == e.actor.app_id)) ai.push_back(a);
    }
    if (ai.empty() && k->users.count(principal) == 0) return;  // not an identity that uses the key
    Raise(c, "CMK006", k->id, principal, true, Ids(ai), std::to_string(e.http_status) + " on " + e.operation);
    if (active.count(LifecycleKey("CMK006", k->id, principal))) k->outages.insert(principal);
  }

  void KeyRotated(Ctx& c) {  // CMK018
    if (!Applies(c.e)) return;
    const std::string id = KeyId(c);
    auto ai = KeyBound(c);
    Raise(c, "CMK018", id, "", true, Ids(ai));
  }

  void VaultDeleted(Ctx& c) {  // CMK004
    if (!c.applied) return;
    std::string id = VaultIdOrName(c);
    if (id.empty()) id = c.e.resource_id;
    auto ai = state.BoundToVault(c.vault);
    Raise(c, "CMK004", id, "", !ai.empty(), Ids(ai), c.op.find("purge") != std::string::npos ? "purged" : "");
  }
  void VaultRecovered(Ctx& c) {
    if (c.applied) Clear(c, "CMK004", VaultIdOrName(c), "");
  }

  void VaultPosture(Ctx& c) {  // CMK004 (recovered by a write), CMK005, CMK007, CMK008, CMK009
    if (!c.applied || !c.e.changes.vault) return;
    VaultState* v = state.Vault(c.vault);
    if (!v || v->id.empty()) return;
    Clear(c, "CMK004", v->id, "");
    const VaultChanges& ch = *c.e.changes.vault;
    const bool whole = IsPurgeProtectionBody(c);
    if (whole) v->body_seen = true;
    JudgePosture(c, *v, ch.network_acls || ch.public_network_access, ch.enable_soft_delete.has_value(), whole);
    const bool policy_change = ch.access_policies || !ch.added_policies.empty() || !ch.removed_policies.empty();
    if (policy_change && v->rbac != true) JudgeAccess(c, *v);
  }

  // CMK007, CMK008, CMK009 from the vault's state, for the parts asked.
  // Also run when a binding to the vault appears, so an alert raised while
  // the vault was unbound takes the bound severity and names the resource.
  void JudgePosture(Ctx& c, const VaultState& v, bool firewall, bool soft_delete, bool purge) {
    auto ai = state.BoundToVault(v.name);
    const bool bound = !ai.empty();
    const auto ids = Ids(ai);
    if (firewall) {
      const bool closed = (v.acls && v.acls->default_action == "Deny") || v.public_network_access == "Disabled";
      const bool trusted = v.acls && v.acls->bypass.find("AzureServices") != std::string::npos;
      // Bypass is a property of the ACLs: with them unknown, say nothing.
      if (closed && v.acls && !trusted) {
        Raise(c, "CMK007", v.id, "", bound, ids);
      } else if (!closed || trusted) {
        Clear(c, "CMK007", v.id, "");
      }
    }
    if (soft_delete && v.soft_delete) {
      if (*v.soft_delete) {
        Clear(c, "CMK008", v.id, "");
      } else {
        Raise(c, "CMK008", v.id, "", bound, ids);
      }
    }
    if (purge) {
      if (v.purge_protection.value_or(false)) {
        Clear(c, "CMK009", v.id, "");
      } else {
        Raise(c, "CMK009", v.id, "", bound, ids);
      }
    }
  }

  // CMK005 by access policy: every principal that must keep the key needs
  // get, wrapKey and unwrapKey.
  void JudgeAccess(Ctx& c, const VaultState& v) {
    for (const std::string& principal : state.BoundPrincipals(v.name)) {
      auto it = v.policies.find(principal);
      const bool known = it != v.policies.end() || v.policies_complete;
      if (!known) continue;
      const bool ok = it != v.policies.end() && HasAll(it->second);
      std::vector<std::string> ai;
      for (const AiState* a : state.BoundToVault(v.name)) {
        if (a->Uses(principal)) ai.push_back(a->id);
      }
      if (ok) {
        Clear(c, "CMK005", v.id, principal);
      } else {
        Raise(c, "CMK005", v.id, principal, true, std::move(ai), "principal " + principal);
      }
    }
  }

  void RoleAccess(Ctx& c) {  // CMK005 by role assignment
    const Event& e = c.e;
    if (!Applies(e) || !e.changes.role_assignment) return;
    const RoleAssignmentChanges& ra = *e.changes.role_assignment;
    if (!internal::IsKeyCryptoRole(ra.role_definition_id) || ra.principal_id.empty()) return;
    const bool deleted = c.op.ends_with("/delete");
    auto* stored = state.RoleAssignment(e.resource_id);
    if (stored) {
      if (e.time < stored->updated) return;  // stale
      stored->updated = e.time;
      stored->principal_id = ra.principal_id;
      stored->role = ra.role_definition_id;
      stored->scope = ra.scope;
      stored->deleted = deleted;
    }
    const std::string scope = ra.scope.empty() ? std::string() : ra.scope;
    for (const auto& [name, v] : state.vaults()) {
      if (v.id.empty() || scope.empty()) continue;
      // The assignment covers the vault when its scope is the vault, a key
      // in it, or a resource group / subscription above it.
      const bool above = v.id.compare(0, scope.size(), scope) == 0 &&
                         (v.id.size() == scope.size() || v.id[scope.size()] == '/');
      const bool inside = scope.compare(0, v.id.size() + 1, v.id + "/") == 0;
      const bool covers = above || inside;
      if (!covers) continue;
      // On a vault known to use access policies, roles grant no data-plane
      // access: neither their removal nor their grant changes anything.
      if (v.rbac == false) continue;
      if (state.BoundPrincipals(name).count(ra.principal_id) == 0) continue;
      if (deleted) {
        std::vector<std::string> ai;
        for (const AiState* a : state.BoundToVault(name)) {
          if (a->Uses(ra.principal_id)) ai.push_back(a->id);
        }
        Raise(c, "CMK005", v.id, ra.principal_id, true, std::move(ai), "role assignment removed");
      } else {
        Clear(c, "CMK005", v.id, ra.principal_id);
      }
    }
  }

  void DiagnosticSetting(Ctx& c) {  // CMK016, by diagnostic setting
    const Event& e = c.e;
    if (!Applies(e) || c.vault.empty()) return;
    VaultState* v = state.Vault(c.vault);
    if (!v) return;
    if (v->id.empty()) v->id = std::string(VaultIdPrefix(e.resource_id));
    auto ai = state.BoundToVault(c.vault);
    bool audit = false;
    if (!c.op.ends_with("/delete") && e.changes.diagnostic_setting) {
      for (const auto& cat : e.changes.diagnostic_setting->enabled_categories) {
        if (EqualsIgnoreCase(cat, "AuditEvent") || EqualsIgnoreCase(cat, "audit") || EqualsIgnoreCase(cat, "allLogs")) {
          audit = true;
        }
      }
    } else if (!c.op.ends_with("/delete")) {
      return;  // a write that says nothing about its categories
    }
    if (audit) {
      Clear(c, "CMK016", v->id, "diagnostic setting");
    } else {
      Raise(c, "CMK016", v->id, "diagnostic setting", !ai.empty(), Ids(ai), "AuditEvent no longer exported");
    }
  }

  void AiWrite(Ctx& c) {  // CMK010, 011, 012, 013, 014, 015, 017's bookkeeping, 018, 019
    if (c.attempt && c.prev) {
      AttemptedWrite(c, *c.prev, *c.attempt);
      return;
    }
    if (!c.applied || !c.prev) return;
    const AiState& before = *c.prev;
    const AiState* now = state.FindAi(c.e.resource_id);
    if (!now) return;
    const std::string& id = now->id;
    const std::vector<std::string> self = {id};

    if (now->deleted) {
      if (before.Cmk() && !before.deleted) Raise(c, "CMK019", id, "", true, self);
      return;
    }
    Clear(c, "CMK019", id, "");

    AttemptedWrite(c, before, *now);

    // CMK013: identity removed or replaced while CMK is active.
    if (before.Cmk() && !before.principal_id.empty()) {
      const bool removed = now->identity_type == "None";
      const bool replaced = !now->principal_id.empty() && now->principal_id != before.principal_id;
      if (removed || replaced) {
        Raise(c, "CMK013", id, before.principal_id, true, self, removed ? "identity removed" : "identity replaced");
      }
    }
    if (!now->principal_id.empty() && now->identity_type != "None") {
      const VaultState* v = state.FindVault(now->vault);
      ClearWhere(c, "CMK013", id, [&](const std::string& old_principal) {
        if (old_principal == now->principal_id) return true;
        if (!v) return false;
        auto it = v->policies.find(now->principal_id);
        return it != v->policies.end() && HasAll(it->second);
      });
    }

    if (!now->Cmk()) return;

    // A new binding makes the vault's open posture alerts bound ones (the
    // account write is not evidence of the vault's posture: re-grade only).
    if (!before.Cmk() || before.vault != now->vault) {
      if (const VaultState* v = state.FindVault(now->vault); v && !v->id.empty()) {
        c.regrade = true;
        JudgePosture(c, *v, v->acls.has_value(), v->soft_delete.has_value(), v->body_seen);
        c.regrade = false;
      }
    }

    // CMK010: a binding made to (or moved off) an unsupported key.
    if (before.Cmk() && (before.vault != now->vault || before.key_name != now->key_name)) {
      JudgeKeySupport(c, before.vault, before.key_name);
    }
    JudgeKeySupport(c, now->vault, now->key_name);

    // CMK014: vault placement, when both sides are known.
    if (const VaultState* v = state.FindVault(now->vault)) {
      std::string detail;
      Severity severity = Severity::kHigh;
      if (!v->location.empty() && !now->location.empty() && v->location != now->location) {
        detail = "vault in " + v->location + ", resource in " + now->location;
      } else if (!v->tenant_id.empty() && !now->tenant_id.empty() && v->tenant_id != now->tenant_id) {
        detail = "vault in another Entra tenant";
      } else if (!v->id.empty() && internal::ResourceGroupOf(v->id) != internal::ResourceGroupOf(id)) {
        detail = "vault in resource group " + std::string(internal::ResourceGroupOf(v->id));
        severity = Severity::kInfo;
      }
      if (!detail.empty()) Raise(c, "CMK014", id, now->vault, true, self, detail, severity);
    }

    // CMK015: a hub's encryption changed after creation.
    if (now->kind == ResourceKind::kMlWorkspace && EqualsIgnoreCase(now->account_kind, "Hub") && before.Cmk() &&
        (before.vault != now->vault || before.key_name != now->key_name || before.key_version != now->key_version)) {
      Raise(c, "CMK015", id, "", true, self);
    }

    // CMK018: an in-vault rotation by the account's keyVersion.
    if (before.Cmk() && before.vault == now->vault && before.key_name == now->key_name &&
        !before.key_version.empty() && !now->key_version.empty() && before.key_version != now->key_version) {
      Raise(c, "CMK018", id, "", true, self, "version " + now->key_version);
    }
  }

  // CMK011 and CMK012 judge what a write does or tries to do: a started
  // write that would move the key to another vault is the alert, whether
  // or not ARM lets it through.
  void AttemptedWrite(Ctx& c, const AiState& before, const AiState& now) {
    const std::string& id = now.id;
    const std::vector<std::string> self = {id};
    // CMK011: the binding moved to another vault; resolves when it is back
    // in the original one (the open alert's subject), and a further move
    // keeps that original.
    if (before.Cmk() && now.Cmk() && now.vault != before.vault) {
      std::string original = before.vault;
      for (const Alert* a : OpenOn("CMK011", id)) original = a->subject;
      if (original == now.vault) {
        if (c.applied) ClearWhere(c, "CMK011", id, [&](const std::string& subject) { return subject == now.vault; });
      } else {
        Raise(c, "CMK011", id, original, true, self, "from " + original + " to " + now.vault);
      }
    }
    // CMK012: customer-managed to Microsoft-managed.
    if (before.key_source == "Microsoft.KeyVault" && now.key_source == "Microsoft.CognitiveServices") {
      Raise(c, "CMK012", id, "", true, self);
    }
  }

  // ---- entry points ----------------------------------------------------

  std::vector<AlertChange> Process(const Event& e) {
    std::vector<AlertChange> out;
    op_buf.assign(e.operation);
    for (char& ch : op_buf) ch = (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch - 'A' + 'a') : ch;
    Ctx c(e, op_buf);
    c.out = &out;
    Locate(c);
    if (e.source == Source::kKeyVaultAudit && !c.vault.empty()) {
      // Every AuditEvent says the vault's logs flow (CMK016's silence).
      if (VaultState* v = state.Vault(c.vault)) {
        if (v->id.empty()) v->id = std::string(VaultIdPrefix(e.resource_id));
        v->last_audit = std::max(v->last_audit, e.time);
        if (v->blind) {
          v->blind = false;
          Clear(c, "CMK016", v->id, "silence");
        }
      }
    }
    const size_t kind = static_cast<size_t>(e.resource_kind);
    const std::vector<Rule>& any = any_op[kind < kKinds ? kind : 0];
    const auto exact = by_op.find(op_buf);
    bool exact_hit = false;
    if (exact != by_op.end()) {
      for (const auto& [k, r] : exact->second) exact_hit = exact_hit || k == e.resource_kind;
    }
    if (!exact_hit && any.empty()) return out;
    Apply(c);
    if (exact_hit) {
      for (const auto& [k, r] : exact->second) {
        if (k == e.resource_kind) (this->*r)(c);
      }
    }
    for (Rule r : any) (this->*r)(c);
    return out;
  }

  std::vector<AlertChange> Tick(int64_t now) {
    std::vector<AlertChange> out;
    for (const auto& [name, v] : state.vaults()) {
      if (v.id.empty() || v.last_audit == kNever || now - v.last_audit <= config.silence_window_ns) continue;
      // Named by the silence itself (vault and last AuditEvent), not by the
      // tick: a restarted analyzer raising the same silence again gives the
      // same alert id.
      Event tick;
      tick.id = "silence:" + name + ":" + std::to_string(v.last_audit);
      tick.time = now;
      tick.operation = "silence check";
      Ctx c(tick, "tick");
      c.out = &out;
      auto ai = state.BoundToVault(name);
      if (ai.empty()) continue;  // a quiet vault nobody depends on is not a blind spot
      // Each tick is not new evidence: raise once per silence.
      if (active.count(LifecycleKey("CMK016", v.id, "silence"))) continue;
      Raise(c, "CMK016", v.id, "silence", true, Ids(ai), "no AuditEvent");
      state.Vault(name)->blind = true;
    }
    return out;
  }
};

RuleEngine::RuleEngine(RulesConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}

void RuleEngine::Reconfigure(RulesConfig config) {
  config.max_resources = impl_->config.max_resources;
  impl_->config = std::move(config);
}
RuleEngine::~RuleEngine() = default;
RuleEngine::RuleEngine(RuleEngine&&) noexcept = default;
RuleEngine& RuleEngine::operator=(RuleEngine&&) noexcept = default;

std::vector<AlertChange> RuleEngine::Process(const Event& event) { return impl_->Process(event); }
std::vector<AlertChange> RuleEngine::Tick(int64_t now) { return impl_->Tick(now); }

std::vector<Alert> RuleEngine::Alerts() const {
  std::vector<Alert> out = impl_->alerts;
  std::stable_sort(out.begin(), out.end(), [](const Alert& a, const Alert& b) { return a.first_seen < b.first_seen; });
  return out;
}

std::vector<std::string> RuleEngine::AffectedByVault(std::string_view vault) const {
  std::string name = internal::VaultNameOfId(vault);
  if (name.empty()) name = AsciiLower(vault);
  return Ids(impl_->state.BoundToVault(name));
}

uint64_t RuleEngine::dropped_resources() const { return impl_->state.dropped(); }

}  // namespace cmkwatch::analyzer
