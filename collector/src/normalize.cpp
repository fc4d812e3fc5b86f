#include "normalize.h"

#include <algorithm>
#include <cstring>
#include <optional>

// Header-only use: XXH3 inlined into the hot path, no library to link.
#define XXH_INLINE_ALL
#include <xxhash.h>

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

namespace {

void LowerInPlace(std::string& s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
}

// SetIfEmpty for ids, lower-cased into the field itself: no temporary string.
void SetLowerIfEmpty(std::string& field, std::string_view value) {
  if (field.empty() && !value.empty()) {
    field.assign(value);
    LowerInPlace(field);
  }
}

// The claims ApplyClaim knows. A record carries 10-20 claims and most are
// none of these, so names are sorted out by length first.
enum class Claim : uint8_t { kNone, kObjectId, kAppId, kUpn, kUpnFallback, kIp, kTenantId, kIdType };

Claim ClaimOf(std::string_view name) {
  switch (name.size()) {
    case 3:
      if (name == "oid") return Claim::kObjectId;
      if (name == "azp") return Claim::kAppId;
      if (name == "upn") return Claim::kUpn;
      if (name == "tid") return Claim::kTenantId;
      return Claim::kNone;
    case 5:
      if (name == "appid") return Claim::kAppId;
      if (name == "email") return Claim::kUpnFallback;
      if (name == "idtyp") return Claim::kIdType;
      return Claim::kNone;
    case 6:
      return name == "ipaddr" ? Claim::kIp : Claim::kNone;
    case 11:
      return name == "unique_name" ? Claim::kUpnFallback : Claim::kNone;
    default:
      break;
  }
  // Long URI names compared case-insensitively: Azure's own samples vary.
  if (KeyIs(name, kOidUri)) return Claim::kObjectId;
  if (KeyIs(name, kUpnUri)) return Claim::kUpn;
  if (KeyIs(name, kEmailUri) || KeyIs(name, kNameUri)) return Claim::kUpnFallback;
  if (KeyIs(name, kTidUri)) return Claim::kTenantId;
  return Claim::kNone;
}

}  // namespace

namespace {

void ApplyKnownClaim(Claim claim, std::string_view value, Actor& actor) {
  switch (claim) {
    case Claim::kObjectId: SetLowerIfEmpty(actor.object_id, value); break;
    case Claim::kAppId: SetLowerIfEmpty(actor.app_id, value); break;
    // A UPN outranks names and e-mail addresses seen earlier.
    case Claim::kUpn: actor.upn.assign(value); break;
    case Claim::kUpnFallback: SetIfEmpty(actor.upn, value); break;
    case Claim::kIp: SetIfEmpty(actor.ip, value); break;
    case Claim::kTenantId: SetLowerIfEmpty(actor.tenant_id, value); break;
    case Claim::kIdType:
      SetIfEmpty(actor.principal_type, KeyIs(value, "app") ? "ServicePrincipal" : "User");
      break;
    case Claim::kNone: break;
  }
}

}  // namespace

bool ApplyClaim(std::string_view name, std::string_view value, Actor& actor) {
  if (value.empty()) return true;
  const Claim claim = ClaimOf(name);
  if (claim == Claim::kNone) return false;
  ApplyKnownClaim(claim, value, actor);
  return true;
}

void ReadClaims(od::object claims, Actor& actor) {
  for (auto field : claims) {
    std::string_view key;
    if (FieldName(field, key)) return;
    // The name is sorted out first: most of a token's claims (xms_mirid, a
    // managed identity's ARM id, among them) are none of ours, and reading
    // their values would unescape each into simdjson's string buffer.
    const Claim claim = ClaimOf(key);
    if (claim == Claim::kNone) continue;
    // The key's view stays valid: it points into the record, or into
    // simdjson's string buffer, which only grows within one document.
    od::value v;
    if (field.value().get(v)) return;
    if (auto s = AsString(v); s && !s->empty()) ApplyKnownClaim(claim, *s, actor);
  }
}

Outcome OutcomeFromText(std::string_view text) {
  text = Trim(text);
  if (KeyIs(text, "Succeeded") || KeyIs(text, "Success")) return Outcome::kSucceeded;
  if (KeyIs(text, "Failed") || KeyIs(text, "Failure") || KeyIs(text, "Fail") ||
      KeyIs(text, "Canceled") || KeyIs(text, "Cancelled")) {
    return Outcome::kFailed;
  }
  if (KeyIs(text, "Started") || KeyIs(text, "Start")) return Outcome::kStarted;
  if (KeyIs(text, "Accepted") || KeyIs(text, "Accept")) return Outcome::kAccepted;
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
    if (KeyIs(text, r.name)) return r.code;
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
    if (KeyIs(value, s)) return std::string(s);
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

std::string HashEventId(Source source, std::string_view record, bool compact) {
  // Whitespace outside strings is removed first (simdjson's SIMD minifier),
  // so a pretty-printed and a one-line copy of a record share an id. A record
  // simdjson cannot minify (malformed inside a skipped value) is hashed as
  // sent.
  //
  // Why XXH3-128 and not SHA-256: the id only deduplicates redelivered
  // copies of a record. SHA-256 over every ~1 KB audit record cost more than
  // all of parsing on this CPU (1.3 GB/s vs the 1 GB/s goal), while XXH3
  // runs at >20 GB/s. Forging a collision with a record that matters (say a
  // KeyDelete) would need its exact bytes in advance, including Azure's
  // 100 ns timestamp and correlation id; tamper evidence is the analyzer's
  // SHA-256 hash chain, not this id.
  std::string_view canonical = record;
  if (!compact) {
    thread_local std::string scratch;
    if (scratch.size() < record.size() + kPadding) scratch.resize(record.size() + kPadding);
    size_t len = 0;
    if (simdjson::minify(record.data(), record.size(), scratch.data(), len) == simdjson::SUCCESS) {
      canonical = std::string_view(scratch.data(), len);
    }
  }
  const XXH128_hash_t h = XXH3_128bits(canonical.data(), canonical.size());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(ToString(source));
  id += ':';
  const size_t at = id.size();
  id.resize(at + 32);
  for (int i = 0; i < 16; ++i) {
    id[at + static_cast<size_t>(i)] = kHex[(h.high64 >> (60 - 4 * i)) & 0xF];
    id[at + 16 + static_cast<size_t>(i)] = kHex[(h.low64 >> (60 - 4 * i)) & 0xF];
  }
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

namespace {

void AssignLower(std::string& out, std::string_view s) {
  out.assign(s);
  LowerInPlace(out);
}

// vault_id + infix + lower(name), built before it replaces the resource id
// (vault_id may be a view into it).
std::string JoinLower(std::string_view vault_id, std::string_view infix, std::string_view name) {
  std::string out;
  out.reserve(vault_id.size() + infix.size() + name.size());
  out.append(vault_id).append(infix);
  const size_t at = out.size();
  out.append(name);
  for (size_t i = at; i < out.size(); ++i) {
    if (out[i] >= 'A' && out[i] <= 'Z') out[i] = static_cast<char>(out[i] - 'A' + 'a');
  }
  return out;
}

}  // namespace

void ApplyKeyUri(Event& event, std::string_view uri, std::string_view vault_id) {
  auto parsed = ParseVaultUriView(uri);
  if (!parsed) return;
  // Request URIs (Key Vault audit requestUri) name an action after the
  // version (".../keys/k/<version>/unwrapkey") or in its place
  // ("/keys/k/unwrapkey", "/keys/k/create", "/deletedkeys/k/recover"); an
  // action is not a version. Versions are 32 hex digits, so no action name
  // can be mistaken for one. (Segments are compared ignoring case: they are
  // lower-cased only when copied into the event.)
  static constexpr std::string_view kActions[] = {
      "wrapkey", "unwrapkey", "encrypt", "decrypt", "sign",    "verify",         "release",
      "create",  "import",    "rotate",  "backup",  "recover", "rotationpolicy", "versions"};
  if (parsed->version.size() != 32) {
    for (std::string_view action : kActions) {
      if (KeyIs(parsed->version, action)) {
        parsed->version = {};
        break;
      }
    }
  }
  // Deleted keys/secrets/certificates (KeyPurge, KeyRecover) are the same objects.
  std::string_view collection = parsed->collection;
  if (collection.size() > 7 && KeyIs(collection.substr(0, 7), "deleted")) collection.remove_prefix(7);
  const std::string_view name = parsed->name;
  if (!KeyIs(collection, "keys") && !collection.empty()) {
    // Secrets and certificates: keep the vault, no key reference. Any other
    // path (an ARM URL on the vault's control-plane host) names no object.
    const bool secret = KeyIs(collection, "secrets");
    if (!secret && !KeyIs(collection, "certificates")) return;
    if (!vault_id.empty() && !name.empty()) {
      event.resource_id = JoinLower(vault_id, secret ? "/secrets/" : "/certificates/", name);
      event.resource_kind = secret ? ResourceKind::kSecret : ResourceKind::kCertificate;
    }
    return;
  }
  KeyRef ref;
  AssignLower(ref.vault, parsed->host);
  AssignLower(ref.name, name);
  AssignLower(ref.version, parsed->version);
  if (!name.empty() && !vault_id.empty()) {
    event.resource_id = JoinLower(vault_id, "/keys/", name);
    event.resource_kind = ResourceKind::kKey;
  }
  event.key = std::move(ref);
}

}  // namespace cmkwatch::collector::internal
