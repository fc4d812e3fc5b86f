// The wire decoder on arbitrary bytes: never crashes, and because the
// encoding is canonical, whatever decodes re-encodes to the very same bytes
// (so Decode(Encode(x)) == x for every decoded x).
#include "cmkwatch/common/wire.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cmkwatch::wire;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (auto batch = DecodeBatch(bytes); batch.ok()) {
    const std::string again = EncodeBatch(*batch);
    CMK_FUZZ_CHECK(again == bytes);
    auto round = DecodeBatch(again);
    CMK_FUZZ_CHECK(round.ok() && *round == *batch);
  }
  if (auto ack = DecodeAck(bytes); ack.ok()) {
    CMK_FUZZ_CHECK(EncodeAck(*ack) == bytes);
  }
  if (auto status = DecodeStatus(bytes); status.ok()) {
    CMK_FUZZ_CHECK(EncodeStatus(*status) == bytes);
  }
  return 0;
}
