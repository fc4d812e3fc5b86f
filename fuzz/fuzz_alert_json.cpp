// The alert decoder (what the analyzer and `cmkwatch alerts` read back from
// the alerts table, which whoever can write the file controls) on arbitrary
// text: never crashes, and what decodes serializes stably: encode(decode(x))
// decodes again to something that encodes the same.
#include "cmkwatch/analyzer/alert.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cmkwatch::analyzer;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto alert = AlertFromJson(text);
  if (!alert.ok()) return 0;
  const std::string once = AlertToJson(*alert);
  auto again = AlertFromJson(once);
  CMK_FUZZ_CHECK(again.ok());
  CMK_FUZZ_CHECK(AlertToJson(*again) == once);
  return 0;
}
