// The small text parsers of common: timestamps round-trip through
// FormatTimestamp; canonical ids and vault URIs are stable.
#include "cmkwatch/common/resource_id.h"
#include "cmkwatch/common/time.h"
#include "fuzz_util.h"

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
  if (auto u = ParseVaultUri(text)) {
    CMK_FUZZ_CHECK(!u->host.empty());
    CMK_FUZZ_CHECK(AsciiLower(u->host) == u->host);
  }
  return 0;
}
