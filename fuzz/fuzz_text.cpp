// The small text parsers of common: timestamps round-trip through
// FormatTimestamp; canonical ids and vault URIs are stable, and the
// single-pass vault URI parser agrees with the plain reading of its contract
// below (cut the query, split host and path, check each part).
#include <optional>
#include <string_view>

#include "cmkwatch/common/resource_id.h"
#include "cmkwatch/common/time.h"
#include "fuzz_util.h"

namespace {

bool IsToken(std::string_view s) {
  for (const char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '.' || c == '_' || c == '~';
    if (!ok) return false;
  }
  return true;
}

std::string_view TrimWs(std::string_view s) {
  auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return s;
}

// ParseVaultUriView's contract (resource_id.h), step by step.
std::optional<cmkwatch::VaultUriView> ReferenceVaultUri(std::string_view uri) {
  uri = TrimWs(uri);
  if (uri.size() <= 8 || !cmkwatch::EqualsIgnoreCase(uri.substr(0, 8), "https://")) return std::nullopt;
  uri.remove_prefix(8);
  uri = uri.substr(0, uri.find_first_of("?#"));
  const size_t slash = uri.find('/');
  std::string_view host = uri.substr(0, slash);
  host = host.substr(0, host.find(':'));
  if (host.empty() || !IsToken(host)) return std::nullopt;
  cmkwatch::VaultUriView out;
  out.host = host;
  if (slash == std::string_view::npos) return out;
  std::string_view* const segs[3] = {&out.collection, &out.name, &out.version};
  std::string_view path = uri.substr(slash);
  int n = 0;
  while (!path.empty() && n < 3) {
    const size_t end = path.find('/');
    const std::string_view seg = path.substr(0, end);
    if (!seg.empty()) {
      if (!IsToken(seg)) return std::nullopt;
      *segs[n++] = seg;
    }
    if (end == std::string_view::npos) break;
    path.remove_prefix(end + 1);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cmkwatch;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto t = ParseTimestamp(text)) {
    const std::string formatted = FormatTimestamp(*t);
    CMK_FUZZ_CHECK(ParseTimestamp(formatted) == t);
  }
  const std::string id = CanonicalResourceId(text);
  CMK_FUZZ_CHECK(CanonicalResourceId(id) == id);
  (void)KindOfResourceId(id);
  (void)VaultIdOf(id);
  const auto fast = ParseVaultUriView(text);
  const auto reference = ReferenceVaultUri(text);
  CMK_FUZZ_CHECK(fast.has_value() == reference.has_value());
  if (fast && reference) {
    CMK_FUZZ_CHECK(fast->host == reference->host && fast->collection == reference->collection &&
                   fast->name == reference->name && fast->version == reference->version);
  }
  if (auto u = ParseVaultUri(text)) {
    CMK_FUZZ_CHECK(!u->host.empty());
    CMK_FUZZ_CHECK(AsciiLower(u->host) == u->host);
  }
  return 0;
}
