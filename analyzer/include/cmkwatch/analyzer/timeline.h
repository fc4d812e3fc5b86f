// Timeline: the analyzer's durable, hash-chained store of every event.
//
// One SQLite file (WAL). Open() creates it or opens an existing one:
//  * journal_mode=WAL so readers (the CLI's `timeline`, `verify`) never block
//    the writer; synchronous=FULL because the analyzer acknowledges a batch
//    only after InsertBatch returns, and an ack promises the collector it may
//    forget the batch: the commit must be on disk, power loss included.
//  * A busy timeout (TimelineOptions::busy_timeout_ms) for other processes
//    reading or verifying the same file.
//  * PRAGMA application_id marks the file as a cmkwatch timeline and
//    PRAGMA user_version holds the schema version (kSchemaVersion). A file
//    from a newer cmkwatch is refused (Unsupported) rather than written with
//    an old idea of its schema. One of an older schema (version 1) is
//    migrated forward when TimelineOptions::migrate says so (the analyzer
//    and `cmkwatch migrate` do), in one transaction, so a failed or
//    interrupted migration leaves the file as it was; otherwise it is
//    refused (Unsupported) and left untouched: reading tools (`verify`,
//    `timeline`) never change a file someone may be holding as evidence. A
//    SQLite file of something else is refused (InvalidArgument).
//
// Schema (version 2):
//  resources     one row per resource: id (INTEGER PRIMARY KEY, what
//                events name it by), resource_id UNIQUE (the canonical ARM
//                id), and its chain head: last seq, last hash, length
//                (events ever chained, pruned ones included).
//  events        seq (INTEGER PRIMARY KEY AUTOINCREMENT: never reused, so
//                chain order and anchors survive deletes), resource
//                (resources.id), time_ns, event_key (the first 8 bytes of
//                SHA-256(event_id): the dedup index), event_id, the fields
//                queries filter on (source, kind, operation, outcome, http
//                status, correlation id, actor), collector_id, received_ns,
//                and the event itself: its canonical wire encoding
//                (wire::EncodeEvent, raw record included) as `body`,
//                zstd-compressed (codec 1, or 2 with a dictionary trained on
//                the file's first events and stored in `dictionaries`) with
//                its uncompressed size in `body_size`; prev_seq (the seq of
//                the row before it in its chain, 0 at the chain's start: what
//                tells a removed row from a moved one) and hash.
//                Indexes on (resource, time_ns) and on event_key.
//  chain_anchors per resource that retention pruned: the last pruned seq,
//                its hash, how many were pruned.
//  quarantine    records a collector could not read, with where and why.
//  collectors    per collector: last committed batch sequence and counters.
//  dictionaries  the zstd dictionaries bodies name.
//
// Hash chain. Each resource has its own chain, in insertion order:
//   hash = SHA-256(previous row's hash || canonical event bytes)
// with 32 zero bytes before a resource's first event (or the anchor's hash
// after pruning). The verifier walks each chain in seq order and carries
// the previous hash itself, so rows need not store it. The hash covers the uncompressed canonical
// bytes, so compression can change without touching the chain. Insertion
// order, not event time: a late event (an Activity Log record arrives minutes
// after a Key Vault audit record of the same second) is appended, never
// spliced into the past, so a committed hash never changes; queries sort by
// event time instead. The chain proves that no stored row was altered,
// removed or reordered since it was written — not who wrote it: anyone who
// can write the file can also recompute the chain. Export the chain heads
// (e.g. `cmkwatch verify` output) elsewhere to pin them.
//
// Threading: one Timeline owns one connection and is not thread-safe; use it
// from one thread (other processes may read the file concurrently). A
// writing Timeline keeps resources' keys and chain heads in memory between
// batches; should another connection write the file meanwhile, it notices
// (PRAGMA data_version) and reads them again.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cmkwatch/analyzer/alert.h"
#include "cmkwatch/common/event.h"
#include "cmkwatch/common/status.h"
#include "cmkwatch/common/wire.h"

namespace cmkwatch::analyzer {

inline constexpr int64_t kSchemaVersion = 2;
// Largest number of events one query returns (bounded memory); page by time.
inline constexpr size_t kMaxQueryEvents = 1'000'000;

struct TimelineOptions {
  int busy_timeout_ms = 5000;
  // An event whose canonical encoding is larger is refused (LimitExceeded):
  // raw records are at most 4 MiB (collector limit), so 8 MiB leaves room
  // for the normalized fields.
  size_t max_event_bytes = size_t{8} << 20;
  // zstd-compress stored event bodies (the hash is over the uncompressed
  // bytes, so this can change at any time). The first 2000 bodies train a
  // dictionary that every later body is compressed against (body_codec.h);
  // figures are in bench/RESULTS.md.
  bool compress = true;
  int compression_level = 1;  // zstd 1..9 (higher levels cost CPU for little gain on small records)
  // Work out each event's dedup key and compressed body on a helper thread,
  // ahead of the inserts (the storing thread takes over any the helper has
  // not started, so this never waits for idle work). false: all on the
  // storing thread, for a machine with one core.
  bool helper_thread = true;
  // true: every commit is on disk before it returns (SQLite synchronous
  // FULL), which is what an ack to a collector promises. false: a commit
  // survives the process crashing but maybe not a power loss (NORMAL in
  // WAL mode: the database stays consistent, the last commits may be
  // gone), for bulk loads that can simply be run again (replay), which
  // call Checkpoint() at the end.
  bool durable_commits = true;
  // A bulk load into a new file that nobody else opens until it is done
  // (replay builds its database aside and renames it into place): the
  // rollback journal in memory instead of the WAL, no syncs, the
  // (resource, time) index built once by FinishBulkLoad() rather than row
  // by row, and a commit every bulk_commit_events events rather than every
  // call (each call is still stored entirely or not at all; the in-memory
  // journal grows with the span). A crash leaves the file unusable, which
  // is why it must be built aside; a Timeline closed before FinishBulkLoad
  // keeps only what was committed. Open refuses a file that holds anything.
  bool bulk_load = false;
  size_t bulk_commit_events = 10'000;  // 1 .. 1,000,000
  // With bulk_load: the caller promises never to hand the load an event id
  // twice (replay drops repeats as they leave its sorter). Each insert then
  // skips the dedup lookup, and the event-key index is built once by
  // FinishBulkLoad, which also checks the promise and fails, naming the
  // id, when it was broken.
  bool bulk_ids_unique = false;

  // Migrate a timeline of an older schema to kSchemaVersion on Open
  // (Timeline::migration() then says so); false refuses it, unchanged.
  bool migrate = false;
};

// What Open did to a file of an older schema.
struct SchemaMigration {
  int64_t from = 0;
  int64_t to = 0;
  uint64_t events = 0;  // rows carried over
  double seconds = 0;
};

struct BatchResult {
  uint64_t stored = 0;       // events newly in the timeline
  uint64_t duplicates = 0;   // events already there (by event id), not stored again
  uint64_t quarantined = 0;  // quarantine entries newly stored
  bool resend = false;       // sequence <= the collector's last committed one
  // stored and duplicates split by Event::source (index = the enum value),
  // for per-source metrics.
  std::array<uint64_t, 4> stored_by_source{};
  std::array<uint64_t, 4> duplicates_by_source{};
  bool operator==(const BatchResult&) const = default;
};

enum class ChainProblem : uint8_t {
  kNone,
  kAlteredBytes,    // a body no longer hashes to its stored hash, or does not decode
  kAlteredColumns,  // an indexed column disagrees with the event in the body
  kMissingRow,      // a row's prev_seq names no row of the chain: a row was removed
  kReorderedRows,   // a row's prev_seq names a row that is not its predecessor, or holds another row's body
  kHeadMismatch,    // a resource's chain head disagrees with the rows (last row, hash or length), or is gone
};
std::string_view ToString(ChainProblem p);

struct VerifyReport {
  uint64_t resources = 0;  // chains checked
  uint64_t events = 0;     // rows whose hash was recomputed
  // The first problem found (in seq order), or kNone.
  ChainProblem problem = ChainProblem::kNone;
  std::string resource_id;
  int64_t seq = 0;        // the row, 0 when the problem is the head itself
  std::string event_id;   // as the row's column says, when there is a row
  std::string detail;     // an operator-readable explanation
};

struct TimelineStats {
  uint64_t events = 0;       // stored now
  uint64_t resources = 0;    // chains
  uint64_t quarantined = 0;  // stored now
  uint64_t duplicates = 0;   // ever refused as duplicates
  uint64_t batches = 0;      // ever committed (resends included)
  uint64_t collectors = 0;
  uint64_t pruned = 0;       // events removed by retention
};

// See InsertBatches.
class StoredEventsHook {
 public:
  virtual ~StoredEventsHook() = default;
  virtual std::vector<AlertChange> OnStored(const std::vector<const Event*>& events) = 0;
};

class Timeline {
 public:
  ~Timeline();
  Timeline(const Timeline&) = delete;
  Timeline& operator=(const Timeline&) = delete;

  static Result<std::unique_ptr<Timeline>> Open(const std::string& path, const TimelineOptions& options);
  // Set when Open migrated the file from an older schema.
  const std::optional<SchemaMigration>& migration() const;

  // Stores a batch in ONE transaction: all of it or, on any error, none of it.
  // Events are idempotent on event id: one already stored (from an earlier
  // batch or earlier in this one) is counted as a duplicate and leaves its
  // chain untouched. Quarantine entries are idempotent on their content
  // (collector, path, offset, line, format, reason). The collector's last
  // sequence becomes max(last, batch.sequence); a batch at or below it is a
  // resend (its events come back as duplicates). An event larger than
  // max_event_bytes refuses the whole batch (LimitExceeded), naming it.
  // On success the batch is durable: acknowledge it.
  Result<BatchResult> InsertBatch(const wire::Batch& batch, int64_t received_ns);
  // Several batches in ONE transaction (group commit: one fsync for all), as
  // if each had been inserted in turn; one result per batch, in order. Any
  // error rolls back all of them — the caller may then insert them one by
  // one to find which one is refused.
  // With a hook, the hook is told after each batch which of its events were
  // stored for the first time (batch order), and the alert changes it
  // returns are stored in the same transaction (the alerts tables): an
  // alert commits with its evidence or not at all.
  Result<std::vector<BatchResult>> InsertBatches(const std::vector<const wire::Batch*>& batches,
                                                 int64_t received_ns, StoredEventsHook* hook = nullptr);
  // A batch with each event's canonical encoding already at hand, as
  // wire::DecodeBatch(message, &event_bytes) gives it: (*event_bytes)[i]
  // must be wire::EncodeEvent(batch->events[i]) (debug builds check it).
  // Both are borrowed for the call only.
  struct EncodedBatch {
    const wire::Batch* batch = nullptr;
    const std::vector<std::string_view>* event_bytes = nullptr;  // null: the timeline encodes
  };
  // InsertBatches, hashing and storing the given bytes instead of encoding
  // every event again (the analyzer's path: it has the message in hand).
  Result<std::vector<BatchResult>> InsertEncodedBatches(const std::vector<EncodedBatch>& batches,
                                                        int64_t received_ns, StoredEventsHook* hook = nullptr);

  // Every stored event in the order it was stored (seq), decoded: what the
  // analyzer replays into its rules at start. Stops at the first error
  // `fn` returns.
  Status ForEachEvent(const std::function<Status(const Event&)>& fn);

  // Moves the write-ahead log into the database file and syncs it: after
  // it, everything committed is on disk whatever durable_commits said.
  Status Checkpoint();
  // Ends a bulk load (TimelineOptions::bulk_load): builds the deferred
  // indexes, puts the file in WAL mode and syncs it, after which it is a
  // timeline like any other. Nothing to do for a timeline not bulk-loaded.
  // Corruption when bulk_ids_unique was set and an id came twice.
  Status FinishBulkLoad();

  // Alert changes that no batch carried (the rules' time-based checks), in
  // their own transaction.
  Status StoreAlertChanges(const std::vector<AlertChange>& changes, int64_t now_ns);

  // Stored alerts, ordered by first seen; only `status` when given.
  Result<std::vector<Alert>> Alerts(std::optional<AlertStatus> status, size_t limit);

  // Re-walks every chain from its start (or its retention anchor) in seq
  // order, recomputing each hash from the stored bytes and checking every
  // head. Ok when intact; Corruption naming the first broken resource and
  // row when not (details in *report, which may be null); other codes when
  // the database itself could not be read.
  Status Verify(VerifyReport* report);
  Status Verify(const std::string& resource_id, VerifyReport* report);

  // Events of one resource (resource_id as stored, "" included) with
  // from_ns <= time < to_ns, in event-time order (ties in insertion order),
  // at most `limit` (1..kMaxQueryEvents), decoded from the stored bytes. A
  // body that does not decode is Corruption: run Verify.
  Result<std::vector<Event>> EventsFor(const std::string& resource_id, int64_t from_ns, int64_t to_ns, size_t limit);
  // The same over every resource (a scan of the table, not the index).
  Result<std::vector<Event>> EventsBetween(int64_t from_ns, int64_t to_ns, size_t limit);

  Result<std::vector<QuarantineEntry>> Quarantined(size_t limit);

  Result<TimelineStats> Stats();

  // Every resource's chain head, (resource id, SHA-256 of its last event),
  // sorted by resource id: two timelines holding the same events in the
  // same per-resource order have the same heads (replay's run hash).
  Result<std::vector<std::pair<std::string, std::string>>> ChainHeads();

  // Retention: deletes events with time < cutoff_ns, in one transaction.
  // Chains stay verifiable: a resource's pruned prefix is replaced by an
  // anchor (last pruned seq and its hash) from which Verify continues. Only
  // a prefix of each chain (in insertion order) is pruned — an old event
  // stored after a newer one waits until everything before it goes — so the
  // surviving rows always form an unbroken chain. Returns events deleted.
  Result<uint64_t> PruneBefore(int64_t cutoff_ns);

 private:
  struct Impl;
  explicit Timeline(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cmkwatch::analyzer
