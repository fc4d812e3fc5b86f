#include "arm_body.h"

#include <algorithm>

#include "cmkwatch/common/resource_id.h"
#include "normalize.h"

namespace cmkwatch::collector::internal {
namespace {

#define CMK_TRY_FIELD(field, key, v)            \
  std::string_view key;                         \
  if ((field).unescaped_key().get(key)) return JsonError(simdjson::TAPE_ERROR, "field name"); \
  od::value v;                                  \
  if ((field).value().get(v)) return JsonError(simdjson::TAPE_ERROR, "field value")

std::vector<std::string> ReadStringList(od::value v) {
  std::vector<std::string> out;
  od::array arr;
  if (v.get_array().get(arr)) {
    // "Get, WrapKey" occurs in flattened exports.
    if (auto s = AsString(v)) {
      std::string_view rest = *s;
      while (!rest.empty()) {
        size_t sep = rest.find_first_of(", ");
        out.emplace_back(rest.substr(0, sep));
        if (sep == std::string_view::npos) break;
        rest.remove_prefix(sep + 1);
      }
    }
    return out;
  }
  for (auto item : arr) {
    od::value iv;
    if (item.get(iv)) break;
    if (auto s = AsString(iv)) out.emplace_back(*s);
  }
  return out;
}

uint32_t CountArray(od::value v) {
  od::array arr;
  if (v.get_array().get(arr)) return 0;
  size_t n = 0;
  if (arr.count_elements().get(n)) return 0;
  return static_cast<uint32_t>(std::min<size_t>(n, UINT32_MAX));
}

Status ReadPolicy(od::object obj, AccessPolicy& p) {
  for (auto field : obj) {
    CMK_TRY_FIELD(field, key, v);
    if (KeyIs(key, "tenantId")) {
      if (auto s = AsString(v)) p.tenant_id = AsciiLower(*s);
    } else if (KeyIs(key, "objectId")) {
      if (auto s = AsString(v)) p.object_id = AsciiLower(*s);
    } else if (KeyIs(key, "applicationId")) {
      if (auto s = AsString(v)) p.application_id = AsciiLower(*s);
    } else if (KeyIs(key, "permissions")) {
      od::object perms;
      if (v.get_object().get(perms)) continue;
      for (auto pf : perms) {
        CMK_TRY_FIELD(pf, pkey, pv);
        if (KeyIs(pkey, "keys")) p.key_permissions = ReadStringList(pv);
      }
    }
  }
  NormalizePermissions(p.key_permissions);
  return Status::Ok();
}

Status ReadPolicies(od::value v, std::vector<AccessPolicy>& out) {
  od::array arr;
  if (v.get_array().get(arr)) return Status::Ok();
  for (auto item : arr) {
    od::object obj;
    if (item.get_object().get(obj)) continue;
    AccessPolicy p;
    if (auto st = ReadPolicy(obj, p); !st.ok()) return st;
    out.push_back(std::move(p));
  }
  return Status::Ok();
}

Status ReadNetworkAcls(od::object obj, NetworkAcls& n) {
  for (auto field : obj) {
    CMK_TRY_FIELD(field, key, v);
    if (KeyIs(key, "defaultAction")) {
      if (auto s = AsString(v)) n.default_action = CanonicalEnum(*s, {"Allow", "Deny"});
    } else if (KeyIs(key, "bypass")) {
      if (auto s = AsString(v)) n.bypass = CanonicalEnum(*s, {"AzureServices", "None"});
    } else if (KeyIs(key, "ipRules")) {
      n.ip_rules = CountArray(v);
    } else if (KeyIs(key, "virtualNetworkRules")) {
      n.virtual_network_rules = CountArray(v);
    }
  }
  return Status::Ok();
}

Status ReadKeyAttributes(od::object obj, KeyChanges& k) {
  for (auto field : obj) {
    CMK_TRY_FIELD(field, key, v);
    if (KeyIs(key, "enabled")) {
      k.enabled = AsBool(v);
    } else if (KeyIs(key, "exp") || KeyIs(key, "expires")) {
      k.expires = AsTime(v);
    } else if (KeyIs(key, "nbf") || KeyIs(key, "notBefore")) {
      k.not_before = AsTime(v);
    }
  }
  return Status::Ok();
}

// Bits of an RSA modulus given as base64url text.
int64_t ModulusBits(std::string_view n) {
  while (!n.empty() && n.back() == '=') n.remove_suffix(1);
  int64_t bytes = static_cast<int64_t>(n.size()) * 3 / 4;
  // A leading zero byte (sign padding) encodes as "AA" plus 2 zero bits.
  if (n.size() >= 3 && n[0] == 'A' && n[1] == 'A' && bytes % 2 == 1) bytes -= 1;
  return bytes * 8;
}

Status ReadKeyMaterial(od::object obj, KeyChanges& k, std::string& kid) {
  for (auto field : obj) {
    CMK_TRY_FIELD(field, key, v);
    if (key == "kid") {
      if (auto s = AsString(v)) kid = std::string(*s);
    } else if (KeyIs(key, "kty")) {
      if (auto s = AsString(v)) k.kty = CanonicalKty(*s);
    } else if (KeyIs(key, "key_ops") || KeyIs(key, "keyOps")) {
      k.key_ops = ReadStringList(v);
      for (auto& op : k.key_ops) op = AsciiLower(op);
    } else if (KeyIs(key, "crv")) {
      if (auto s = AsString(v)) k.curve = std::string(*s);
    } else if (key == "n") {
      if (auto s = AsString(v); s && !k.key_size) k.key_size = ModulusBits(*s);
    }
  }
  return Status::Ok();
}

void SplitKeyIdentifier(std::string_view uri, AccountChanges& a) {
  auto parsed = ParseVaultUri(uri);
  if (!parsed) return;
  a.key_vault_uri = VaultUriOfHost(parsed->host);
  if (parsed->collection == "keys") {
    a.key_name = parsed->name;
    a.key_version = parsed->version;
  }
}

Status ReadKeyVaultProperties(od::object obj, AccountChanges& a) {
  for (auto field : obj) {
    CMK_TRY_FIELD(field, key, v);
    auto s = AsString(v);
    if (!s) continue;
    if (KeyIs(key, "keyVaultUri")) {
      if (auto parsed = ParseVaultUri(*s)) a.key_vault_uri = VaultUriOfHost(parsed->host);
    } else if (KeyIs(key, "keyName")) {
      a.key_name = AsciiLower(*s);
    } else if (KeyIs(key, "keyVersion")) {
      a.key_version = AsciiLower(*s);
    } else if (KeyIs(key, "keyIdentifier")) {
      SplitKeyIdentifier(*s, a);
    } else if (KeyIs(key, "keyVaultArmId")) {
      a.key_vault_arm_id = CanonicalResourceId(*s);
    } else if (KeyIs(key, "identityClientId")) {
      a.identity_client_id = AsciiLower(*s);
    }
  }
  return Status::Ok();
}

Status ReadEncryption(od::object obj, AccountChanges& a) {
  for (auto field : obj) {
    CMK_TRY_FIELD(field, key, v);
    if (KeyIs(key, "keySource")) {
      if (auto s = AsString(v)) a.key_source = CanonicalKeySource(*s);
    } else if (KeyIs(key, "status")) {
      if (auto s = AsString(v)) a.encryption_status = CanonicalEnum(*s, {"Enabled", "Disabled"});
    } else if (KeyIs(key, "keyVaultProperties")) {
      od::object kvp;
      if (!v.get_object().get(kvp)) {
        if (auto st = ReadKeyVaultProperties(kvp, a); !st.ok()) return st;
      }
    } else if (KeyIs(key, "identity")) {
      od::object id;
      if (v.get_object().get(id)) continue;
      for (auto f : id) {
        CMK_TRY_FIELD(f, ikey, iv);
        if (KeyIs(ikey, "userAssignedIdentity")) {
          if (auto s = AsString(iv)) a.encryption_identity = CanonicalResourceId(*s);
        }
      }
    }
  }
  // A workspace names no keySource; an enabled encryption block is CMK.
  if (a.key_source.empty() && (!a.key_vault_uri.empty() || !a.key_vault_arm_id.empty())) {
    a.key_source = "Microsoft.KeyVault";
  }
  return Status::Ok();
}

Status ReadIdentity(od::object obj, AccountChanges& a) {
  for (auto field : obj) {
    CMK_TRY_FIELD(field, key, v);
    if (KeyIs(key, "type")) {
      if (auto s = AsString(v)) a.identity_type = CanonicalIdentityType(*s);
    } else if (KeyIs(key, "principalId")) {
      if (auto s = AsString(v)) a.principal_id = AsciiLower(*s);
    } else if (KeyIs(key, "tenantId")) {
      if (auto s = AsString(v)) a.tenant_id = AsciiLower(*s);
    } else if (KeyIs(key, "userAssignedIdentities")) {
      od::object ua;
      if (v.get_object().get(ua)) continue;
      for (auto f : ua) {
        std::string_view id;
        if (f.unescaped_key().get(id)) return JsonError(simdjson::TAPE_ERROR, "userAssignedIdentities");
        a.user_assigned_identities.push_back(CanonicalResourceId(id));
      }
      std::sort(a.user_assigned_identities.begin(), a.user_assigned_identities.end());
    }
  }
  if (a.identity_type.empty() && !a.principal_id.empty()) a.identity_type = "SystemAssigned";
  return Status::Ok();
}

Status ReadDiagLogs(od::value v, DiagnosticSettingChanges& d) {
  od::array arr;
  if (v.get_array().get(arr)) return Status::Ok();
  for (auto item : arr) {
    od::object obj;
    if (item.get_object().get(obj)) continue;
    std::string name;
    bool enabled = false;
    for (auto f : obj) {
      CMK_TRY_FIELD(f, key, lv);
      if (KeyIs(key, "category") || KeyIs(key, "categoryGroup")) {
        if (auto s = AsString(lv); s && !s->empty()) name = std::string(*s);
      } else if (KeyIs(key, "enabled")) {
        enabled = AsBool(lv).value_or(false);
      }
    }
    if (enabled && !name.empty()) d.enabled_categories.push_back(std::move(name));
  }
  std::sort(d.enabled_categories.begin(), d.enabled_categories.end());
  return Status::Ok();
}

// Reads resource-level and properties-level fields alike: some bodies are
// flattened (az role assignment list), some hold only "properties".
Status ReadFields(od::object obj, const ParseLimits& limits, int depth, ArmBody& raw) {
  for (auto field : obj) {
    CMK_TRY_FIELD(field, key, v);
    // Resource level.
    if (depth == 0 && (key == "id" || key == "type" || key == "name")) {
      if (auto s = AsString(v)) (key == "id" ? raw.id : key == "type" ? raw.type : raw.name) = std::string(*s);
    } else if (KeyIs(key, "properties")) {
      od::object props;
      if (depth < 2 && !v.get_object().get(props)) {
        if (auto st = ReadFields(props, limits, depth + 1, raw); !st.ok()) return st;
      }
    } else if (KeyIs(key, "location")) {
      if (auto s = AsString(v)) {
        raw.vault.location = raw.account.location = AsciiLower(*s);
      }
    } else if (KeyIs(key, "kind")) {
      if (auto s = AsString(v)) raw.account.kind = std::string(*s);
    } else if (KeyIs(key, "identity")) {
      od::object id;
      if (!v.get_object().get(id)) {
        raw.account_seen = true;
        if (auto st = ReadIdentity(id, raw.account); !st.ok()) return st;
      }
    } else if (KeyIs(key, "key")) {
      od::object km;
      if (!v.get_object().get(km)) {
        raw.key_seen = true;
        if (auto st = ReadKeyMaterial(km, raw.key, raw.kid); !st.ok()) return st;
      }
    } else if (KeyIs(key, "attributes")) {
      od::object attrs;
      if (!v.get_object().get(attrs)) {
        raw.key_seen = true;
        if (auto st = ReadKeyAttributes(attrs, raw.key); !st.ok()) return st;
      }
      // Vault properties.
    } else if (KeyIs(key, "enableSoftDelete")) {
      raw.vault.enable_soft_delete = AsBool(v);
      raw.vault_seen = true;
    } else if (KeyIs(key, "enablePurgeProtection")) {
      raw.vault.enable_purge_protection = AsBool(v);
      raw.vault_seen = true;
    } else if (KeyIs(key, "enableRbacAuthorization")) {
      raw.vault.enable_rbac_authorization = AsBool(v);
      raw.vault_seen = true;
    } else if (KeyIs(key, "softDeleteRetentionInDays")) {
      raw.vault.soft_delete_retention_days = AsInt(v);
      raw.vault_seen = true;
    } else if (KeyIs(key, "publicNetworkAccess")) {
      if (auto s = AsString(v)) {
        raw.vault.public_network_access = CanonicalEnum(*s, {"Enabled", "Disabled", "SecuredByPerimeter"});
      }
    } else if (KeyIs(key, "networkAcls")) {
      od::object acls;
      if (!v.get_object().get(acls)) {
        NetworkAcls n;
        if (auto st = ReadNetworkAcls(acls, n); !st.ok()) return st;
        raw.vault.network_acls = std::move(n);
        raw.vault_seen = true;
      }
    } else if (KeyIs(key, "accessPolicies")) {
      raw.policies.clear();
      if (auto st = ReadPolicies(v, raw.policies); !st.ok()) return st;
      raw.policies_seen = true;
    } else if (KeyIs(key, "tenantId")) {
      if (auto s = AsString(v)) raw.vault.tenant_id = AsciiLower(*s);
    } else if (KeyIs(key, "vaultUri")) {
      if (auto s = AsString(v)) raw.vault.vault_uri = AsciiLower(*s);
      // Key properties (ARM form).
    } else if (KeyIs(key, "kty")) {
      if (auto s = AsString(v)) raw.key.kty = CanonicalKty(*s);
      raw.key_seen = true;
    } else if (KeyIs(key, "keySize")) {
      raw.key.key_size = AsInt(v);
      raw.key_seen = true;
    } else if (KeyIs(key, "curveName")) {
      if (auto s = AsString(v)) raw.key.curve = std::string(*s);
    } else if (KeyIs(key, "keyOps")) {
      raw.key.key_ops = ReadStringList(v);
      for (auto& op : raw.key.key_ops) op = AsciiLower(op);
      // AI account / workspace.
    } else if (KeyIs(key, "encryption")) {
      od::object enc;
      if (!v.get_object().get(enc)) {
        raw.account_seen = true;
        if (auto st = ReadEncryption(enc, raw.account); !st.ok()) return st;
      }
      // Role assignment.
    } else if (KeyIs(key, "principalId")) {
      if (auto s = AsString(v)) raw.role.principal_id = AsciiLower(*s);
      raw.role_seen = true;
    } else if (KeyIs(key, "principalType")) {
      if (auto s = AsString(v)) raw.role.principal_type = std::string(*s);
    } else if (KeyIs(key, "roleDefinitionId")) {
      if (auto s = AsString(v)) {
        std::string id = CanonicalResourceId(*s);
        const size_t slash = id.rfind('/');
        raw.role.role_definition_id = slash == std::string::npos ? id : id.substr(slash + 1);
      }
      raw.role_seen = true;
    } else if (KeyIs(key, "scope")) {
      if (auto s = AsString(v)) raw.role.scope = CanonicalResourceId(*s);
      // Diagnostic setting.
    } else if (KeyIs(key, "logs")) {
      raw.diag_seen = true;
      if (auto st = ReadDiagLogs(v, raw.diag); !st.ok()) return st;
    } else if (KeyIs(key, "workspaceId") || KeyIs(key, "storageAccountId") ||
               KeyIs(key, "eventHubAuthorizationRuleId")) {
      if (auto s = AsString(v); s && !s->empty() && raw.diag.target.empty()) {
        raw.diag.target = CanonicalResourceId(*s);
      }
    }
  }
  return Status::Ok();
}

}  // namespace

Status ReadArmBody(od::object body, const ParseLimits& limits, ArmBody& out) {
  return ReadFields(body, limits, 0, out);
}

void ApplyArmBody(ArmBody&& raw, const ArmContext& ctx, Changes& changes) {
  switch (ctx.kind) {
    case ResourceKind::kVault: {
      if (!raw.vault_seen && !raw.policies_seen && raw.vault.public_network_access == std::nullopt &&
          raw.vault.vault_uri.empty()) {
        return;
      }
      VaultChanges v = std::move(raw.vault);
      if (raw.policies_seen) {
        const std::string& op = ctx.access_policy_operation;
        if (op.empty()) {
          v.access_policies = std::move(raw.policies);
        } else {
          v.access_policy_operation = op;
          if (op == "remove") {
            v.removed_policies = std::move(raw.policies);
          } else {
            v.added_policies = std::move(raw.policies);
          }
        }
      }
      changes.vault = std::move(v);
      break;
    }
    case ResourceKind::kKey:
      if (raw.key_seen || !raw.key.kty.empty()) changes.key = std::move(raw.key);
      break;
    case ResourceKind::kAiAccount:
    case ResourceKind::kMlWorkspace:
      if (raw.account_seen || !raw.account.kind.empty()) changes.account = std::move(raw.account);
      break;
    case ResourceKind::kRoleAssignment:
      if (raw.role_seen) changes.role_assignment = std::move(raw.role);
      break;
    case ResourceKind::kDiagnosticSetting:
      if (raw.diag_seen) changes.diagnostic_setting = std::move(raw.diag);
      break;
    default:
      break;
  }
}

Status ReadArmBody(od::object body, const ArmContext& ctx, const ParseLimits& limits, Changes& changes) {
  ArmBody raw;
  if (auto st = ReadArmBody(body, limits, raw); !st.ok()) return st;
  ApplyArmBody(std::move(raw), ctx, changes);
  return Status::Ok();
}

Status ReadArmBodyText(std::string_view text, const ArmContext& ctx, const ParseLimits& limits, Changes& changes) {
  auto embedded = EmbeddedJson::Parse(text, ctx.level, limits);
  if (!embedded) return Status::Ok();  // not JSON object text: nothing to learn
  od::object obj;
  if (embedded->doc().get_object().get(obj)) return Status::Ok();
  ArmContext inner = ctx;
  inner.level = std::min(ctx.level + 1, kLevels - 1);
  return ReadArmBody(obj, inner, limits, changes);
}

}  // namespace cmkwatch::collector::internal
