// The framer on arbitrary bytes, fed whole and in chunks whose sizes come
// from the input: never crashes, never hands out a record over the limit,
// and the chunking never changes what comes out. Chunks of 1 to 17 bytes
// leave everything to the byte-at-a-time loop (the block scanner needs 64
// bytes), so comparing them with the whole input also compares the block
// scanner with the byte loop; chunks of 64 to 191 bytes cut through blocks.
#include <tuple>
#include <vector>

#include "cmkwatch/collector/framing.h"
#include "fuzz_util.h"

namespace {

struct Out final : cmkwatch::collector::FramerSink {
  std::vector<std::string> records;
  std::vector<uint64_t> offsets;
  std::vector<std::tuple<uint64_t, bool>> lines_compact;
  std::vector<std::tuple<uint64_t, uint64_t, std::string>> error_list;
  size_t errors = 0;
  size_t limit = 0;
  void OnRecord(const cmkwatch::collector::FramedRecord& r) override {
    CMK_FUZZ_CHECK(r.record.bytes.size() <= limit);
    CMK_FUZZ_CHECK(!r.record.bytes.empty() && r.record.bytes.front() == '{' && r.record.bytes.back() == '}');
    records.emplace_back(r.record.bytes);
    offsets.push_back(r.offset);
    lines_compact.emplace_back(r.line, r.record.compact);
  }
  void OnError(const cmkwatch::collector::FrameError& e) override {
    CMK_FUZZ_CHECK(!e.reason.empty());
    // An incomplete BOM is reported at the chunk it is found in, so its
    // offset depends on the chunking; every other error's does not.
    const bool bom = e.reason.rfind("incomplete UTF-8", 0) == 0;
    error_list.emplace_back(bom ? 0 : e.offset, e.line, e.reason);
    ++errors;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cmkwatch::collector;
  if (size < 1) return 0;
  const size_t chunk = 1 + data[0] % 17;
  const size_t block_chunk = 64 + (data[0] * 37u) % 128;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  FramerOptions options;
  options.max_record_bytes = 512;  // small, so the limit path is exercised
  options.max_depth = 16;
  // Small too, so strings reach it inside records the block scanner reads.
  options.max_string_bytes = 16 + 24 * (data[0] / 17u);

  const auto frame = [&](size_t chunk_bytes) {
    Out out;
    out.limit = options.max_record_bytes;
    Framer f(out, options);
    if (chunk_bytes == 0) {
      f.Feed(text);
    } else {
      for (size_t i = 0; i < text.size(); i += chunk_bytes) f.Feed(text.substr(i, chunk_bytes));
    }
    f.Finish();
    return out;
  };
  const Out whole = frame(0);
  for (const size_t c : {chunk, block_chunk}) {
    const Out split = frame(c);
    CMK_FUZZ_CHECK(whole.records == split.records);
    CMK_FUZZ_CHECK(whole.offsets == split.offsets);
    CMK_FUZZ_CHECK(whole.lines_compact == split.lines_compact);
    CMK_FUZZ_CHECK(whole.error_list == split.error_list);
    CMK_FUZZ_CHECK(whole.errors == split.errors);
  }
  return 0;
}
