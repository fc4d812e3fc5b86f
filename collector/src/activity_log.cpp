// Activity Log parser: one Activity Log entry → Event.
//
// Three shapes of the same entry reach us:
//
//   export (diagnostic settings → Storage PT1H.json / Event Hubs)
//     { time, resourceId, operationName: "<op>", category, resultType,
//       resultSignature, durationMs, callerIpAddress, correlationId,
//       identity: { authorization: { scope, action, evidence: {...} },
//                   claims: {...} },
//       properties: { statusCode, requestbody, responseBody, entity, ... } }
//   REST (az monitor activity-log list, portal, eventtypes/management/values)
//     { eventTimestamp, operationName: { value, localizedValue },
//       status: { value }, subStatus: { value }, resourceId, caller, claims,
//       authorization: { action, scope }, httpRequest: { clientIpAddress },
//       correlationId, eventDataId, id: "<resource>/events/<eventDataId>/ticks/<n>",
//       properties: {...} }
//   Log Analytics AzureActivity rows
//     { Type: "AzureActivity", TimeGenerated, OperationNameValue,
//       ActivityStatusValue, ActivitySubstatusValue, Caller, CallerIpAddress,
//       CorrelationId, ResourceId, _ResourceId, Properties_d | Properties (string),
//       Claims_d | Claims (string), Authorization_d | Authorization (string),
//       HTTPRequest (string) }
//
// Field names are matched case-insensitively, in any order; each object is
// walked once. Request and response bodies (JSON inside a string, or an
// object) are read only for the operations rules need: write/delete of a
// vault, key, AI account, ML workspace, role assignment or diagnostic setting.
#include <algorithm>
#include <optional>
#include <string>

#include "arm_body.h"
#include "cmkwatch/common/resource_id.h"
#include "normalize.h"
#include "parsers.h"

namespace cmkwatch::collector::internal {
namespace {

// A request/response body. Text bodies are kept as views and parsed only when
// the operation turns out to need them (most Activity Log volume does not).
struct BodySlot {
  std::string_view text;          // JSON inside a string; a view into the document it came from
  int level = 1;                  // parser level for `text`: one above that document's level
  std::optional<ArmBody> parsed;  // object form, read in place while its document was open
};

// What the walk collected. Views point into the record's document (level 0)
// and stay valid until the parse ends; values that may come from JSON inside
// a string (whose parser level is reused) are copied.
struct Record {
  std::optional<int64_t> time;
  std::string_view operation;
  bool operation_from_value = false;  // operationName.value / OperationNameValue
  std::string_view resource_id;       // resourceId / ResourceId
  std::string_view la_resource_id;    // _ResourceId
  std::string_view rest_id;           // REST "id": <resource>/events/<eventDataId>/ticks/<n>
  std::string scope;                  // authorization.scope
  std::string entity;                 // properties.entity
  std::string_view result_type;       // resultType / status.value / ActivityStatusValue
  std::string_view result_localized;  // ActivityStatus (localized; last resort)
  std::string_view result_signature;  // resultSignature / subStatus.value / ActivitySubstatusValue
  std::string status_code;            // properties.statusCode
  std::string_view event_data_id;
  std::string_view correlation_id;
  std::string_view caller;
  std::string caller_ip;  // callerIpAddress / httpRequest.clientIpAddress
  std::string evidence_principal_id;
  std::string evidence_principal_type;
  // Log Analytics columns that hold JSON in a string. Read after the walk,
  // and only when the same data did not also arrive as an object (Claims_d,
  // Authorization_d, Properties_d), so a row's text copies cost nothing.
  std::string_view claims_text, authorization_text, http_request_text, properties_text;
  bool claims_object = false, authorization_object = false, http_request_object = false;
  bool properties_object = false;
  BodySlot request, response;
  Actor actor;  // from claims
};

// Reads the key and value of an object field, or returns Corruption.
#define CMK_FIELD(field, key, v, where)                                             \
  std::string_view key;                                                            \
  if (auto key##_err = (field).unescaped_key().get(key)) return JsonError(key##_err, where); \
  od::value v;                                                                     \
  if (auto v##_err = (field).value().get(v)) return JsonError(v##_err, where)

std::string Truncated(std::string_view s, size_t n) {
  if (s.size() <= n) return std::string(s);
  return std::string(s.substr(0, n)) + "...";
}

std::string_view TrimRight(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

bool IsHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

bool IsGuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !IsHex(s[i])) return false;
  }
  return true;
}

// Object ids in lower-case dashed form. The authorization evidence writes
// principalId as 32 hex digits without dashes; claims and role assignments
// use the dashed form, and rules compare them as plain strings.
std::string CanonicalObjectId(std::string_view s) {
  std::string out = AsciiLower(s);
  if (out.size() == 32 && std::all_of(out.begin(), out.end(), IsHex)) {
    out.insert(20, 1, '-');
    out.insert(16, 1, '-');
    out.insert(12, 1, '-');
    out.insert(8, 1, '-');
  }
  return out;
}

size_t FindIgnoreCase(std::string_view hay, std::string_view needle, size_t from = 0) {
  if (needle.size() > hay.size()) return std::string_view::npos;
  for (size_t i = from; i + needle.size() <= hay.size(); ++i) {
    if (KeyIs(hay.substr(i, needle.size()), needle)) return i;
  }
  return std::string_view::npos;
}

// REST ids are "<resource id>/events/<eventDataId>/ticks/<ticks>".
struct RestId {
  std::string_view resource;
  std::string_view event_data_id;
};
std::optional<RestId> SplitRestId(std::string_view id) {
  size_t events = std::string_view::npos;
  for (size_t at = FindIgnoreCase(id, "/events/"); at != std::string_view::npos;
       at = FindIgnoreCase(id, "/events/", at + 1)) {
    events = at;
  }
  if (events == std::string_view::npos) return std::nullopt;
  const size_t guid_start = events + 8;
  const size_t ticks = FindIgnoreCase(id, "/ticks/", guid_start);
  if (ticks == std::string_view::npos) return std::nullopt;
  return RestId{id.substr(0, events), id.substr(guid_start, ticks - guid_start)};
}

// "add", "replace" or "remove" from ".../vaults/<v>/accesspolicies/<kind>"
// (canonical id), or "".
std::string_view AccessPolicyKindOf(std::string_view canonical_id) {
  constexpr std::string_view kSeg = "/accesspolicies/";
  const size_t at = canonical_id.rfind(kSeg);
  if (at == std::string_view::npos) return {};
  std::string_view kind = canonical_id.substr(at + kSeg.size());
  if (kind == "add" || kind == "replace" || kind == "remove") return kind;
  return {};
}

// The ARM resource type whose write/delete bodies carry what rules need, per
// resource kind (lower case, compared case-insensitively).
std::string_view BodyTypeOf(ResourceKind kind) {
  switch (kind) {
    case ResourceKind::kVault: return "microsoft.keyvault/vaults";
    case ResourceKind::kKey: return "microsoft.keyvault/vaults/keys";
    case ResourceKind::kAiAccount: return "microsoft.cognitiveservices/accounts";
    case ResourceKind::kMlWorkspace: return "microsoft.machinelearningservices/workspaces";
    case ResourceKind::kRoleAssignment: return "microsoft.authorization/roleassignments";
    case ResourceKind::kDiagnosticSetting: return "microsoft.insights/diagnosticsettings";
    default: return {};
  }
}

bool IsAccessPolicyWrite(std::string_view operation) {
  return KeyIs(operation, "microsoft.keyvault/vaults/accesspolicies/write");
}

// Whether an operation on a resource of `kind` has bodies worth reading.
bool WantsBody(ResourceKind kind, std::string_view operation) {
  const std::string_view type = BodyTypeOf(kind);
  if (type.empty()) return false;
  if (kind == ResourceKind::kVault && IsAccessPolicyWrite(operation)) return true;
  if (operation.size() <= type.size() || !KeyIs(operation.substr(0, type.size()), type)) return false;
  const std::string_view verb = operation.substr(type.size());
  return KeyIs(verb, "/write") || KeyIs(verb, "/delete");
}

// The best resource id known so far, for deciding early whether an object
// body is worth reading (the final choice is made after the walk).
std::string_view ResourceCandidate(const Record& r) {
  if (!r.resource_id.empty()) return r.resource_id;
  if (!r.la_resource_id.empty()) return r.la_resource_id;
  if (auto rest = SplitRestId(r.rest_id)) return rest->resource;
  if (!r.scope.empty()) return r.scope;
  return r.entity;
}

// false: the body is certainly not needed; true: needed or not yet known.
bool MayWantBody(const Record& r) {
  const std::string_view id = ResourceCandidate(r);
  if (r.operation.empty() || id.empty()) return true;
  // Only reached for object bodies whose record puts properties before the
  // ids, so the allocation here is off the common path.
  return WantsBody(KindOfResourceId(CanonicalResourceId(id)), r.operation);
}

// A string, or the "value" of a {value, localizedValue} object.
std::optional<std::string_view> StringOrValue(od::value v) {
  if (IsString(v)) return AsString(v);
  od::object obj;
  if (v.get_object().get(obj)) return std::nullopt;
  for (auto field : obj) {
    std::string_view key;
    od::value fv;
    if (field.unescaped_key().get(key) || field.value().get(fv)) return std::nullopt;
    if (KeyIs(key, "value")) return AsString(fv);
  }
  return std::nullopt;
}

Status ReadEvidence(od::object obj, Record& r) {
  for (auto field : obj) {
    CMK_FIELD(field, key, v, "identity.authorization.evidence");
    if (KeyIs(key, "principalId")) {
      if (auto s = AsString(v)) r.evidence_principal_id = CanonicalObjectId(*s);
    } else if (KeyIs(key, "principalType")) {
      if (auto s = AsString(v)) r.evidence_principal_type.assign(*s);
    }
  }
  return Status::Ok();
}

Status ReadAuthorization(od::object obj, Record& r) {
  for (auto field : obj) {
    CMK_FIELD(field, key, v, "authorization");
    if (KeyIs(key, "scope")) {
      if (auto s = AsString(v)) r.scope.assign(*s);
    } else if (KeyIs(key, "evidence")) {
      od::object ev;
      if (!v.get_object().get(ev)) {
        if (auto st = ReadEvidence(ev, r); !st.ok()) return st;
      }
    }
  }
  return Status::Ok();
}

Status ReadHttpRequest(od::object obj, Record& r) {
  for (auto field : obj) {
    CMK_FIELD(field, key, v, "httpRequest");
    if (KeyIs(key, "clientIpAddress")) {
      if (auto s = AsString(v); s && !s->empty() && r.caller_ip.empty()) r.caller_ip.assign(*s);
    }
  }
  return Status::Ok();
}

// A string column's JSON text (Claims, Authorization, HTTPRequest), parsed at
// level 1 and fully consumed by `read`, which must copy what it keeps. Text
// that is not JSON, or malformed, is the column's problem, not the record's:
// whatever was read before the fault is kept.
template <typename F>
void ReadJsonText(std::string_view text, const ParseLimits& limits, F&& read) {
  if (text.empty()) return;
  auto embedded = EmbeddedJson::Parse(text, 1, limits);
  if (!embedded) return;
  od::object obj;
  if (embedded->doc().get_object().get(obj)) return;
  (void)read(obj);
}

Status ReadBody(od::value v, int doc_level, const Record& r, const ParseLimits& limits, BodySlot& slot) {
  if (IsString(v)) {
    if (auto s = AsString(v)) {
      slot.text = *s;
      slot.level = doc_level + 1;
      slot.parsed.reset();
    }
    return Status::Ok();
  }
  od::object obj;
  if (v.get_object().get(obj)) return Status::Ok();  // null, or something that is no body
  if (!MayWantBody(r)) return Status::Ok();
  ArmBody body;
  if (auto st = ReadArmBody(obj, limits, body); !st.ok()) return st;
  slot.text = {};
  slot.parsed = std::move(body);
  return Status::Ok();
}

// properties (export, REST), Properties_d (Log Analytics) or the Properties
// column's JSON text. `doc_level` is the parser level `obj` lives at.
Status ReadProperties(od::object obj, int doc_level, const ParseLimits& limits, Record& r) {
  for (auto field : obj) {
    CMK_FIELD(field, key, v, "properties");
    if (KeyIs(key, "statusCode")) {
      if (auto s = AsText(v); s && r.status_code.empty()) r.status_code = std::move(*s);
    } else if (KeyIs(key, "requestbody")) {
      if (auto st = ReadBody(v, doc_level, r, limits, r.request); !st.ok()) return st;
    } else if (KeyIs(key, "responseBody")) {
      if (auto st = ReadBody(v, doc_level, r, limits, r.response); !st.ok()) return st;
    } else if (KeyIs(key, "entity")) {
      if (auto s = AsString(v); s && r.entity.empty()) r.entity.assign(*s);
    }
  }
  return Status::Ok();
}

Status ReadIdentity(od::object obj, Record& r) {
  for (auto field : obj) {
    CMK_FIELD(field, key, v, "identity");
    if (KeyIs(key, "authorization")) {
      od::object auth;
      if (!v.get_object().get(auth)) {
        if (auto st = ReadAuthorization(auth, r); !st.ok()) return st;
      }
    } else if (KeyIs(key, "claims")) {
      od::object claims;
      if (!v.get_object().get(claims)) ReadClaims(claims, r.actor);
    }
  }
  return Status::Ok();
}

Status BadTime(std::string_view field, std::string_view raw_token) {
  std::string msg = "bad timestamp in field '";
  msg += field;
  msg += "': ";
  msg += Truncated(TrimRight(raw_token), 64);
  return Status::Corruption(std::move(msg));
}

// The top-level walk.
Status ReadRecord(od::object root, const ParseLimits& limits, Record& r) {
  for (auto field : root) {
    CMK_FIELD(field, key, v, "record");
    if (KeyIs(key, "time") || KeyIs(key, "eventTimestamp") || KeyIs(key, "TimeGenerated")) {
      // Token first: on-demand values are read once, and the message needs it.
      const std::string_view token = v.raw_json_token();
      auto t = AsTime(v);
      if (!t) return BadTime(key, token);
      r.time = t;
    } else if (KeyIs(key, "operationName")) {
      // Export: the name as a string. REST: {value, localizedValue}. Log
      // Analytics: a localized name, outranked by OperationNameValue.
      if (IsString(v)) {
        if (auto s = AsString(v); s && !r.operation_from_value) r.operation = *s;
      } else if (auto s = StringOrValue(v)) {
        r.operation = *s;
        r.operation_from_value = true;
      }
    } else if (KeyIs(key, "OperationNameValue")) {
      if (auto s = AsString(v); s && !s->empty()) {
        r.operation = *s;
        r.operation_from_value = true;
      }
    } else if (KeyIs(key, "resourceId")) {
      if (auto s = AsString(v)) r.resource_id = *s;
    } else if (key == "_ResourceId") {
      if (auto s = AsString(v)) r.la_resource_id = *s;
    } else if (KeyIs(key, "id")) {
      if (auto s = AsString(v)) r.rest_id = *s;
    } else if (KeyIs(key, "resultType") || KeyIs(key, "status") || KeyIs(key, "ActivityStatusValue")) {
      if (auto s = StringOrValue(v); s && !s->empty()) r.result_type = *s;
    } else if (KeyIs(key, "ActivityStatus")) {
      if (auto s = StringOrValue(v)) r.result_localized = *s;
    } else if (KeyIs(key, "resultSignature") || KeyIs(key, "subStatus") ||
               KeyIs(key, "ActivitySubstatusValue")) {
      if (auto s = StringOrValue(v); s && !s->empty()) r.result_signature = *s;
    } else if (KeyIs(key, "correlationId")) {
      if (auto s = AsString(v)) r.correlation_id = *s;
    } else if (KeyIs(key, "eventDataId")) {
      if (auto s = AsString(v)) r.event_data_id = *s;
    } else if (KeyIs(key, "caller")) {
      if (auto s = AsString(v)) r.caller = *s;
    } else if (KeyIs(key, "callerIpAddress")) {
      // The address ARM saw the request from outranks httpRequest's copy.
      if (auto s = AsString(v); s && !s->empty()) r.caller_ip.assign(*s);
    } else if (KeyIs(key, "identity")) {
      od::object id;
      if (!v.get_object().get(id)) {
        if (auto st = ReadIdentity(id, r); !st.ok()) return st;
      }
    } else if (KeyIs(key, "claims") || KeyIs(key, "Claims_d")) {
      od::object obj;
      if (IsString(v)) {
        if (auto s = AsString(v)) r.claims_text = *s;
      } else if (!v.get_object().get(obj)) {
        r.claims_object = true;
        ReadClaims(obj, r.actor);
      }
    } else if (KeyIs(key, "authorization") || KeyIs(key, "Authorization_d")) {
      od::object obj;
      if (IsString(v)) {
        if (auto s = AsString(v)) r.authorization_text = *s;
      } else if (!v.get_object().get(obj)) {
        r.authorization_object = true;
        if (auto st = ReadAuthorization(obj, r); !st.ok()) return st;
      }
    } else if (KeyIs(key, "httpRequest")) {
      od::object obj;
      if (IsString(v)) {
        if (auto s = AsString(v)) r.http_request_text = *s;
      } else if (!v.get_object().get(obj)) {
        r.http_request_object = true;
        if (auto st = ReadHttpRequest(obj, r); !st.ok()) return st;
      }
    } else if (KeyIs(key, "properties") || KeyIs(key, "Properties_d")) {
      od::object obj;
      if (IsString(v)) {
        if (auto s = AsString(v)) r.properties_text = *s;
      } else if (!v.get_object().get(obj)) {
        r.properties_object = true;
        if (auto st = ReadProperties(obj, 0, limits, r); !st.ok()) return st;
      }
    }
  }
  return Status::Ok();
}

// The body's typed changes, or nothing when it has none (absent, not JSON,
// an error body, or malformed JSON inside the string).
std::optional<Changes> BodyChanges(BodySlot& slot, const ArmContext& ctx, const ParseLimits& limits) {
  ArmBody body;
  if (slot.parsed) {
    body = std::move(*slot.parsed);
    slot.parsed.reset();
  } else if (!slot.text.empty()) {
    auto embedded = EmbeddedJson::Parse(slot.text, std::min(slot.level, kLevels - 1), limits);
    if (!embedded) return std::nullopt;
    od::object obj;
    if (embedded->doc().get_object().get(obj)) return std::nullopt;
    if (!ReadArmBody(obj, limits, body).ok()) return std::nullopt;
  } else {
    return std::nullopt;
  }
  Changes changes;
  ApplyArmBody(std::move(body), ctx, changes);
  if (changes.empty()) return std::nullopt;
  return changes;
}

// Picks the resource id: resourceId, then _ResourceId, then the REST id,
// then the authorization scope, then properties.entity.
std::string_view ChooseResource(const Record& r, const std::optional<RestId>& rest) {
  if (!r.resource_id.empty()) return r.resource_id;
  if (!r.la_resource_id.empty()) return r.la_resource_id;
  if (rest && !rest->resource.empty()) return rest->resource;
  if (!r.scope.empty()) return r.scope;
  return r.entity;
}

// Key Vault keys by ARM id: ".../vaults/<v>/keys/<k>[/versions/<ver>]".
void ApplyArmKeyId(Event& event) {
  const std::string vault_id = VaultIdOf(event.resource_id);
  if (vault_id.empty()) return;
  std::string_view rest = std::string_view(event.resource_id).substr(vault_id.size());
  constexpr std::string_view kKeys = "/keys/";
  if (rest.substr(0, kKeys.size()) != kKeys) return;
  rest.remove_prefix(kKeys.size());
  const size_t slash = rest.find('/');
  KeyRef ref;
  ref.name = std::string(rest.substr(0, slash));
  if (slash != std::string_view::npos) {
    constexpr std::string_view kVersions = "/versions/";
    std::string_view tail = rest.substr(slash);
    if (tail.substr(0, kVersions.size()) == kVersions) {
      tail.remove_prefix(kVersions.size());
      ref.version = std::string(tail.substr(0, tail.find('/')));
    }
  }
  if (!IsVaultObjectName(ref.name)) return;
  // ARM ids do not carry the vault's host. We assume the public cloud's
  // "<vault>.vault.azure.net" (sovereign clouds use other suffixes); the
  // vault name is unique within a cloud, so rules matching on it still hold.
  const std::string_view vault_name = std::string_view(vault_id).substr(vault_id.rfind('/') + 1);
  ref.vault = std::string(vault_name) + ".vault.azure.net";
  // One resource per key: versions are told apart in event.key.
  event.resource_id = vault_id + "/keys/" + ref.name;
  event.resource_kind = ResourceKind::kKey;
  event.key = std::move(ref);
}

// The caller is a UPN for users and an object id for service principals.
void ApplyCaller(std::string_view caller, Actor& actor) {
  if (caller.empty()) return;
  if (IsGuid(caller)) {
    if (actor.object_id.empty()) actor.object_id = AsciiLower(caller);
  } else if (caller.find('@') != std::string_view::npos) {
    if (actor.upn.empty()) actor.upn.assign(caller);
  }
}

}  // namespace

Result<Event> ParseActivityLogDoc(od::document& doc, std::string_view raw, const ParseLimits& limits) {
  auto root = RootObject(doc);
  if (!root.ok()) return root.status();
  Record r;
  if (auto st = ReadRecord(*root, limits, r); !st.ok()) return st;

  // Log Analytics string columns, one after another at level 1. Properties
  // goes last: its bodies stay views into level 1 until they are parsed (at
  // level 2), and by then the operation is known, so they are parsed only
  // when needed.
  if (!r.claims_object) {
    ReadJsonText(r.claims_text, limits, [&](od::object o) {
      ReadClaims(o, r.actor);
      return Status::Ok();
    });
  }
  if (!r.authorization_object) {
    ReadJsonText(r.authorization_text, limits, [&](od::object o) { return ReadAuthorization(o, r); });
  }
  if (!r.http_request_object) {
    ReadJsonText(r.http_request_text, limits, [&](od::object o) { return ReadHttpRequest(o, r); });
  }
  std::optional<EmbeddedJson> properties_doc;
  if (!r.properties_object && !r.properties_text.empty()) {
    properties_doc = EmbeddedJson::Parse(r.properties_text, 1, limits);
    od::object props;
    if (properties_doc && !properties_doc->doc().get_object().get(props)) {
      (void)ReadProperties(props, 1, limits, r);
    }
  }

  if (!r.time) return Status::Corruption("Activity Log record has no time (time / eventTimestamp / TimeGenerated)");
  if (r.operation.empty()) {
    return Status::Corruption("Activity Log record has no operation (operationName / OperationNameValue)");
  }
  std::optional<RestId> rest = SplitRestId(r.rest_id);
  const std::string_view resource = ChooseResource(r, rest);
  if (resource.empty()) return Status::Corruption("Activity Log record has no resource id (resourceId)");

  Event event;
  event.source = Source::kActivityLog;
  event.time = *r.time;
  event.operation = AsciiLower(r.operation);
  SetResource(event, resource);

  std::string access_policy_operation;
  if (IsAccessPolicyWrite(event.operation) || !AccessPolicyKindOf(event.resource_id).empty()) {
    // ".../vaults/<v>/accessPolicies/<kind>": the change is to the vault.
    access_policy_operation = std::string(AccessPolicyKindOf(event.resource_id));
    if (access_policy_operation.empty()) {
      for (const std::string* other : {&r.scope, &r.entity}) {
        access_policy_operation = std::string(AccessPolicyKindOf(CanonicalResourceId(*other)));
        if (!access_policy_operation.empty()) break;
      }
    }
    if (std::string vault = VaultIdOf(event.resource_id); !vault.empty()) {
      event.resource_id = std::move(vault);
      event.resource_kind = ResourceKind::kVault;
    }
  }
  if (event.resource_kind == ResourceKind::kKey) ApplyArmKeyId(event);

  // Outcome and HTTP status.
  std::string_view result = r.result_type.empty() ? r.result_localized : r.result_type;
  event.outcome = OutcomeFromText(result);
  if (!r.status_code.empty()) event.http_status = HttpStatusFromText(r.status_code);
  if (event.http_status == 0 && !r.result_signature.empty()) {
    event.http_status = HttpStatusFromText(r.result_signature);
  }
  if (event.outcome == Outcome::kUnknown) event.outcome = OutcomeFromHttp(event.http_status);

  event.correlation_id = AsciiLower(r.correlation_id);

  // Actor: claims first (most specific), then the record's own fields.
  event.actor = std::move(r.actor);
  if (!r.caller_ip.empty()) event.actor.ip = std::move(r.caller_ip);
  ApplyCaller(r.caller, event.actor);
  if (event.actor.object_id.empty()) event.actor.object_id = std::move(r.evidence_principal_id);
  // ARM's evidence names the principal type in the documented spelling;
  // the idtyp claim only tells users from apps.
  if (!r.evidence_principal_type.empty()) event.actor.principal_type = std::move(r.evidence_principal_type);

  // Typed changes: the resulting state (responseBody) when it says
  // anything, else what was asked for (requestbody; Start events carry only
  // that). An incremental access policy change of unknown kind is left
  // untyped: guessing add or remove could invent or hide a revocation.
  if (WantsBody(event.resource_kind, event.operation) &&
      !(IsAccessPolicyWrite(event.operation) && access_policy_operation.empty())) {
    ArmContext ctx;
    ctx.kind = event.resource_kind;
    ctx.access_policy_operation = access_policy_operation;
    std::optional<Changes> changes = BodyChanges(r.response, ctx, limits);
    if (!changes) changes = BodyChanges(r.request, ctx, limits);
    if (changes) event.changes = std::move(*changes);
    // A deleted assignment's body may leave out its scope; the id holds it.
    if (auto& ra = event.changes.role_assignment; ra && ra->scope.empty()) {
      const size_t at = event.resource_id.rfind("/providers/microsoft.authorization/roleassignments/");
      if (at != std::string::npos && at > 0) ra->scope = event.resource_id.substr(0, at);
    }
  }

  // Id: the source's own (eventDataId, also inside REST ids), else a hash.
  std::string_view data_id = r.event_data_id;
  if (data_id.empty() && rest) data_id = rest->event_data_id;
  // Without eventDataId, parse.cpp derives the id from the record bytes.
  if (!data_id.empty()) event.id = AsciiLower(data_id);
  event.raw.assign(raw);
  return event;
}

}  // namespace cmkwatch::collector::internal
