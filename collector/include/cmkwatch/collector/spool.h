// Spool: the collector's durable outbox of batches for the analyzer.
//
// Contract:
//  * Written BEFORE sending. A batch is committed to the spool file (SQLite,
//    WAL, synchronous=FULL) before Append returns, so once Append has
//    returned a sequence the batch survives a crash of the collector (or of
//    the machine) at any later moment; a crash during Append leaves either
//    the whole batch or nothing.
//  * Each batch gets the next per-collector sequence number: 1, 2, 3, ...
//    Sequences are monotonic across restarts and never reused, even after
//    acknowledgements have deleted every row (the next sequence is stored,
//    not derived from the rows).
//  * Unacknowledged batches stay until acknowledged: after a reconnect or a
//    restart the sender resends Pending() — the analyzer's insert is
//    idempotent on event id, so a resend costs nothing but bandwidth.
//  * Ack(sequence) deletes that batch. Acks may arrive in any order; an ack
//    for an unknown or already acknowledged sequence is harmless and says so.
//  * A size cap gives back-pressure, never drops: when the stored batches
//    plus a new one would exceed max_bytes, Append refuses it
//    (LimitExceeded), stores nothing, and hands the events back; the caller
//    stops reading its sources until acks free room, then retries.
//  * File checkpoints (a source's byte offset) are written in the SAME
//    transaction as the batch holding that source's records, so after a
//    restart the collector neither re-reads nor skips a byte: either the
//    batch and the new offset are both durable, or neither is.
//  * One spool belongs to one collector: the collector id is stored in the
//    file and opening it under another id is refused (two collectors sharing
//    a file would share one sequence). The file is also locked exclusively
//    while open, so a second process cannot open it.
//
// Threading: every method may be called from any thread; calls are
// serialized by an internal lock (one SQLite connection per spool).
// Errors are Status values; nothing throws.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cmkwatch/common/event.h"
#include "cmkwatch/common/status.h"

namespace cmkwatch::collector {

struct SpoolOptions {
  std::string collector_id;               // required; at most 256 bytes
  uint64_t max_bytes = uint64_t{1} << 30;  // cap on stored batch bytes (the file is somewhat larger)
};

// A source's read position, committed with the batch that carries the
// records up to it. The key names the source and may include its identity
// (device:inode, path) so a replaced file does not inherit an old offset.
struct SpoolCheckpoint {
  std::string source_key;  // at most 4096 bytes
  uint64_t offset = 0;     // at most INT64_MAX
  // What the offset belongs to (e.g. "device:inode" of a file), stored and
  // replaced with the offset, so a key stays one row however often the file
  // under it is replaced. At most 256 bytes.
  std::string identity = {};
  bool operator==(const SpoolCheckpoint&) const = default;
};

// A stored batch: its sequence and the complete wire message
// (wire::EncodeBatch), ready to send as is.
struct SpooledBatch {
  uint64_t sequence = 0;
  std::string bytes;
};

struct SpoolStats {
  uint64_t pending_batches = 0;
  uint64_t pending_events = 0;
  uint64_t pending_bytes = 0;  // encoded batch bytes, what max_bytes caps
  uint64_t max_bytes = 0;
  uint64_t next_sequence = 1;  // the sequence the next Append will get
  uint64_t unknown_acks = 0;   // acks since Open for sequences not pending
  // When the oldest pending batch was appended (wall clock, ns since the
  // Unix epoch), for the "spool oldest age" metric; empty when none pending.
  std::optional<int64_t> oldest_append_time;
};

class Spool {
 public:
  // Opens or creates the spool at `path` (a new file is created mode 0600:
  // it holds raw log records). Refuses (with a message saying why) a file
  // that is not a spool, one written by a newer schema, one belonging to
  // another collector id, and one already open elsewhere.
  static Result<std::unique_ptr<Spool>> Open(const std::string& path, const SpoolOptions& options);

  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // Stores one batch under the next sequence, with `checkpoints` in the same
  // transaction, and returns the sequence once it is durable. The vectors
  // are taken (moved from) only on success: when Append fails — notably
  // LimitExceeded because the spool is full — they are left as passed, so
  // the caller can retry the same batch after acks. A batch whose encoding
  // alone exceeds max_bytes, or that holds more items than the wire allows,
  // is refused with LimitExceeded too (it could never be stored or sent).
  // With `encoded`, a successful Append also hands back the batch's wire
  // message (the bytes Pending() would return), so a sender can send it
  // without reading it back from the file.
  Result<uint64_t> Append(std::vector<Event>&& events, std::vector<QuarantineEntry>&& quarantined,
                          const std::vector<SpoolCheckpoint>& checkpoints = {}, std::string* encoded = nullptr);

  // The offset last committed for `source_key`, or empty when none was.
  Result<std::optional<uint64_t>> Checkpoint(const std::string& source_key);

  // Every checkpoint whose key starts with `key_prefix` (a source's own
  // prefix), in key order, at most kMaxCheckpoints: what a source resumes
  // from after a restart.
  static constexpr size_t kMaxCheckpoints = 1'000'000;
  Result<std::vector<SpoolCheckpoint>> Checkpoints(const std::string& key_prefix);

  // Up to `max_batches` unacknowledged batches with sequence greater than
  // `after_sequence`, oldest first. A sender resends from 0 after a
  // (re)connect and pages on with the last sequence it sent.
  Result<std::vector<SpooledBatch>> Pending(size_t max_batches, uint64_t after_sequence = 0);

  // Deletes the batch `sequence`: true when it was pending, false (and
  // counted in Stats().unknown_acks) when it was unknown or already acked.
  Result<bool> Ack(uint64_t sequence);

  Result<SpoolStats> Stats();

  // SQLite's integrity check plus the spool's own invariants (stored sizes
  // match, no batch at or beyond the next sequence). Reads the whole file.
  Status CheckIntegrity();

  const std::string& path() const;
  const std::string& collector_id() const;

 private:
  struct Impl;
  explicit Spool(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;  // keeps sqlite3 out of this header
};

}  // namespace cmkwatch::collector
