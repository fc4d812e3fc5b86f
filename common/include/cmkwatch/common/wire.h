// The wire format between collector and analyzer (ZeroMQ message bodies).
//
// Every message starts with a 6-byte header: "CMKW", a version byte and a
// type byte. Then, for each type:
//
//   batch  := str collector_id, varint sequence,
//             varint n, event * n, varint m, quarantine * m
//   ack    := str collector_id, varint sequence, varint stored, varint duplicates
//   status := str collector_id, varint pending_batches, varint pending_bytes,
//             varint oldest_pending_age_ms, u8 blocked (0/1)
//
//   event  := str id, u8 source, svarint time, str resource_id, u8 kind,
//             str operation, u8 outcome, svarint http_status, str correlation_id,
//             actor, opt key, changes, str raw
//   str    := varint length, bytes          (lengths never trusted: checked
//                                            against what is left and a cap)
//   opt X  := u8 0 (absent) | u8 1, X        bool: u8 0 absent, 1 false, 2 true
//   varint := LEB128, minimal, at most 10 bytes; svarint: zig-zag
//
// The encoding is canonical — the decoder refuses non-minimal varints, flag
// bytes out of range, unknown enum values and trailing bytes — so
// Encode(Decode(b)) == b for every b that decodes, and
// Decode(Encode(x)) == x for every x. The decoder is a parser of outside
// input like any other: pure, bounded, never throws, fuzzed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cmkwatch/common/event.h"
#include "cmkwatch/common/status.h"

namespace cmkwatch::wire {

inline constexpr uint8_t kVersion = 1;
inline constexpr size_t kHeaderBytes = 6;
inline constexpr size_t kMaxMessageBytes = size_t{256} << 20;  // refuse before decoding
inline constexpr size_t kMaxItems = 100'000;                   // events or entries per batch
inline constexpr size_t kMaxStringBytes = size_t{16} << 20;    // any one string (raw records are ≤ 4 MiB)

enum class MessageType : uint8_t { kBatch = 1, kAck = 2, kStatus = 3 };

struct Batch {
  std::string collector_id;
  uint64_t sequence = 0;  // per collector, increasing; acks name it
  std::vector<Event> events;
  std::vector<QuarantineEntry> quarantined;
  bool operator==(const Batch&) const = default;
};

struct Ack {
  std::string collector_id;
  uint64_t sequence = 0;
  uint64_t stored = 0;      // events newly stored
  uint64_t duplicates = 0;  // events already in the timeline
  bool operator==(const Ack&) const = default;
};

// A collector's report on its spool, sent every few seconds (never
// acknowledged, never stored): what the analyzer's /metrics shows as each
// collector's spool depth and oldest unacknowledged age.
struct CollectorStatus {
  std::string collector_id;
  uint64_t pending_batches = 0;
  uint64_t pending_bytes = 0;
  uint64_t oldest_pending_age_ms = 0;  // 0 when nothing is pending
  bool blocked = false;                // reading paused: the spool is full
  bool operator==(const CollectorStatus&) const = default;
};

std::string EncodeBatch(const Batch& batch);
std::string EncodeStatus(const CollectorStatus& status);
Result<CollectorStatus> DecodeStatus(std::string_view message);
// One event alone, in the same canonical encoding: the bytes the analyzer's
// per-resource hash chain covers (raw record included).
std::string EncodeEvent(const Event& event);
std::string EncodeAck(const Ack& ack);

// The type of a message, after checking its header and size.
Result<MessageType> PeekType(std::string_view message);
Result<Batch> DecodeBatch(std::string_view message);
// The same, also giving each event's encoding: (*event_bytes)[i] is the part
// of `message` that encodes events[i], which, the encoding being canonical,
// equals EncodeEvent(events[i]). The views are valid while `message` is. The
// analyzer's timeline hashes and stores these bytes instead of encoding
// every event again.
Result<Batch> DecodeBatch(std::string_view message, std::vector<std::string_view>* event_bytes);
Result<Ack> DecodeAck(std::string_view message);

}  // namespace cmkwatch::wire
