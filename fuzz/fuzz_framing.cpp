// The framer on arbitrary bytes, fed whole and in chunks whose sizes come
// from the input: never crashes, never hands out a record over the limit,
// and the chunking never changes what comes out.
#include <vector>

#include "cmkwatch/collector/framing.h"
#include "fuzz_util.h"

namespace {

struct Out final : cmkwatch::collector::FramerSink {
  std::vector<std::string> records;
  std::vector<uint64_t> offsets;
  size_t errors = 0;
  size_t limit = 0;
  void OnRecord(const cmkwatch::collector::FramedRecord& r) override {
    CMK_FUZZ_CHECK(r.record.bytes.size() <= limit);
    CMK_FUZZ_CHECK(!r.record.bytes.empty() && r.record.bytes.front() == '{' && r.record.bytes.back() == '}');
    records.emplace_back(r.record.bytes);
    offsets.push_back(r.offset);
  }
  void OnError(const cmkwatch::collector::FrameError& e) override {
    CMK_FUZZ_CHECK(!e.reason.empty());
    ++errors;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cmkwatch::collector;
  if (size < 1) return 0;
  const size_t chunk = 1 + data[0] % 17;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  FramerOptions options;
  options.max_record_bytes = 512;  // small, so the limit path is exercised
  options.max_depth = 16;

  Out whole;
  whole.limit = options.max_record_bytes;
  {
    Framer f(whole, options);
    f.Feed(text);
    f.Finish();
  }
  Out split;
  split.limit = options.max_record_bytes;
  {
    Framer f(split, options);
    for (size_t i = 0; i < text.size(); i += chunk) f.Feed(text.substr(i, chunk));
    f.Finish();
  }
  CMK_FUZZ_CHECK(whole.records == split.records);
  CMK_FUZZ_CHECK(whole.offsets == split.offsets);
  CMK_FUZZ_CHECK(whole.errors == split.errors);
  return 0;
}
