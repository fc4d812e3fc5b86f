// Detection plus whichever parser it picks: never crashes; the padded and
// unpadded entry points agree; accepted events are canonical.
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cmkwatch;
  fuzz::PaddedInput input(data, size);
  auto padded = collector::ParseRecord(input.record());
  auto copied = collector::ParseRecord(input.view());
  CMK_FUZZ_CHECK(padded.ok() == copied.ok());
  if (padded.ok()) {
    fuzz::CheckEventInvariants(*padded, input.view());
    CMK_FUZZ_CHECK(*padded == *copied);
    // Detection agrees with the parse: the detected format parses it too.
    auto format = collector::DetectFormat(input.view());
    CMK_FUZZ_CHECK(format.ok());
  }
  return 0;
}
