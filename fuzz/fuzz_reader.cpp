// The whole read path (gzip sniffing and inflating, framing, detection,
// parsing, quarantine) on arbitrary bytes: never crashes, every record is
// either an event or a quarantine entry with a reason.
#include "cmkwatch/collector/reader.h"
#include "fuzz_util.h"

namespace {

struct Handler final : cmkwatch::collector::RecordHandler {
  void OnEvent(cmkwatch::Event&& e, const cmkwatch::collector::RecordLocation&) override {
    CMK_FUZZ_CHECK(!e.id.empty());
  }
  void OnQuarantine(cmkwatch::collector::Quarantined&& q) override { CMK_FUZZ_CHECK(!q.reason.empty()); }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cmkwatch::collector;
  ReadOptions options;
  options.chunk_bytes = 64;  // many chunk boundaries
  options.limits.max_record_bytes = 4096;
  Handler handler;
  ReadStats stats;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto st = ReadBuffer(text, "fuzz", options, handler, stats);
  CMK_FUZZ_CHECK(st.ok());
  return 0;
}
