// Key Vault AuditEvent, as exported (Storage PT1H.json, Event Hubs) and as
// Log Analytics AZKVAuditLogs rows. Both shapes go through one walker: the
// row's columns are the record's fields promoted to the top level and
// renamed only in case (TimeGenerated and _ResourceId aside).
//
//   exported  := { time, resourceId, operationName, operationVersion,
//                  category: "AuditEvent", resultType, resultSignature,
//                  resultDescription, durationMs, callerIpAddress,
//                  correlationId, identity: { claim: {..} },
//                  properties: props }
//   props     := { id, requestUri, httpStatusCode, clientInfo,
//                  isAccessPolicyMatch, ..., vault fields, key fields,
//                  keyProperties: key, vaultProperties: props }
//   vault fields := enableSoftDelete, enablePurgeProtection,
//                  enableRbacAuthorization, softDeleteRetentionInDays,
//                  publicNetworkAccess, networkAcls{defaultAction, bypass,
//                  ipRules, virtualNetworkRules}, accessPolicies[],
//                  addedAccessPolicy / removedAccessPolicy: policy | [policy]
//   policy    := { ObjectId, TenantId, ApplicationId,
//                  Permissions{ keys: [..] | "Get, WrapKey" } }
//   key       := { kty | type, keySize | key_size | size, crv, key_ops,
//                  attributes{enabled, exp, nbf}, enabled, exp, nbf, kid,
//                  key: key }
//   AZKVAuditLogs row := { TimeGenerated, OperationName, ResultType,
//                  ResultSignature, CallerIpAddress, CorrelationId,
//                  Identity, Properties, KeyProperties, VaultProperties,
//                  NetworkAcls (dynamic: an object, or JSON text in a
//                  string), Id, RequestUri, HttpStatusCode, Enable*,
//                  SoftDeleteRetentionInDays, _ResourceId, Type, ... }
//
// Names are matched case-insensitively; unknown fields are skipped unread.
#include "keyvault_audit.h"

#include <algorithm>

#include "cmkwatch/common/resource_id.h"
#include "cmkwatch/common/time.h"
#include "normalize.h"
#include "parsers.h"

namespace cmkwatch::collector::internal {
namespace {

// Where a field sits decides what an ambiguous name means: "id" is the
// object URI in properties but a key id in key properties; "type" is the
// Log Analytics table at the top of a row but the key type in key
// properties.
enum class Scope : uint8_t { kRecord, kProperties, kVault, kKey };

enum class Field : uint8_t {
  kNone,
  kTime,
  kTimeGenerated,
  kResourceId,
  kOperationName,
  kCategory,
  kResultType,
  kResultSignature,
  kCallerIp,
  kCorrelationId,
  kIdentity,
  kProperties,
  kId,
  kRequestUri,
  kHttpStatusCode,
  kKeyProperties,
  kVaultProperties,
  kNetworkAcls,
  kEnableSoftDelete,
  kEnablePurgeProtection,
  kEnableRbacAuthorization,
  kSoftDeleteRetention,
  kPublicNetworkAccess,
  kAddedPolicy,
  kRemovedPolicy,
  kAccessPolicies,
  kAttributes,
  kKty,
  kKeySize,
  kCurve,
  kKeyOps,
  kType,
  kSize,
  kEnabled,
  kExpires,
  kNotBefore,
  kKid,
  kKeyMaterial,
};

const FieldTable<Field>& Fields() {
  static const FieldTable<Field> table(
      {
          {"time", Field::kTime},
          {"TimeGenerated", Field::kTimeGenerated},
          {"resourceId", Field::kResourceId},
          {"_ResourceId", Field::kResourceId},
          {"operationName", Field::kOperationName},
          {"category", Field::kCategory},
          {"resultType", Field::kResultType},
          {"resultSignature", Field::kResultSignature},
          {"callerIpAddress", Field::kCallerIp},
          {"correlationId", Field::kCorrelationId},
          {"identity", Field::kIdentity},
          {"properties", Field::kProperties},
          {"id", Field::kId},
          {"requestUri", Field::kRequestUri},
          {"httpStatusCode", Field::kHttpStatusCode},
          {"keyProperties", Field::kKeyProperties},
          {"vaultProperties", Field::kVaultProperties},
          {"networkAcls", Field::kNetworkAcls},
          {"enableSoftDelete", Field::kEnableSoftDelete},
          {"enablePurgeProtection", Field::kEnablePurgeProtection},
          {"enableRbacAuthorization", Field::kEnableRbacAuthorization},
          {"softDeleteRetentionInDays", Field::kSoftDeleteRetention},
          {"publicNetworkAccess", Field::kPublicNetworkAccess},
          {"addedAccessPolicy", Field::kAddedPolicy},
          {"removedAccessPolicy", Field::kRemovedPolicy},
          {"accessPolicies", Field::kAccessPolicies},
          {"attributes", Field::kAttributes},
          {"kty", Field::kKty},
          {"keyType", Field::kKty},
          {"keySize", Field::kKeySize},
          {"key_size", Field::kKeySize},
          {"crv", Field::kCurve},
          {"curve", Field::kCurve},
          {"curveName", Field::kCurve},
          {"key_ops", Field::kKeyOps},
          {"keyOps", Field::kKeyOps},
          {"type", Field::kType},
          {"size", Field::kSize},
          {"enabled", Field::kEnabled},
          {"exp", Field::kExpires},
          {"expires", Field::kExpires},
          {"nbf", Field::kNotBefore},
          {"notBefore", Field::kNotBefore},
          {"kid", Field::kKid},
          {"key", Field::kKeyMaterial},
      },
      Field::kNone);
  return table;
}

// How deep we follow properties / keyProperties / attributes inside each
// other; real records nest two deep. Bounds the walk's recursion.
constexpr int kMaxPropertiesDepth = 3;

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

// Calls fn(item) for each top-level element of JSON array text, or of a
// comma-separated list; quotes around an element are removed. Elements are
// not unescaped: the lists Key Vault flattens (permission names, address
// ranges) hold none.
template <typename Fn>
void ForEachListItem(std::string_view text, Fn&& fn) {
  text = TrimSpace(text);
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  int depth = 0;
  bool in_string = false;
  size_t start = 0;
  auto emit = [&](size_t end) {
    std::string_view item = TrimSpace(text.substr(start, end - start));
    if (item.size() >= 2 && item.front() == '"' && item.back() == '"') item = item.substr(1, item.size() - 2);
    if (!item.empty()) fn(item);
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    } else if (c == ',' && depth == 0) {
      emit(i);
      start = i + 1;
    }
  }
  emit(text.size());
}

std::optional<std::string_view> Text(od::value v, bool copy, AuditFields& f) {
  auto s = AsString(v);
  if (!s) return std::nullopt;
  if (copy && !s->empty()) return f.Keep(*s);
  return s;
}

void SetIfEmpty(std::string_view& field, std::optional<std::string_view> value) {
  if (field.empty() && value) field = TrimSpace(*value);
}

// Reads the value as a list of strings: a JSON array, or a list as text.
std::vector<std::string> ReadList(od::value v) {
  std::vector<std::string> out;
  od::array arr;
  if (!v.get_array().get(arr)) {
    for (auto item : arr) {
      od::value iv;
      if (item.get(iv)) break;
      if (auto s = AsString(iv)) out.emplace_back(*s);
    }
  } else if (auto s = AsString(v)) {
    out = SplitListText(*s);
  }
  return out;
}

uint32_t CountList(od::value v) {
  od::array arr;
  if (!v.get_array().get(arr)) {
    size_t n = 0;
    if (arr.count_elements().get(n)) return 0;
    return static_cast<uint32_t>(std::min<size_t>(n, UINT32_MAX));
  }
  if (auto s = AsString(v)) return CountListText(*s);
  return 0;
}

// One walk over a record and the objects nested in it.
class Walker {
 public:
  Walker(AuditFields& f, const ParseLimits& limits) : f_(f), limits_(limits), fields_(Fields()) {}

  // `level` is the parser level a JSON-in-string value found here would be
  // opened at; `copy` says the object lives in such a value's document.
  Status Walk(od::object obj, Scope scope, int level, bool copy, int depth) {
    for (auto field : obj) {
      std::string_view name;
      if (auto err = FieldName(field, name)) return JsonError(err, "Key Vault audit field name");
      od::value v;
      if (auto err = field.value().get(v)) return JsonError(err, "Key Vault audit field value");
      const Field id = fields_.Find(name);
      if (id == Field::kNone) continue;
      if (auto st = OnField(id, v, scope, level, copy, depth); !st.ok()) return st;
    }
    return Status::Ok();
  }

 private:
  // Calls fn(value, level, copy) with the object/array itself, or with the
  // root of the JSON text a string holds (Log Analytics dynamic columns
  // arrive both ways). Text that is not JSON says nothing.
  template <typename Fn>
  Status Nested(od::value v, int level, bool copy, Fn&& fn) {
    od::json_type type;
    if (auto err = v.type().get(type)) return JsonError(err, "Key Vault audit value");
    if (type == od::json_type::object || type == od::json_type::array) return fn(v, level, copy);
    if (type != od::json_type::string || level >= kLevels) return Status::Ok();
    auto text = AsString(v);
    if (!text) return Status::Ok();
    auto embedded = EmbeddedJson::Parse(*text, level, limits_);
    if (!embedded) return Status::Ok();
    od::value root;
    if (embedded->doc().get_value().get(root)) return Status::Ok();
    return fn(root, level + 1, true);
  }

  Status NestedObject(od::value v, int level, bool copy, Scope scope, int depth) {
    return Nested(v, level, copy, [&](od::value inner, int lvl, bool cp) {
      od::object obj;
      if (inner.get_object().get(obj)) return Status::Ok();
      return Walk(obj, scope, lvl, cp, depth + 1);
    });
  }

  Status OnField(Field id, od::value v, Scope scope, int level, bool copy, int depth) {
    const bool record = scope == Scope::kRecord;
    const bool key_scope = scope == Scope::kKey;
    switch (id) {
      case Field::kNone: break;
      // Record level.
      case Field::kTimeGenerated:
      case Field::kTime:
        if (!record) break;
        if (id == Field::kTimeGenerated) f_.log_analytics = true;
        f_.time_seen = true;
        if (auto s = Text(v, copy, f_)) {
          f_.time_text = *s;
          f_.time = ParseTimestamp(*s);
        } else {
          f_.time = AsTime(v);
        }
        break;
      case Field::kResourceId:
        if (record) SetIfEmpty(f_.resource_id, Text(v, copy, f_));
        break;
      case Field::kOperationName:
        if (record) SetIfEmpty(f_.operation, Text(v, copy, f_));
        break;
      case Field::kCategory:
        if (record) SetIfEmpty(f_.category, Text(v, copy, f_));
        break;
      case Field::kResultType:
        if (record) SetIfEmpty(f_.result_type, Text(v, copy, f_));
        break;
      case Field::kResultSignature:
        if (record) SetIfEmpty(f_.result_signature, Text(v, copy, f_));
        break;
      case Field::kCallerIp:
        if (record) SetIfEmpty(f_.caller_ip, Text(v, copy, f_));
        break;
      case Field::kCorrelationId:
        if (record) SetIfEmpty(f_.correlation_id, Text(v, copy, f_));
        break;
      case Field::kIdentity:
        if (!record) break;
        return Nested(v, level, copy, [&](od::value inner, int, bool) { return ReadIdentity(inner); });
      case Field::kType:
        if (record) {
          // A Log Analytics row names its table.
          f_.log_analytics = true;
          auto s = AsString(v);
          if (s && !s->empty() && !KeyIs(*s, "AZKVAuditLogs")) {
            return Status::Unsupported("a Log Analytics " + std::string(s->substr(0, 40)) +
                                       " row is not an AZKVAuditLogs row or a Key Vault AuditEvent");
          }
        } else if (key_scope) {
          ReadKty(v);
        }
        break;
      // Properties.
      case Field::kProperties:
        if (key_scope || depth >= kMaxPropertiesDepth) break;
        return NestedObject(v, level, copy, Scope::kProperties, depth);
      case Field::kId:
        if (key_scope) {
          SetIfEmpty(f_.kid, Text(v, copy, f_));
        } else if (record || scope == Scope::kProperties) {
          SetIfEmpty(f_.object_uri, Text(v, copy, f_));
        }
        break;
      case Field::kRequestUri:
        SetIfEmpty(f_.request_uri, Text(v, copy, f_));
        break;
      case Field::kHttpStatusCode:
        if (auto code = AsInt(v); code && *code >= 100 && *code <= 999 && f_.http_status == 0) {
          f_.http_status = static_cast<int>(*code);
        }
        break;
      case Field::kKeyProperties:
        if (depth >= kMaxPropertiesDepth) break;
        return NestedObject(v, level, copy, Scope::kKey, depth);
      case Field::kVaultProperties:
        if (depth >= kMaxPropertiesDepth) break;
        return NestedObject(v, level, copy, Scope::kVault, depth);
      // Vault.
      case Field::kNetworkAcls:
        return Nested(v, level, copy, [&](od::value inner, int, bool) { return ReadNetworkAcls(inner); });
      case Field::kEnableSoftDelete:
        SetVaultBool(f_.vault.enable_soft_delete, v);
        break;
      case Field::kEnablePurgeProtection:
        SetVaultBool(f_.vault.enable_purge_protection, v);
        break;
      case Field::kEnableRbacAuthorization:
        SetVaultBool(f_.vault.enable_rbac_authorization, v);
        break;
      case Field::kSoftDeleteRetention:
        if (auto days = AsInt(v)) {
          f_.vault.soft_delete_retention_days = days;
          f_.vault_seen = true;
        }
        break;
      case Field::kPublicNetworkAccess:
        if (auto s = AsString(v); s && !TrimSpace(*s).empty()) {
          f_.vault.public_network_access = CanonicalEnum(*s, {"Enabled", "Disabled", "SecuredByPerimeter"});
          f_.vault_seen = true;
        }
        break;
      case Field::kAddedPolicy:
        return Nested(v, level, copy, [&](od::value inner, int lvl, bool) {
          return ReadPolicies(inner, lvl, f_.vault.added_policies);
        });
      case Field::kRemovedPolicy:
        return Nested(v, level, copy, [&](od::value inner, int lvl, bool) {
          return ReadPolicies(inner, lvl, f_.vault.removed_policies);
        });
      case Field::kAccessPolicies:
        return Nested(v, level, copy, [&](od::value inner, int lvl, bool) {
          std::vector<AccessPolicy> list;
          if (auto st = ReadPolicies(inner, lvl, list); !st.ok()) return st;
          f_.vault.access_policies = std::move(list);
          f_.vault_seen = true;
          return Status::Ok();
        });
      // Key.
      case Field::kAttributes:
        if (depth >= kMaxPropertiesDepth) break;
        return Nested(v, level, copy, [&](od::value inner, int lvl, bool cp) {
          od::object obj;
          if (inner.get_object().get(obj)) return Status::Ok();
          return Walk(obj, Scope::kKey, lvl, cp, depth + 1);
        });
      case Field::kKty:
        ReadKty(v);
        break;
      case Field::kKeySize:
        SetKeySize(v);
        break;
      case Field::kSize:
        if (key_scope) SetKeySize(v);
        break;
      case Field::kCurve:
        if (auto s = AsString(v); s && !s->empty()) {
          f_.key.curve = std::string(*s);
          f_.key_seen = true;
        }
        break;
      case Field::kKeyOps: {
        auto ops = ReadList(v);
        if (!ops.empty()) {
          for (auto& op : ops) op = AsciiLower(op);
          f_.key.key_ops = std::move(ops);
          f_.key_seen = true;
        }
        break;
      }
      case Field::kEnabled:
        if (!key_scope) break;
        if (auto b = AsBool(v)) {
          f_.key.enabled = b;
          f_.key_seen = true;
        }
        break;
      case Field::kExpires:
        if (!key_scope) break;
        if (auto t = AsTime(v)) {
          f_.key.expires = t;
          f_.key_seen = true;
        }
        break;
      case Field::kNotBefore:
        if (!key_scope) break;
        if (auto t = AsTime(v)) {
          f_.key.not_before = t;
          f_.key_seen = true;
        }
        break;
      case Field::kKid:
        SetIfEmpty(f_.kid, Text(v, copy, f_));
        break;
      case Field::kKeyMaterial:
        // A JSON Web Key inside key properties.
        if (!key_scope || depth >= kMaxPropertiesDepth) break;
        return NestedObject(v, level, copy, Scope::kKey, depth);
    }
    return Status::Ok();
  }

  // identity := { claim: { name: value } } (claim names short or URI form),
  // or the claims themselves.
  Status ReadIdentity(od::value v) {
    od::object obj;
    if (v.get_object().get(obj)) return Status::Ok();
    for (auto field : obj) {
      std::string_view name;
      if (auto err = FieldName(field, name)) return JsonError(err, "identity");
      od::value cv;
      if (auto err = field.value().get(cv)) return JsonError(err, "identity");
      if (KeyIs(name, "claim") || KeyIs(name, "claims")) {
        od::object claims;
        if (!cv.get_object().get(claims)) ReadClaims(claims, f_.actor);
      } else if (auto s = AsString(cv)) {
        ApplyClaim(name, *s, f_.actor);
      }
    }
    return Status::Ok();
  }

  Status ReadNetworkAcls(od::value v) {
    od::object obj;
    if (v.get_object().get(obj)) return Status::Ok();
    NetworkAcls acls;
    bool seen = false;
    for (auto field : obj) {
      std::string_view name;
      if (auto err = FieldName(field, name)) return JsonError(err, "networkAcls");
      od::value av;
      if (auto err = field.value().get(av)) return JsonError(err, "networkAcls");
      if (KeyIs(name, "defaultAction")) {
        if (auto s = AsString(av); s && !s->empty()) {
          acls.default_action = CanonicalEnum(*s, {"Allow", "Deny"});
          seen = true;
        }
      } else if (KeyIs(name, "bypass")) {
        if (auto s = AsString(av); s && !s->empty()) {
          acls.bypass = CanonicalEnum(*s, {"AzureServices", "None"});
          seen = true;
        }
      } else if (KeyIs(name, "ipRules")) {
        acls.ip_rules = CountList(av);
        seen = true;
      } else if (KeyIs(name, "virtualNetworkRules")) {
        acls.virtual_network_rules = CountList(av);
        seen = true;
      }
    }
    if (seen) {
      f_.vault.network_acls = std::move(acls);
      f_.vault_seen = true;
    }
    return Status::Ok();
  }

  // A policy, or a list of them, appended to `out`.
  Status ReadPolicies(od::value v, int level, std::vector<AccessPolicy>& out) {
    od::json_type type;
    if (auto err = v.type().get(type)) return JsonError(err, "access policy");
    if (type == od::json_type::object) {
      od::object obj;
      if (auto err = v.get_object().get(obj)) return JsonError(err, "access policy");
      return ReadPolicy(obj, level, out);
    }
    od::array arr;
    if (type != od::json_type::array || v.get_array().get(arr)) return Status::Ok();
    for (auto item : arr) {
      od::object obj;
      if (item.get_object().get(obj)) continue;
      if (auto st = ReadPolicy(obj, level, out); !st.ok()) return st;
    }
    return Status::Ok();
  }

  Status ReadPolicy(od::object obj, int level, std::vector<AccessPolicy>& out) {
    AccessPolicy p;
    bool seen = false;
    for (auto field : obj) {
      std::string_view name;
      if (auto err = FieldName(field, name)) return JsonError(err, "access policy");
      od::value pv;
      if (auto err = field.value().get(pv)) return JsonError(err, "access policy");
      std::string* target = KeyIs(name, "objectId")        ? &p.object_id
                            : KeyIs(name, "tenantId")      ? &p.tenant_id
                            : KeyIs(name, "applicationId") ? &p.application_id
                                                              : nullptr;
      if (target != nullptr) {
        if (auto s = AsString(pv); s && !TrimSpace(*s).empty()) {
          *target = AsciiLower(TrimSpace(*s));
          seen = true;
        }
      } else if (KeyIs(name, "permissions")) {
        auto st = Nested(pv, level, false, [&](od::value inner, int, bool) {
          od::object perms;
          if (inner.get_object().get(perms)) return Status::Ok();
          for (auto pf : perms) {
            std::string_view pname;
            if (auto err = FieldName(pf, pname)) return JsonError(err, "access policy permissions");
            od::value lv;
            if (auto err = pf.value().get(lv)) return JsonError(err, "access policy permissions");
            if (KeyIs(pname, "keys")) p.key_permissions = ReadList(lv);
          }
          return Status::Ok();
        });
        if (!st.ok()) return st;
        seen = true;
      }
    }
    if (!seen) return Status::Ok();
    NormalizePermissions(p.key_permissions);
    out.push_back(std::move(p));
    f_.vault_seen = true;
    return Status::Ok();
  }

  void SetVaultBool(std::optional<bool>& target, od::value v) {
    if (auto b = AsBool(v)) {
      target = b;
      f_.vault_seen = true;
    }
  }

  void ReadKty(od::value v) {
    if (auto s = AsString(v); s && !TrimSpace(*s).empty()) {
      f_.key.kty = CanonicalKty(*s);
      f_.key_seen = true;
    }
  }

  void SetKeySize(od::value v) {
    if (auto n = AsInt(v); n && *n > 0) {
      f_.key.key_size = n;
      f_.key_seen = true;
    }
  }

  AuditFields& f_;
  const ParseLimits& limits_;
  const FieldTable<Field>& fields_;  // looked up once: a function-local static costs a guard check per field
};

bool IsDataPlaneOperation(std::string_view op) {
  return StartsWithName(op, "Key") || StartsWithName(op, "Secret") || StartsWithName(op, "Certificate");
}

// True when a data-plane URI's path names an object ("/keys/<name>..."),
// not just a collection or the vault; checked without parsing it.
bool NamesObject(std::string_view uri) {
  constexpr std::string_view kScheme = "https://";
  uri = TrimSpace(uri);
  if (!StartsWithName(uri, kScheme)) return false;
  uri.remove_prefix(kScheme.size());
  const size_t slash = uri.find('/');
  if (slash == std::string_view::npos) return false;
  int segments = 0;
  bool in_segment = false;
  for (char c : uri.substr(slash)) {
    if (c == '?' || c == '#') break;
    if (c == '/') {
      in_segment = false;
    } else if (!in_segment) {
      in_segment = true;
      if (++segments == 2) return true;
    }
  }
  return false;
}

}  // namespace

std::vector<std::string> SplitListText(std::string_view text) {
  std::vector<std::string> out;
  ForEachListItem(text, [&](std::string_view item) { out.emplace_back(item); });
  return out;
}

uint32_t CountListText(std::string_view text) {
  uint32_t n = 0;
  ForEachListItem(text, [&](std::string_view) { ++n; });
  return n;
}

void SetAccessPolicyOperation(VaultChanges& vault) {
  const bool added = !vault.added_policies.empty();
  const bool removed = !vault.removed_policies.empty();
  if (added && removed) {
    vault.access_policy_operation = "replace";
  } else if (added) {
    vault.access_policy_operation = "add";
  } else if (removed) {
    vault.access_policy_operation = "remove";
  }
}

Result<Event> BuildAuditEvent(AuditFields& f, std::string_view raw) {
  const AuditNames& names = f.names;
  if (!f.category.empty() && !KeyIs(f.category, "AuditEvent")) {
    return Status::Unsupported(std::string(names.form) + " has category '" + std::string(f.category.substr(0, 60)) +
                               "', not AuditEvent");
  }
  if (!f.time_seen) return Status::Corruption(std::string(names.form) + " has no " + std::string(names.time));
  if (!f.time) {
    return Status::Corruption(std::string(names.form) + ": " + std::string(names.time) + " '" +
                              std::string(f.time_text.substr(0, 60)) + "' is not a timestamp");
  }
  if (f.operation.empty()) {
    return Status::Corruption(std::string(names.form) + " has no " + std::string(names.operation));
  }
  if (f.resource_id.empty()) {
    return Status::Corruption(std::string(names.form) + " has no " + std::string(names.resource));
  }

  Event e;
  // Audit records carry no id: parse.cpp derives it from the record bytes.
  e.source = Source::kKeyVaultAudit;
  e.time = *f.time;
  SetResource(e, f.resource_id);
  e.operation.assign(f.operation);

  // The HTTP status is the most specific outcome Key Vault gives;
  // resultSignature names it when httpStatusCode is absent ("Forbidden",
  // "ForbiddenByFirewall"); resultType ("Success") is the fallback.
  e.http_status = f.http_status != 0 ? f.http_status : HttpStatusFromText(f.result_signature);
  e.outcome = OutcomeFromHttp(e.http_status);
  if (e.outcome == Outcome::kUnknown) e.outcome = OutcomeFromText(f.result_type);
  if (e.outcome == Outcome::kUnknown) e.outcome = OutcomeFromHttp(HttpStatusFromText(f.result_type));
  e.correlation_id.assign(f.correlation_id);

  e.actor = std::move(f.actor);
  // The address the request came from outranks the token's ipaddr claim.
  if (!f.caller_ip.empty()) e.actor.ip.assign(f.caller_ip);

  if (IsDataPlaneOperation(f.operation)) {
    // properties.id names the object; failed calls (403) often lack it, and
    // then the request URI does.
    std::string_view uri;
    for (std::string_view candidate : {f.object_uri, f.request_uri, f.kid}) {
      if (NamesObject(candidate)) {
        uri = candidate;
        break;
      }
    }
    if (uri.empty()) uri = !f.object_uri.empty() ? f.object_uri : f.request_uri;
    if (!uri.empty()) ApplyKeyUri(e, uri, VaultIdPrefix(e.resource_id));
  }

  if (f.vault_seen) {
    SetAccessPolicyOperation(f.vault);
    e.changes.vault = std::move(f.vault);
  }
  if (f.key_seen) e.changes.key = std::move(f.key);
  e.raw.assign(raw);
  return e;
}

Result<Event> ParseKeyVaultAuditDoc(od::document& doc, std::string_view raw, const ParseLimits& limits) {
  auto root = RootObject(doc);
  if (!root.ok()) return root.status();
  AuditFields f;
  Walker walker(f, limits);
  if (auto st = walker.Walk(*root, Scope::kRecord, 1, false, 0); !st.ok()) return st;
  f.names = f.log_analytics ? AuditNames{"AZKVAuditLogs row", "TimeGenerated", "OperationName", "_ResourceId"}
                            : AuditNames{"Key Vault AuditEvent record", "time", "operationName", "resourceId"};
  return BuildAuditEvent(f, raw);
}

}  // namespace cmkwatch::collector::internal
