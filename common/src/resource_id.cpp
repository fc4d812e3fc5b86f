#include "cmkwatch/common/resource_id.h"

#include <algorithm>
#include <array>
#include <cstdint>

namespace cmkwatch {
namespace {

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

// Splits "a/b/c" into segments without allocating.
template <typename F>
void ForEachSegment(std::string_view path, F&& f) {
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) f(path.substr(start, end - start));
    start = end + 1;
  }
}

// Key Vault names objects with letters, digits and '-', versions with hex
// digits, and hosts are DNS names: a host or path segment with anything but
// URI-unreserved characters (whitespace, controls, quotes) is no Key Vault
// URI. Refusing it keeps every id built from the parts canonical — a name
// ending in a space would otherwise become an ARM id ending in a space.
//
// One table classifies every byte for ParseVaultUriView's single pass: a
// Key Vault audit record's URI is parsed for every event, and testing six
// ranges per byte, in three passes over the URI, was 5 % of the parse.
enum UriClass : uint8_t { kUriOther, kUriToken, kUriSlash, kUriEnd, kUriColon };

constexpr std::array<uint8_t, 256> MakeUriClasses() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    const bool token = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                       c == '.' || c == '_' || c == '~';
    t[static_cast<size_t>(c)] = token ? kUriToken : kUriOther;
  }
  t['/'] = kUriSlash;
  t['?'] = kUriEnd;  // query and fragment end the part we read
  t['#'] = kUriEnd;
  t[':'] = kUriColon;
  return t;
}
constexpr std::array<uint8_t, 256> kUriClasses = MakeUriClasses();

uint8_t UriClassOf(char c) { return kUriClasses[static_cast<unsigned char>(c)]; }

bool IsUriToken(std::string_view s) {
  for (const char c : s) {
    if (UriClassOf(c) != kUriToken) return false;
  }
  return true;
}

}  // namespace

bool IsVaultObjectName(std::string_view name) {
  if (name.empty() || name.size() > 127) return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string AsciiLower(std::string_view s) {
  // Sized once and filled in a loop the compiler vectorizes: ids are
  // lower-cased for every event.
  std::string out(s.size(), '\0');
  for (size_t i = 0; i < s.size(); ++i) out[i] = Lower(s[i]);
  return out;
}

std::string CanonicalResourceId(std::string_view id) {
  // Trailing '/' and whitespace in any mix, so canonicalizing is idempotent.
  id = Trim(id);
  while (!id.empty() && (id.back() == '/' || id.back() == ' ' || id.back() == '\t' || id.back() == '\r' ||
                         id.back() == '\n')) {
    id.remove_suffix(1);
  }
  if (id.empty()) return {};
  const size_t lead = id.front() == '/' ? 0 : 1;
  std::string out(id.size() + lead, '/');
  char* dst = out.data() + lead;
  for (size_t i = 0; i < id.size(); ++i) dst[i] = Lower(id[i]);
  return out;
}

ResourceKind KindOfResourceId(std::string_view id) {
  if (id.empty()) return ResourceKind::kUnknown;
  const size_t prov = id.rfind("/providers/");
  if (prov == std::string_view::npos) {
    // /subscriptions/{s} or /subscriptions/{s}/resourcegroups/{rg}
    int n = 0;
    std::string_view segs[4];
    ForEachSegment(id, [&](std::string_view seg) {
      if (n < 4) segs[n] = seg;
      ++n;
    });
    if (n == 2 && segs[0] == "subscriptions") return ResourceKind::kSubscription;
    if (n == 4 && segs[0] == "subscriptions" && segs[2] == "resourcegroups") return ResourceKind::kResourceGroup;
    return ResourceKind::kUnknown;
  }
  // provider / type1 / name1 / type2 / name2 / ...
  std::string_view segs[8];
  int n = 0;
  ForEachSegment(id.substr(prov + 11), [&](std::string_view seg) {
    if (n < 8) segs[n] = seg;
    ++n;
  });
  if (n < 3) return ResourceKind::kOther;
  const std::string_view provider = segs[0];
  const std::string_view type1 = segs[1];
  if (provider == "microsoft.keyvault") {
    if (type1 == "managedhsms") return ResourceKind::kManagedHsm;
    if (type1 != "vaults") return ResourceKind::kOther;
    if (n == 3) return ResourceKind::kVault;
    if (segs[3] == "keys") return n >= 5 ? ResourceKind::kKey : ResourceKind::kVault;
    if (segs[3] == "secrets") return n >= 5 ? ResourceKind::kSecret : ResourceKind::kVault;
    if (segs[3] == "accesspolicies") return ResourceKind::kVault;
    return ResourceKind::kOther;
  }
  if (provider == "microsoft.cognitiveservices" && type1 == "accounts" && n == 3) return ResourceKind::kAiAccount;
  if (provider == "microsoft.machinelearningservices" && type1 == "workspaces" && n == 3) {
    return ResourceKind::kMlWorkspace;
  }
  if (provider == "microsoft.authorization" && type1 == "roleassignments") return ResourceKind::kRoleAssignment;
  if (provider == "microsoft.insights" && type1 == "diagnosticsettings") return ResourceKind::kDiagnosticSetting;
  return ResourceKind::kOther;
}

std::string_view VaultIdPrefix(std::string_view id) {
  constexpr std::string_view kVaults = "/providers/microsoft.keyvault/vaults/";
  // Forward search (memchr-driven) is several times faster than rfind of a
  // 37-byte needle, and this runs for every event; a canonical id holds the
  // vault segment once, so the first match is the one.
  const size_t prov = id.find(kVaults);
  if (prov == std::string_view::npos) return {};
  const size_t name_start = prov + kVaults.size();
  size_t name_end = id.find('/', name_start);
  if (name_end == std::string_view::npos) name_end = id.size();
  if (name_end == name_start) return {};
  // A vault name is a DNS label; a segment with anything else (a space
  // before the next '/') would make the prefix a non-canonical id.
  if (!IsUriToken(id.substr(name_start, name_end - name_start))) return {};
  return id.substr(0, name_end);
}

std::string VaultIdOf(std::string_view id) { return std::string(VaultIdPrefix(id)); }

std::optional<VaultUriView> ParseVaultUriView(std::string_view uri) {
  uri = Trim(uri);
  constexpr std::string_view kScheme = "https://";
  if (uri.size() <= kScheme.size() || !EqualsIgnoreCase(uri.substr(0, kScheme.size()), kScheme)) {
    return std::nullopt;
  }
  uri.remove_prefix(kScheme.size());
  const char* const p = uri.data();
  const size_t n = uri.size();
  // Host: token characters up to ':' (a port, not checked), '/', or the
  // query or fragment, which end the URI as far as we read it.
  size_t i = 0;
  while (i < n && UriClassOf(p[i]) == kUriToken) ++i;
  if (i == 0) return std::nullopt;
  VaultUriView out;
  out.host = std::string_view(p, i);
  if (i < n && UriClassOf(p[i]) == kUriColon) {
    while (i < n && UriClassOf(p[i]) != kUriSlash && UriClassOf(p[i]) != kUriEnd) ++i;
  }
  if (i == n || UriClassOf(p[i]) == kUriEnd) return out;
  if (UriClassOf(p[i]) != kUriSlash) return std::nullopt;  // a byte no host has
  // The first three non-empty path segments; the rest is not read.
  std::string_view* const segs[3] = {&out.collection, &out.name, &out.version};
  for (std::string_view* seg : segs) {
    while (i < n && UriClassOf(p[i]) == kUriSlash) ++i;
    const size_t start = i;
    while (i < n && UriClassOf(p[i]) == kUriToken) ++i;
    if (i < n && UriClassOf(p[i]) != kUriSlash && UriClassOf(p[i]) != kUriEnd) return std::nullopt;
    *seg = std::string_view(p + start, i - start);
    if (i == n || UriClassOf(p[i]) == kUriEnd) break;
  }
  return out;
}

std::optional<VaultUri> ParseVaultUri(std::string_view uri) {
  auto v = ParseVaultUriView(uri);
  if (!v) return std::nullopt;
  return VaultUri{AsciiLower(v->host), AsciiLower(v->collection), AsciiLower(v->name), AsciiLower(v->version)};
}

std::string VaultUriOfHost(std::string_view host) {
  std::string out = "https://";
  out += AsciiLower(host);
  out += '/';
  return out;
}

}  // namespace cmkwatch
