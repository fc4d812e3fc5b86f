// Format detection on arbitrary bytes: never crashes, and is deterministic.
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cmkwatch;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto first = collector::DetectFormat(text);
  auto second = collector::DetectFormat(text);
  CMK_FUZZ_CHECK(first.ok() == second.ok());
  if (first.ok()) CMK_FUZZ_CHECK(*first == *second && *first != collector::Format::kAuto);
  return 0;
}
