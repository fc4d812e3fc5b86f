// Event Grid events, one event per record (the framer splits the arrays
// Event Grid posts). Both delivery schemas:
//
//   Event Grid schema  id, topic,  subject, eventType, eventTime, data,
//                      dataVersion, metadataVersion
//   CloudEvents 1.0    id, source, subject, type,      time,      data,
//                      specversion
//
// Event types understood (anything else still becomes an Event whose
// operation is the type and whose resource is the topic):
//
//   Microsoft.KeyVault.{Key,Secret,Certificate}{NewVersionCreated,NearExpiry,
//   Expired}, Microsoft.KeyVault.VaultAccessPolicyChanged
//       data {Id (object URI), VaultName, ObjectType, ObjectName, Version,
//             NBF, EXP (epoch seconds, as strings or numbers, or null)}
//   Microsoft.Resources.Resource{Write,Delete,Action}{Success,Failure,Cancel}
//       data {authorization{scope, action, evidence}, claims, correlationId,
//             httpRequest{clientIpAddress, ...}, resourceProvider,
//             resourceUri, operationName, status, subscriptionId, tenantId}
//   Microsoft.EventGrid.SubscriptionValidationEvent
//       data {validationCode, validationUrl}
//
// The data fields of the three families do not collide, so data is read in
// the same single pass as the envelope, whatever order the fields come in.
// `data` may also arrive as JSON text inside a string (CloudEvents allow it).
#include <optional>
#include <string>

#include "cmkwatch/common/resource_id.h"
#include "normalize.h"
#include "parsers.h"

namespace cmkwatch::collector::internal {
namespace {

constexpr std::string_view kKeyVaultPrefix = "Microsoft.KeyVault.";
constexpr std::string_view kResourcesPrefix = "Microsoft.Resources.";
constexpr std::string_view kValidationType = "Microsoft.EventGrid.SubscriptionValidationEvent";

// Envelope fields, copied out of the document as they are met.
struct Envelope {
  std::string id;
  std::string topic;  // Event Grid topic, or CloudEvents source
  std::string subject;
  std::string type;  // eventType, or CloudEvents type
  std::optional<int64_t> time;
  std::string bad_time;  // the text of an unreadable eventTime/time
  bool time_seen = false;
  bool cloud_events = false;  // specversion present
};

// The union of what the understood data payloads carry.
struct Data {
  // Key Vault.
  std::string object_uri;
  std::string object_type;
  std::string object_name;
  std::string version;
  std::optional<int64_t> not_before;
  std::optional<int64_t> expires;
  // Microsoft.Resources.
  std::string resource_uri;
  std::string operation_name;
  std::string authorization_action;
  std::string status;
  std::string correlation_id;
  std::string client_ip;
  std::string evidence_principal_id;
  std::string evidence_principal_type;
  Actor claims_actor;
  // Subscription validation.
  std::string validation_code;
};

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

void CopyString(od::value v, std::string& out) {
  if (auto s = AsString(v)) out.assign(*s);
}

// At most 80 bytes of an offending value, for error messages.
std::string Excerpt(std::string_view s) {
  return s.size() <= 80 ? std::string(s) : std::string(s.substr(0, 80)) + "...";
}

Status ReadEvidence(od::object obj, Data& d) {
  for (auto field : obj) {
    std::string_view key;
    if (auto err = field.unescaped_key().get(key)) return JsonError(err, "data.authorization.evidence");
    od::value v;
    if (auto err = field.value().get(v)) return JsonError(err, "data.authorization.evidence");
    if (KeyIs(key, "principalId")) {
      if (auto s = AsString(v)) d.evidence_principal_id = AsciiLower(*s);
    } else if (KeyIs(key, "principalType")) {
      CopyString(v, d.evidence_principal_type);
    }
  }
  return Status::Ok();
}

Status ReadAuthorization(od::object obj, Data& d) {
  for (auto field : obj) {
    std::string_view key;
    if (auto err = field.unescaped_key().get(key)) return JsonError(err, "data.authorization");
    od::value v;
    if (auto err = field.value().get(v)) return JsonError(err, "data.authorization");
    if (KeyIs(key, "action")) {
      CopyString(v, d.authorization_action);
    } else if (KeyIs(key, "evidence")) {
      od::object evidence;
      if (!v.get_object().get(evidence)) {
        if (auto st = ReadEvidence(evidence, d); !st.ok()) return st;
      }
    }
  }
  return Status::Ok();
}

Status ReadHttpRequest(od::object obj, Data& d) {
  for (auto field : obj) {
    std::string_view key;
    if (auto err = field.unescaped_key().get(key)) return JsonError(err, "data.httpRequest");
    od::value v;
    if (auto err = field.value().get(v)) return JsonError(err, "data.httpRequest");
    if (KeyIs(key, "clientIpAddress")) CopyString(v, d.client_ip);
  }
  return Status::Ok();
}

Status ReadData(od::object obj, int level, const ParseLimits& limits, Data& d) {
  for (auto field : obj) {
    std::string_view key;
    if (auto err = field.unescaped_key().get(key)) return JsonError(err, "data field name");
    od::value v;
    if (auto err = field.value().get(v)) return JsonError(err, "data field value");
    if (KeyIs(key, "Id")) {
      CopyString(v, d.object_uri);
    } else if (KeyIs(key, "ObjectType")) {
      CopyString(v, d.object_type);
    } else if (KeyIs(key, "ObjectName")) {
      CopyString(v, d.object_name);
    } else if (KeyIs(key, "Version")) {
      CopyString(v, d.version);
    } else if (KeyIs(key, "NBF")) {
      d.not_before = AsTime(v);
    } else if (KeyIs(key, "EXP")) {
      d.expires = AsTime(v);
    } else if (KeyIs(key, "resourceUri")) {
      CopyString(v, d.resource_uri);
    } else if (KeyIs(key, "operationName")) {
      CopyString(v, d.operation_name);
    } else if (KeyIs(key, "status")) {
      CopyString(v, d.status);
    } else if (KeyIs(key, "correlationId")) {
      CopyString(v, d.correlation_id);
    } else if (KeyIs(key, "validationCode")) {
      CopyString(v, d.validation_code);
    } else if (KeyIs(key, "authorization")) {
      od::object auth;
      if (!v.get_object().get(auth)) {
        if (auto st = ReadAuthorization(auth, d); !st.ok()) return st;
      }
    } else if (KeyIs(key, "httpRequest")) {
      od::object req;
      if (!v.get_object().get(req)) {
        if (auto st = ReadHttpRequest(req, d); !st.ok()) return st;
      }
    } else if (KeyIs(key, "claims")) {
      od::object claims;
      if (!v.get_object().get(claims)) {
        ReadClaims(claims, d.claims_actor);
      } else if (auto text = AsString(v); text && level + 1 < kLevels) {
        // Claims re-serialized as a string by some forwarders.
        if (auto embedded = EmbeddedJson::Parse(*text, level + 1, limits)) {
          od::object inner;
          if (!embedded->doc().get_object().get(inner)) ReadClaims(inner, d.claims_actor);
        }
      }
    }
  }
  return Status::Ok();
}

// Key Vault events: the resource is the vault (the topic) or, for keys,
// secrets and certificates, the object inside it; key events also carry the
// key reference and its validity window.
void ApplyKeyVault(const Envelope& env, Data& d, Event& event) {
  if (StartsWith(env.topic, "/")) SetResource(event, env.topic);
  const std::string vault_id = VaultIdOf(event.resource_id);
  const bool key_event = KeyIs(d.object_type, "Key") || StartsWith(env.type, "Microsoft.KeyVault.Key");
  if (!d.object_uri.empty()) {
    ApplyKeyUri(event, d.object_uri, vault_id);
  } else if (key_event && IsVaultObjectName(d.object_name)) {
    // No object URI: the vault host is unknown (sovereign clouds use other
    // domains), so only the name and version are said.
    KeyRef ref;
    ref.name = AsciiLower(d.object_name);
    ref.version = AsciiLower(d.version);
    if (!vault_id.empty()) {
      event.resource_id = vault_id + "/keys/" + ref.name;
      event.resource_kind = ResourceKind::kKey;
    }
    event.key = std::move(ref);
  }
  if (key_event && (d.expires || d.not_before)) {
    KeyChanges k;
    k.expires = d.expires;
    k.not_before = d.not_before;
    event.changes.key = std::move(k);
  }
  event.operation = env.type;
  event.outcome = Outcome::kSucceeded;
}

// Resource events look like Activity Log entries; they are normalized the
// same way so rules need not tell the two apart.
void ApplyResource(const Envelope& env, Data& d, Event& event) {
  SetResource(event, !d.resource_uri.empty() ? std::string_view(d.resource_uri) : std::string_view(env.subject));
  if (!d.operation_name.empty()) {
    event.operation = AsciiLower(d.operation_name);
  } else if (!d.authorization_action.empty()) {
    event.operation = AsciiLower(d.authorization_action);
  } else {
    event.operation = env.type;
  }
  // The type's suffix is Event Grid's own verdict; data.status is the
  // fallback for types without one.
  if (EndsWith(env.type, "Success")) {
    event.outcome = Outcome::kSucceeded;
  } else if (EndsWith(env.type, "Failure") || EndsWith(env.type, "Cancel")) {
    event.outcome = Outcome::kFailed;
  } else {
    event.outcome = OutcomeFromText(d.status);
  }
  event.actor = std::move(d.claims_actor);
  // The request's own address outranks the token's ipaddr claim, which is
  // where the token was issued.
  if (!d.client_ip.empty()) event.actor.ip = d.client_ip;
  if (event.actor.object_id.empty()) event.actor.object_id = d.evidence_principal_id;
  if (!d.evidence_principal_type.empty()) event.actor.principal_type = d.evidence_principal_type;
  event.correlation_id = AsciiLower(d.correlation_id);
}

}  // namespace

Result<Event> ParseEventGridDoc(od::document& doc, std::string_view raw, const ParseLimits& limits) {
  if (ScanDepth(raw, limits.max_depth) > limits.max_depth) {
    return Status::LimitExceeded("Event Grid event nests deeper than " + std::to_string(limits.max_depth) +
                                 " levels");
  }
  auto root = RootObject(doc);
  if (!root.ok()) return root.status();
  Envelope env;
  Data data;
  for (auto field : *root) {
    std::string_view key;
    if (auto err = field.unescaped_key().get(key)) return JsonError(err, "Event Grid field name");
    od::value v;
    if (auto err = field.value().get(v)) return JsonError(err, "Event Grid field value");
    if (KeyIs(key, "id")) {
      if (auto s = AsText(v)) env.id = std::move(*s);
    } else if (KeyIs(key, "topic") || KeyIs(key, "source")) {
      CopyString(v, env.topic);
    } else if (KeyIs(key, "subject")) {
      CopyString(v, env.subject);
    } else if (KeyIs(key, "eventType") || KeyIs(key, "type")) {
      CopyString(v, env.type);
    } else if (KeyIs(key, "eventTime") || KeyIs(key, "time")) {
      env.time_seen = true;
      env.time = AsTime(v);
      if (!env.time) {
        // The token of an object or array is only its opening bracket.
        const std::string_view token = v.raw_json_token();
        env.bad_time = StartsWith(token, "{") ? "(an object)" : StartsWith(token, "[") ? "(an array)" : Excerpt(token);
      }
    } else if (KeyIs(key, "specversion")) {
      env.cloud_events = true;
    } else if (KeyIs(key, "data")) {
      od::object obj;
      if (!v.get_object().get(obj)) {
        if (auto st = ReadData(obj, 0, limits, data); !st.ok()) return st;
      } else if (auto text = AsString(v)) {
        if (auto embedded = EmbeddedJson::Parse(*text, 1, limits)) {
          od::object inner;
          if (!embedded->doc().get_object().get(inner)) {
            if (auto st = ReadData(inner, 1, limits, data); !st.ok()) return st;
          }
        }
      }
    }
  }

  const std::string_view schema = env.cloud_events ? "CloudEvents event" : "Event Grid event";
  if (env.type.empty()) {
    return Status::Corruption(std::string(schema) + " has no " + (env.cloud_events ? "\"type\"" : "\"eventType\""));
  }
  const std::string_view time_field = env.cloud_events ? "\"time\"" : "\"eventTime\"";
  if (!env.time_seen) {
    return Status::Corruption(std::string(schema) + " " + Excerpt(env.type) + " has no " + std::string(time_field));
  }
  if (!env.time) {
    return Status::Corruption(std::string(schema) + " " + Excerpt(env.type) + ": " + std::string(time_field) + " " +
                              env.bad_time + " is not a timestamp");
  }

  Event event;
  event.source = Source::kEventGrid;
  // Azure's own GUID, unprefixed: the same event delivered twice (Event Grid
  // retries) must dedup to one.
  // Without an id of its own, parse.cpp derives one from the record bytes.
  if (!env.id.empty()) event.id = env.id;
  event.time = *env.time;
  if (StartsWith(env.type, kKeyVaultPrefix)) {
    ApplyKeyVault(env, data, event);
  } else if (StartsWith(env.type, kResourcesPrefix)) {
    ApplyResource(env, data, event);
  } else if (env.type == kValidationType) {
    // The handshake: the caller answers with data.validationCode, which it
    // reads again from event.raw. Not an operation on the resource, so the
    // outcome stays unknown.
    if (data.validation_code.empty()) {
      return Status::Corruption("Event Grid subscription validation event has no data.validationCode");
    }
    if (StartsWith(env.topic, "/")) SetResource(event, env.topic);
    event.operation = env.type;
  } else {
    // Custom sources may name themselves with a URI rather than an ARM id.
    if (StartsWith(env.topic, "/")) SetResource(event, env.topic);
    event.operation = env.type;
  }
  event.raw.assign(raw);
  return event;
}

}  // namespace cmkwatch::collector::internal
