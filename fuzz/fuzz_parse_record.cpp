// Detection plus whichever parser it picks: never crashes; what the
// unpadded entry point accepts the padded one accepts identically (the
// unpadded one also checks depth, which the framer does for padded input);
// accepted events are canonical.
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cmkwatch;
  fuzz::PaddedInput input(data, size);
  auto padded = collector::ParseRecord(input.record());
  auto copied = collector::ParseRecord(input.view());
  if (copied.ok()) {
    CMK_FUZZ_CHECK(padded.ok());
    CMK_FUZZ_CHECK(*padded == *copied);
  }
  if (padded.ok()) {
    fuzz::CheckEventInvariants(*padded, input.view());
    // Detection agrees with the parse: the detected format parses it too.
    auto format = collector::DetectFormat(input.view());
    CMK_FUZZ_CHECK(format.ok());
  }
  return 0;
}
