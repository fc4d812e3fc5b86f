#include "cmkwatch/common/event_json.h"

#include <nlohmann/json.hpp>

#include "cmkwatch/common/time.h"

namespace cmkwatch {
namespace {

using Json = nlohmann::ordered_json;

void PutIf(Json& j, const char* name, const std::string& v) {
  if (!v.empty()) j[name] = v;
}

template <typename T>
void PutIf(Json& j, const char* name, const std::optional<T>& v) {
  if (v) j[name] = *v;
}

void PutTimeIf(Json& j, const char* name, const std::optional<int64_t>& v) {
  if (v) j[name] = FormatTimestamp(*v);
}

Json PolicyJson(const AccessPolicy& p) {
  Json j = Json::object();
  PutIf(j, "tenant_id", p.tenant_id);
  PutIf(j, "object_id", p.object_id);
  PutIf(j, "application_id", p.application_id);
  j["key_permissions"] = p.key_permissions;
  return j;
}

Json PoliciesJson(const std::vector<AccessPolicy>& ps) {
  Json arr = Json::array();
  for (const auto& p : ps) arr.push_back(PolicyJson(p));
  return arr;
}

Json VaultJson(const VaultChanges& v) {
  Json j = Json::object();
  PutIf(j, "enable_soft_delete", v.enable_soft_delete);
  PutIf(j, "enable_purge_protection", v.enable_purge_protection);
  PutIf(j, "enable_rbac_authorization", v.enable_rbac_authorization);
  PutIf(j, "soft_delete_retention_days", v.soft_delete_retention_days);
  PutIf(j, "public_network_access", v.public_network_access);
  if (v.network_acls) {
    Json n = Json::object();
    PutIf(n, "default_action", v.network_acls->default_action);
    PutIf(n, "bypass", v.network_acls->bypass);
    n["ip_rules"] = v.network_acls->ip_rules;
    n["virtual_network_rules"] = v.network_acls->virtual_network_rules;
    j["network_acls"] = std::move(n);
  }
  if (v.access_policies) j["access_policies"] = PoliciesJson(*v.access_policies);
  PutIf(j, "access_policy_operation", v.access_policy_operation);
  if (!v.added_policies.empty()) j["added_policies"] = PoliciesJson(v.added_policies);
  if (!v.removed_policies.empty()) j["removed_policies"] = PoliciesJson(v.removed_policies);
  PutIf(j, "location", v.location);
  PutIf(j, "tenant_id", v.tenant_id);
  PutIf(j, "vault_uri", v.vault_uri);
  return j;
}

Json KeyJson(const KeyChanges& k) {
  Json j = Json::object();
  PutIf(j, "kty", k.kty);
  PutIf(j, "key_size", k.key_size);
  PutIf(j, "curve", k.curve);
  PutIf(j, "enabled", k.enabled);
  PutTimeIf(j, "expires", k.expires);
  PutTimeIf(j, "not_before", k.not_before);
  if (!k.key_ops.empty()) j["key_ops"] = k.key_ops;
  return j;
}

Json AccountJson(const AccountChanges& a) {
  Json j = Json::object();
  PutIf(j, "kind", a.kind);
  PutIf(j, "location", a.location);
  PutIf(j, "key_source", a.key_source);
  PutIf(j, "key_vault_uri", a.key_vault_uri);
  PutIf(j, "key_vault_arm_id", a.key_vault_arm_id);
  PutIf(j, "key_name", a.key_name);
  PutIf(j, "key_version", a.key_version);
  PutIf(j, "encryption_status", a.encryption_status);
  PutIf(j, "identity_type", a.identity_type);
  PutIf(j, "principal_id", a.principal_id);
  PutIf(j, "tenant_id", a.tenant_id);
  if (!a.user_assigned_identities.empty()) j["user_assigned_identities"] = a.user_assigned_identities;
  PutIf(j, "identity_client_id", a.identity_client_id);
  PutIf(j, "encryption_identity", a.encryption_identity);
  return j;
}

}  // namespace

std::string EventToJson(const Event& e, const EventJsonOptions& options) {
  Json j = Json::object();
  j["id"] = e.id;
  j["source"] = ToString(e.source);
  j["time"] = FormatTimestamp(e.time);
  j["resource_id"] = e.resource_id;
  j["resource_kind"] = ToString(e.resource_kind);
  j["operation"] = e.operation;
  j["status"] = ToString(e.outcome);
  if (e.http_status != 0) j["http_status"] = e.http_status;
  PutIf(j, "correlation_id", e.correlation_id);
  if (!e.actor.empty()) {
    Json c = Json::object();
    PutIf(c, "object_id", e.actor.object_id);
    PutIf(c, "app_id", e.actor.app_id);
    PutIf(c, "upn", e.actor.upn);
    PutIf(c, "ip", e.actor.ip);
    PutIf(c, "tenant_id", e.actor.tenant_id);
    PutIf(c, "principal_type", e.actor.principal_type);
    j["caller"] = std::move(c);
  }
  if (e.key) {
    Json k = Json::object();
    k["vault"] = e.key->vault;
    k["name"] = e.key->name;
    k["version"] = e.key->version;
    j["key"] = std::move(k);
  }
  Json ch = Json::object();
  if (e.changes.vault) ch["vault"] = VaultJson(*e.changes.vault);
  if (e.changes.key) ch["key"] = KeyJson(*e.changes.key);
  if (e.changes.account) ch["account"] = AccountJson(*e.changes.account);
  if (e.changes.role_assignment) {
    const auto& r = *e.changes.role_assignment;
    Json rj = Json::object();
    PutIf(rj, "principal_id", r.principal_id);
    PutIf(rj, "principal_type", r.principal_type);
    PutIf(rj, "role_definition_id", r.role_definition_id);
    PutIf(rj, "scope", r.scope);
    ch["role_assignment"] = std::move(rj);
  }
  if (e.changes.diagnostic_setting) {
    const auto& d = *e.changes.diagnostic_setting;
    Json dj = Json::object();
    dj["enabled_categories"] = d.enabled_categories;
    PutIf(dj, "target", d.target);
    ch["diagnostic_setting"] = std::move(dj);
  }
  j["changes"] = std::move(ch);
  if (options.include_raw) j["raw"] = e.raw;
  // Replace invalid UTF-8 rather than throw: raw bytes come from outside.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace cmkwatch
