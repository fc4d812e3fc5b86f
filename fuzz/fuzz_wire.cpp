// The wire decoder on arbitrary bytes: never crashes, and because the
// encoding is canonical, whatever decodes re-encodes to the very same bytes
// (so Decode(Encode(x)) == x for every decoded x), and each event's reported
// bytes are its own encoding (what the analyzer's timeline stores).
#include "cmkwatch/common/wire.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cmkwatch::wire;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (auto batch = DecodeBatch(bytes); batch.ok()) {
    const std::string again = EncodeBatch(*batch);
    CMK_FUZZ_CHECK(again == bytes);
    std::vector<std::string_view> event_bytes;
    auto round = DecodeBatch(again, &event_bytes);
    CMK_FUZZ_CHECK(round.ok() && *round == *batch);
    CMK_FUZZ_CHECK(event_bytes.size() == batch->events.size());
    for (size_t i = 0; i < event_bytes.size(); ++i) CMK_FUZZ_CHECK(event_bytes[i] == EncodeEvent(batch->events[i]));
  }
  if (auto ack = DecodeAck(bytes); ack.ok()) {
    CMK_FUZZ_CHECK(EncodeAck(*ack) == bytes);
  }
  if (auto status = DecodeStatus(bytes); status.ok()) {
    CMK_FUZZ_CHECK(EncodeStatus(*status) == bytes);
  }
  return 0;
}
