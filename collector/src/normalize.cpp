#include "normalize.h"

#include <algorithm>
#include <cstring>

#include "cmkwatch/common/hash.h"
#include "cmkwatch/common/resource_id.h"

namespace cmkwatch::collector::internal {
namespace {

constexpr std::string_view kOidUri = "http://schemas.microsoft.com/identity/claims/objectidentifier";
constexpr std::string_view kTidUri = "http://schemas.microsoft.com/identity/claims/tenantid";
constexpr std::string_view kUpnUri = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn";
constexpr std::string_view kNameUri = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name";
constexpr std::string_view kEmailUri = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress";

void SetIfEmpty(std::string& field, std::string_view value) {
  if (field.empty() && !value.empty()) field.assign(value);
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '.')) s.remove_suffix(1);
  return s;
}

}  // namespace

bool ApplyClaim(std::string_view name, std::string_view value, Actor& actor) {
  if (value.empty()) return true;
  // Long URI names compared case-insensitively: Azure's own samples vary.
  if (name == "oid" || KeyIs(name, kOidUri)) {
    SetIfEmpty(actor.object_id, AsciiLower(value));
  } else if (name == "appid" || name == "azp") {
    SetIfEmpty(actor.app_id, AsciiLower(value));
  } else if (name == "upn" || KeyIs(name, kUpnUri)) {
    // A UPN outranks names and e-mail addresses seen earlier.
    actor.upn.assign(value);
  } else if (name == "unique_name" || name == "email" || KeyIs(name, kEmailUri) || KeyIs(name, kNameUri)) {
    SetIfEmpty(actor.upn, value);
  } else if (name == "ipaddr") {
    SetIfEmpty(actor.ip, value);
  } else if (name == "tid" || KeyIs(name, kTidUri)) {
    SetIfEmpty(actor.tenant_id, AsciiLower(value));
  } else if (name == "idtyp") {
    SetIfEmpty(actor.principal_type, EqualsIgnoreCase(value, "app") ? "ServicePrincipal" : "User");
  } else {
    return false;
  }
  return true;
}

void ReadClaims(od::object claims, Actor& actor) {
  for (auto field : claims) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return;
    // The key's view stays valid: simdjson's string buffer only grows
    // within one document.
    od::value v;
    if (field.value().get(v)) return;
    auto s = AsString(v);
    if (s) ApplyClaim(key, *s, actor);
  }
}

Outcome OutcomeFromText(std::string_view text) {
  text = Trim(text);
  if (EqualsIgnoreCase(text, "Succeeded") || EqualsIgnoreCase(text, "Success")) return Outcome::kSucceeded;
  if (EqualsIgnoreCase(text, "Failed") || EqualsIgnoreCase(text, "Failure") || EqualsIgnoreCase(text, "Fail") ||
      EqualsIgnoreCase(text, "Canceled") || EqualsIgnoreCase(text, "Cancelled")) {
    return Outcome::kFailed;
  }
  if (EqualsIgnoreCase(text, "Started") || EqualsIgnoreCase(text, "Start")) return Outcome::kStarted;
  if (EqualsIgnoreCase(text, "Accepted") || EqualsIgnoreCase(text, "Accept")) return Outcome::kAccepted;
  return Outcome::kUnknown;
}

int HttpStatusFromText(std::string_view text) {
  text = Trim(text);
  // "Failed.Forbidden", "Succeeded.OK": the reason follows the last '.'.
  if (const size_t dot = text.rfind('.'); dot != std::string_view::npos) text = text.substr(dot + 1);
  if (text.size() == 3 && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return (text[0] - '0') * 100 + (text[1] - '0') * 10 + (text[2] - '0');
  }
  struct Reason {
    std::string_view name;
    int code;
  };
  static constexpr Reason kReasons[] = {
      {"OK", 200},           {"Created", 201},         {"Accepted", 202},
      {"NoContent", 204},    {"BadRequest", 400},      {"Unauthorized", 401},
      {"Forbidden", 403},    {"ForbiddenByFirewall", 403}, {"ForbiddenByPolicy", 403},
      {"NotFound", 404},     {"MethodNotAllowed", 405}, {"Conflict", 409},
      {"Gone", 410},         {"PreconditionFailed", 412}, {"TooManyRequests", 429},
      {"InternalServerError", 500}, {"BadGateway", 502}, {"ServiceUnavailable", 503},
      {"GatewayTimeout", 504},
  };
  for (const auto& r : kReasons) {
    if (EqualsIgnoreCase(text, r.name)) return r.code;
  }
  return 0;
}

Outcome OutcomeFromHttp(int status) {
  if (status == 202) return Outcome::kAccepted;
  if (status >= 200 && status < 300) return Outcome::kSucceeded;
  if (status >= 400) return Outcome::kFailed;
  return Outcome::kUnknown;
}

std::string CanonicalEnum(std::string_view value, std::initializer_list<std::string_view> spellings) {
  value = Trim(value);
  for (auto s : spellings) {
    if (EqualsIgnoreCase(value, s)) return std::string(s);
  }
  return std::string(value);
}

std::string CanonicalKty(std::string_view kty) {
  return CanonicalEnum(kty, {"RSA", "RSA-HSM", "EC", "EC-HSM", "oct", "oct-HSM"});
}

std::string CanonicalIdentityType(std::string_view type) {
  // "SystemAssigned, UserAssigned" and "SystemAssigned,UserAssigned" both occur.
  std::string compact;
  for (char c : type) {
    if (c != ' ') compact.push_back(c);
  }
  return CanonicalEnum(compact, {"SystemAssigned", "UserAssigned", "SystemAssigned,UserAssigned", "None"});
}

std::string CanonicalKeySource(std::string_view source) {
  return CanonicalEnum(source, {"Microsoft.KeyVault", "Microsoft.CognitiveServices"});
}

std::string HashEventId(Source source, std::string_view record) {
  // Strip whitespace outside strings. String contents, most of a record's
  // bytes, are copied in bulk up to the next unescaped quote (memchr); a
  // byte-at-a-time loop cost more than the SHA-256 itself on 1 KB audit
  // records. An unterminated string is copied to the end, as before.
  std::string canonical(record.size(), '\0');
  char* out = canonical.data();
  const char* p = record.data();
  const char* const end = p + record.size();
  while (p < end) {
    const char c = *p++;
    if (c == '"') {
      *out++ = c;
      const char* from = p;
      const char* close = end;
      for (const char* search = p; search < end;) {
        const char* q = static_cast<const char*>(std::memchr(search, '"', static_cast<size_t>(end - search)));
        if (q == nullptr) break;
        // Escaped when preceded by an odd run of backslashes.
        const char* b = q;
        while (b > from && b[-1] == '\\') --b;
        if ((q - b) % 2 == 0) {
          close = q + 1;
          break;
        }
        search = q + 1;
      }
      const size_t n = static_cast<size_t>(close - from);
      std::memcpy(out, from, n);
      out += n;
      p = close;
    } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
      *out++ = c;
    }
  }
  canonical.resize(static_cast<size_t>(out - canonical.data()));
  std::string id(ToString(source));
  id += ':';
  id += HexLower(Sha256(canonical), 16);
  return id;
}

void NormalizePermissions(std::vector<std::string>& perms) {
  for (auto& p : perms) p = AsciiLower(Trim(p));
  perms.erase(std::remove(perms.begin(), perms.end(), std::string()), perms.end());
  std::sort(perms.begin(), perms.end());
  perms.erase(std::unique(perms.begin(), perms.end()), perms.end());
}

void SetResource(Event& event, std::string_view raw_id) {
  event.resource_id = CanonicalResourceId(raw_id);
  event.resource_kind = KindOfResourceId(event.resource_id);
}

void ApplyKeyUri(Event& event, std::string_view uri, std::string_view vault_id) {
  auto parsed = ParseVaultUri(uri);
  if (!parsed) return;
  // Request URIs (Key Vault audit requestUri) name an action after the
  // version (".../keys/k/<version>/unwrapkey") or in its place
  // ("/keys/k/unwrapkey", "/keys/k/create", "/deletedkeys/k/recover"); an
  // action is not a version. Versions are 32 hex digits, so no action name
  // can be mistaken for one.
  static constexpr std::string_view kActions[] = {
      "wrapkey", "unwrapkey", "encrypt", "decrypt", "sign",    "verify",         "release",
      "create",  "import",    "rotate",  "backup",  "recover", "rotationpolicy", "versions"};
  for (std::string_view action : kActions) {
    if (parsed->version == action) {
      parsed->version.clear();
      break;
    }
  }
  // Deleted keys/secrets/certificates (KeyPurge, KeyRecover) are the same objects.
  if (parsed->collection.size() > 7 && parsed->collection.compare(0, 7, "deleted") == 0) {
    parsed->collection.erase(0, 7);
  }
  if (parsed->collection != "keys" && !parsed->collection.empty()) {
    // Secrets and certificates: keep the vault, no key reference. Any other
    // path (an ARM URL on the vault's control-plane host) names no object.
    if (parsed->collection != "secrets" && parsed->collection != "certificates") return;
    if (!vault_id.empty() && !parsed->name.empty()) {
      const bool secret = parsed->collection == "secrets";
      event.resource_id = std::string(vault_id) + (secret ? "/secrets/" : "/certificates/") + parsed->name;
      event.resource_kind = secret ? ResourceKind::kSecret : ResourceKind::kCertificate;
    }
    return;
  }
  KeyRef ref;
  ref.vault = parsed->host;
  ref.name = parsed->name;
  ref.version = parsed->version;
  if (!ref.name.empty() && !vault_id.empty()) {
    event.resource_id = std::string(vault_id) + "/keys/" + ref.name;
    event.resource_kind = ResourceKind::kKey;
  }
  event.key = std::move(ref);
}

}  // namespace cmkwatch::collector::internal
