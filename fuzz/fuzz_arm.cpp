// ParseArm on arbitrary bytes: never crashes, and what it accepts is canonical.
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cmkwatch::fuzz::PaddedInput input(data, size);
  auto result = cmkwatch::collector::ParseArm(input.record());
  if (result.ok()) cmkwatch::fuzz::CheckEventInvariants(*result, input.view());
  return 0;
}
