#include "cmkwatch/analyzer/timeline.h"

#include <cassert>
#include <chrono>

#include <limits>
#include <map>
#include <unordered_map>
#include <utility>

#include "alert_store.h"
#include "body_codec.h"
#include "event_prep.h"
#include "sha256.h"
#include "sqlite/sqlite.h"

namespace cmkwatch::analyzer {
namespace {


using sqlite::Statement;

// 'CMKW': lets Open tell our file from any other SQLite database.
constexpr int64_t kApplicationId = 0x434D4B57;

constexpr size_t kHashBytes = internal::kSha256Bytes;
const std::string kZeroHash(kHashBytes, '\0');

using internal::BodyCodec;
using internal::EventPrep;
using internal::Sha256Context;

// Reading is bounded by what could ever have been stored (one event fits in
// one wire message), not by today's max_event_bytes, which may have been
// lowered since: a legitimately stored event must still verify.
constexpr size_t kMaxStoredEventBytes = wire::kMaxMessageBytes;

// Schema version 2. Enumerations are stored as their wire bytes (stable by
// the wire format's versioning), not as text: smaller rows.
//
// Why integers where version 1 had text (bench/RESULTS.md, 2026-12-01):
//  * A resource id is ~150 bytes; stored in every row and again in the
//    (resource, time) index it was the largest part of a row after the body.
//    Rows name their resource by resources.id instead, and the chain head
//    lives in that same row (version 1's chain_heads).
//  * The UNIQUE index on the event id text took random inserts of ~50-byte
//    keys that outgrew the page cache past a few hundred thousand events.
//    Dedup goes through a non-unique index on event_key, the first 8 bytes
//    of SHA-256(event id): 8-byte keys, and a hit (a resend, or a 2^-64
//    collision) is settled by comparing the event_id column itself.
//  * prev_hash (32 bytes) was only ever compared with the hash of the row
//    before it in the chain, which the verifier has in hand. What it told
//    besides (a removed row vs a moved one) the predecessor's seq tells just
//    as well in a few bytes: prev_seq. The chain itself is unchanged:
//    hash = SHA-256(predecessor's hash || canonical bytes).
// events.resource is not declared a FOREIGN KEY: SQLite checks those only
// when asked per connection, and verify checks it on every walk anyway.
//
// In three parts, which a new file gets in one go: the migration from
// version 1 creates the chain tables, fills them, and only then builds the
// indexes (cheaper than keeping them up to date row by row); the other
// tables it keeps as they are.
constexpr const char* kChainTablesV2 = R"sql(
CREATE TABLE resources (
  id          INTEGER PRIMARY KEY,
  resource_id TEXT NOT NULL UNIQUE,
  last_seq    INTEGER NOT NULL,
  last_hash   BLOB NOT NULL,
  length      INTEGER NOT NULL
);
CREATE TABLE events (
  seq             INTEGER PRIMARY KEY AUTOINCREMENT,
  resource        INTEGER NOT NULL,
  time_ns         INTEGER NOT NULL,
  event_key       INTEGER NOT NULL,
  event_id        TEXT NOT NULL,
  source          INTEGER NOT NULL,
  kind            INTEGER NOT NULL,
  operation       TEXT NOT NULL,
  outcome         INTEGER NOT NULL,
  http_status     INTEGER NOT NULL,
  correlation_id  TEXT NOT NULL,
  actor_object_id TEXT NOT NULL,
  actor_app_id    TEXT NOT NULL,
  actor_upn       TEXT NOT NULL,
  actor_ip        TEXT NOT NULL,
  collector_id    TEXT NOT NULL,
  received_ns     INTEGER NOT NULL,
  codec           INTEGER NOT NULL,
  body_size       INTEGER NOT NULL,
  body            BLOB NOT NULL,
  prev_seq        INTEGER NOT NULL,
  hash            BLOB NOT NULL
);
CREATE TABLE chain_anchors (
  resource  INTEGER PRIMARY KEY,
  last_seq  INTEGER NOT NULL,
  last_hash BLOB NOT NULL,
  pruned    INTEGER NOT NULL
);
)sql";
// The (resource, time) index serves reads only; a bulk load builds it at
// the end (FinishBulkLoad), hence IF NOT EXISTS. The event-key index is
// the dedup lookup of every insert, so it is there from the start, except
// in a bulk load whose caller keeps ids unique (bulk_ids_unique): building
// it at the end sorts the keys once instead of inserting each at a random
// place, and that and the lookup it spares were a good part of a
// replay's storing (bench/RESULTS.md, 2026-12-02 session 15).
constexpr const char* kResourceTimeIndexV2 =
    "CREATE INDEX IF NOT EXISTS events_by_resource_time ON events (resource, time_ns);";
constexpr const char* kEventKeyIndexV2 = "CREATE INDEX events_by_key ON events (event_key);";
// Unchanged since version 1, whose files the migration gives what they lack
// (dictionaries came during version 1), hence IF NOT EXISTS.
constexpr const char* kOtherTablesV2 = R"sql(
CREATE TABLE IF NOT EXISTS quarantine (
  id           INTEGER PRIMARY KEY,
  collector_id TEXT NOT NULL,
  path         TEXT NOT NULL,
  offset       INTEGER NOT NULL,
  line         INTEGER NOT NULL,
  format       TEXT NOT NULL,
  reason       TEXT NOT NULL,
  received_ns  INTEGER NOT NULL,
  UNIQUE (collector_id, path, offset, line, format, reason)
);
CREATE TABLE IF NOT EXISTS collectors (
  collector_id     TEXT PRIMARY KEY,
  last_sequence    INTEGER NOT NULL,
  batches          INTEGER NOT NULL,
  stored           INTEGER NOT NULL,
  duplicates       INTEGER NOT NULL,
  quarantined      INTEGER NOT NULL,
  last_received_ns INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dictionaries (
  id         INTEGER PRIMARY KEY,  -- the zstd dictionary id its frames name
  created_ns INTEGER NOT NULL,
  dict       BLOB NOT NULL
);
)sql";
constexpr const char* kInsertDictionary = "INSERT INTO dictionaries (id, created_ns, dict) VALUES (?1, ?2, ?3)";
constexpr const char* kSelectDictionary = "SELECT dict FROM dictionaries WHERE id = ?1";
constexpr const char* kLatestDictionary = "SELECT dict FROM dictionaries ORDER BY created_ns DESC, id DESC LIMIT 1";

constexpr const char* kSelectCollector = "SELECT last_sequence FROM collectors WHERE collector_id = ?1";
constexpr const char* kSelectResource =
    "SELECT id, last_seq, last_hash, length FROM resources WHERE resource_id = ?1";
constexpr const char* kInsertResource =
    "INSERT INTO resources (resource_id, last_seq, last_hash, length) VALUES (?1, 0, ?2, 0)";
constexpr const char* kUpdateHead = "UPDATE resources SET last_seq = ?2, last_hash = ?3, length = ?4 WHERE id = ?1";
constexpr const char* kEventIdsOfKey = "SELECT seq, event_id FROM events WHERE event_key = ?1";
constexpr const char* kInsertEvent = R"sql(
INSERT INTO events (resource, time_ns, event_key, event_id, source, kind, operation, outcome, http_status,
                    correlation_id, actor_object_id, actor_app_id, actor_upn, actor_ip,
                    collector_id, received_ns, codec, body_size, body, prev_seq, hash)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21))sql";
constexpr const char* kInsertQuarantine = R"sql(
INSERT INTO quarantine (collector_id, path, offset, line, format, reason, received_ns)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
ON CONFLICT DO NOTHING)sql";
constexpr const char* kUpsertCollector = R"sql(
INSERT INTO collectors (collector_id, last_sequence, batches, stored, duplicates, quarantined, last_received_ns)
VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6)
ON CONFLICT (collector_id) DO UPDATE SET
  last_sequence = max(last_sequence, excluded.last_sequence),
  batches = batches + 1,
  stored = stored + excluded.stored,
  duplicates = duplicates + excluded.duplicates,
  quarantined = quarantined + excluded.quarantined,
  last_received_ns = excluded.last_received_ns)sql";

// Columns read back for verification and queries, in this order.
#define CMK_EVENT_COLUMNS                                                                                       \
  "seq, event_id, resource, time_ns, source, kind, operation, outcome, http_status, correlation_id, "          \
  "actor_object_id, actor_app_id, actor_upn, actor_ip, codec, body_size, body, prev_seq, hash, event_key"
enum Col : int {
  kColSeq,
  kColEventId,
  kColResource,
  kColTime,
  kColSource,
  kColKind,
  kColOperation,
  kColOutcome,
  kColHttpStatus,
  kColCorrelationId,
  kColActorObjectId,
  kColActorAppId,
  kColActorUpn,
  kColActorIp,
  kColCodec,
  kColBodySize,
  kColBody,
  kColPrevSeq,
  kColHash,
  kColEventKey,
};
constexpr const char* kScanAll = "SELECT " CMK_EVENT_COLUMNS " FROM events ORDER BY seq";
constexpr const char* kScanResource = "SELECT " CMK_EVENT_COLUMNS " FROM events WHERE resource = ?1 ORDER BY seq";
constexpr const char* kEventsOfResource = "SELECT " CMK_EVENT_COLUMNS
                                          " FROM events WHERE resource = ?1 AND time_ns >= ?2 AND time_ns < ?3"
                                          " ORDER BY time_ns, seq LIMIT ?4";
constexpr const char* kEventsOfAll = "SELECT " CMK_EVENT_COLUMNS
                                     " FROM events WHERE time_ns >= ?2 AND time_ns < ?3"
                                     " ORDER BY time_ns, seq LIMIT ?4";
constexpr const char* kRowOfResource = "SELECT 1 FROM events WHERE seq = ?1 AND resource = ?2";

// Resources whose id and chain head the writer keeps in memory, at most
// (~250 bytes each): past this the cache starts again, heads flushed first.
constexpr size_t kMaxCachedResources = 65'536;

std::string Hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xF]);
  }
  return out;
}


// Schema 1 to 2, inside the caller's write transaction: any failure rolls
// the file back to exactly what it was. What changed is in kChainTablesV2's
// comment; what did not is the chain: rows keep their seq, body and hash,
// so the migrated file verifies exactly when the old one did. A row's
// prev_seq becomes the seq of the row before it in its chain (or the
// anchor's, or 0) when its prev_hash is that row's hash, as version 1
// checked; when it is not (the row before was removed), -1, which no row
// can be: verify reports the missing row, as version 1's would have. An
// edited row fails its own hash as before. Sets *events to the rows carried
// over.
Status MigrateV1ToV2(sqlite::Db& db, int64_t* events) {
  // Version 1 wrote a resource's rows and its chain head in one transaction;
  // a row or anchor without a head is a file someone edited, and would be
  // lost by the join below.
  auto orphans = db.QueryInt(
      "SELECT (SELECT count(*) FROM events WHERE resource_id NOT IN (SELECT resource_id FROM chain_heads)) + "
      "(SELECT count(*) FROM chain_anchors WHERE resource_id NOT IN (SELECT resource_id FROM chain_heads))");
  if (!orphans.ok()) return orphans.status();
  if (*orphans > 0) {
    return Status::Corruption(std::to_string(*orphans) +
                              " events or chain anchors name a resource without a chain head; not migrated (run "
                              "`cmkwatch verify` with the cmkwatch that wrote the file)");
  }
  CMK_RETURN_IF_ERROR(db.Exec(R"sql(
ALTER TABLE events RENAME TO events_v1;
ALTER TABLE chain_anchors RENAME TO chain_anchors_v1;
DROP INDEX events_by_resource_time;
)sql"));
  CMK_RETURN_IF_ERROR(db.Exec(kChainTablesV2));
  CMK_RETURN_IF_ERROR(db.Exec(kOtherTablesV2));
  CMK_RETURN_IF_ERROR(db.Exec(R"sql(
INSERT INTO resources (resource_id, last_seq, last_hash, length)
  SELECT resource_id, last_seq, last_hash, length FROM chain_heads ORDER BY resource_id;
INSERT INTO chain_anchors (resource, last_seq, last_hash, pruned)
  SELECT r.id, a.last_seq, a.last_hash, a.pruned FROM chain_anchors_v1 a JOIN resources r USING (resource_id);
)sql"));
  // Row by row: the event key is SHA-256, which SQL does not have.
  auto select = db.Prepare(R"sql(
SELECT e.seq, r.id, e.time_ns, e.event_id, e.source, e.kind, e.operation, e.outcome, e.http_status,
       e.correlation_id, e.actor_object_id, e.actor_app_id, e.actor_upn, e.actor_ip, e.collector_id,
       e.received_ns, e.codec, e.body_size, e.body, e.hash,
       CASE WHEN e.prev_hash = lag(e.hash, 1, coalesce(a.last_hash, zeroblob(32))) OVER chain
            THEN lag(e.seq, 1, coalesce(a.last_seq, 0)) OVER chain ELSE -1 END
FROM events_v1 e JOIN resources r USING (resource_id) LEFT JOIN chain_anchors_v1 a USING (resource_id)
WINDOW chain AS (PARTITION BY e.resource_id ORDER BY e.seq)
ORDER BY e.seq)sql");
  if (!select.ok()) return select.status();
  auto insert = db.Prepare(R"sql(
INSERT INTO events (seq, resource, time_ns, event_key, event_id, source, kind, operation, outcome, http_status,
                    correlation_id, actor_object_id, actor_app_id, actor_upn, actor_ip,
                    collector_id, received_ns, codec, body_size, body, prev_seq, hash)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22))sql");
  if (!insert.ok()) return insert.status();
  Sha256Context sha;
  *events = 0;
  for (;;) {
    auto row = select->Step("reading schema 1 events");
    if (!row.ok()) return row.status();
    if (!*row) break;
    auto key = sha.EventKey(select->ColumnText(3));
    if (!key.ok()) return key.status();
    Statement::Scope scope(*insert);
    // The select's columns in the insert's order, the event key (4) added
    // and prev_seq (the select's last) put before hash.
    CMK_RETURN_IF_ERROR(insert->BindInt(1, select->ColumnInt(0)));
    CMK_RETURN_IF_ERROR(insert->BindInt(2, select->ColumnInt(1)));
    CMK_RETURN_IF_ERROR(insert->BindInt(3, select->ColumnInt(2)));
    CMK_RETURN_IF_ERROR(insert->BindInt(4, *key));
    CMK_RETURN_IF_ERROR(insert->BindText(5, select->ColumnText(3)));
    for (int c = 4; c <= 8; ++c) {
      // source, kind: integers; operation: text; outcome, http_status: integers.
      CMK_RETURN_IF_ERROR(c == 6 ? insert->BindText(c + 2, select->ColumnText(c))
                                 : insert->BindInt(c + 2, select->ColumnInt(c)));
    }
    for (int c = 9; c <= 14; ++c) CMK_RETURN_IF_ERROR(insert->BindText(c + 2, select->ColumnText(c)));
    CMK_RETURN_IF_ERROR(insert->BindInt(17, select->ColumnInt(15)));
    CMK_RETURN_IF_ERROR(insert->BindInt(18, select->ColumnInt(16)));
    CMK_RETURN_IF_ERROR(insert->BindInt(19, select->ColumnInt(17)));
    CMK_RETURN_IF_ERROR(insert->BindBlobNoCopy(20, select->ColumnBlob(18)));
    CMK_RETURN_IF_ERROR(insert->BindInt(21, select->ColumnInt(20)));
    CMK_RETURN_IF_ERROR(insert->BindBlobNoCopy(22, select->ColumnBlob(19)));
    CMK_RETURN_IF_ERROR(insert->Run("storing a migrated event"));
    ++*events;
  }
  select->Reset();
  // AUTOINCREMENT's high-water mark carries over: a pruned seq is never
  // handed out again, or an anchor could name a new row.
  CMK_RETURN_IF_ERROR(db.Exec(R"sql(
DELETE FROM sqlite_sequence WHERE name = 'events';
INSERT INTO sqlite_sequence (name, seq) SELECT 'events', seq FROM sqlite_sequence WHERE name = 'events_v1';
DROP TABLE events_v1;
DROP TABLE chain_anchors_v1;
DROP TABLE chain_heads;
)sql"));
  CMK_RETURN_IF_ERROR(db.Exec(kResourceTimeIndexV2));
  CMK_RETURN_IF_ERROR(db.Exec(kEventKeyIndexV2));
  return db.Exec("PRAGMA user_version = 2");
}

// wire has no single-event decoder, so the stored bytes are wrapped in the
// smallest batch that holds them: header, collector id "", sequence 0, one
// event, no quarantine entries. The decoder's checks (canonical, bounded,
// no trailing bytes) then apply to stored events too.
Result<Event> DecodeEventBytes(std::string_view bytes) {
  std::string message;
  message.reserve(bytes.size() + 10);
  message.append("CMKW", 4);
  message.push_back(static_cast<char>(wire::kVersion));
  message.push_back(static_cast<char>(wire::MessageType::kBatch));
  message.push_back('\0');  // str collector_id: length 0
  message.push_back('\0');  // varint sequence 0
  message.push_back('\1');  // varint n = 1
  message.append(bytes);
  message.push_back('\0');  // varint m = 0
  auto batch = wire::DecodeBatch(message);
  if (!batch.ok()) return batch.status();
  if (batch->events.size() != 1) return Status::Corruption("stored bytes are not exactly one event");
  return std::move(batch->events.front());
}

// The first indexed column that disagrees with the decoded event, or "".
// `resource_id` is what the row's resource column names in `resources`,
// `key` the event key of e.id.
std::string ColumnMismatch(const Statement& row, std::string_view resource_id, const Event& e, int64_t key) {
  if (row.ColumnText(kColEventId) != e.id) return "event_id";
  if (row.ColumnInt(kColEventKey) != key) return "event_key";
  if (resource_id != e.resource_id) return "resource";
  if (row.ColumnInt(kColTime) != e.time) return "time_ns";
  if (row.ColumnInt(kColSource) != static_cast<int64_t>(e.source)) return "source";
  if (row.ColumnInt(kColKind) != static_cast<int64_t>(e.resource_kind)) return "kind";
  if (row.ColumnText(kColOperation) != e.operation) return "operation";
  if (row.ColumnInt(kColOutcome) != static_cast<int64_t>(e.outcome)) return "outcome";
  if (row.ColumnInt(kColHttpStatus) != e.http_status) return "http_status";
  if (row.ColumnText(kColCorrelationId) != e.correlation_id) return "correlation_id";
  if (row.ColumnText(kColActorObjectId) != e.actor.object_id) return "actor_object_id";
  if (row.ColumnText(kColActorAppId) != e.actor.app_id) return "actor_app_id";
  if (row.ColumnText(kColActorUpn) != e.actor.upn) return "actor_upn";
  if (row.ColumnText(kColActorIp) != e.actor.ip) return "actor_ip";
  return "";
}

struct ChainHead {
  int64_t last_seq = 0;
  std::string last_hash = kZeroHash;
  int64_t length = 0;
};

// A row of `resources`, as verification and retention read it.
struct ResourceRow {
  int64_t id = 0;
  std::string resource_id;
  ChainHead head;
};

// What the writer keeps of a resource between batches: its integer key and
// its chain head, so a batch neither looks the id up nor reads the head.
struct CachedResource {
  int64_t id = 0;
  ChainHead head;
  bool dirty = false;  // head moved in the open transaction, not yet written
};

// Lets the cache be searched with a string_view (no key copy per event).
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct Anchor {
  int64_t last_seq = 0;
  std::string last_hash;
  int64_t pruned = 0;
};

// Where a chain walk stands for one resource.
struct Walk {
  std::string prev = kZeroHash;
  int64_t last_seq = 0;
  int64_t anchor_seq = 0;
  int64_t length = 0;  // anchored (pruned) events plus rows walked
};

// How much each commit waits for the disk.
const char* SynchronousPragma(const TimelineOptions& options) {
  // A bulk load syncs once, at FinishBulkLoad.
  if (options.bulk_load) return "PRAGMA synchronous = OFF";
  // FULL, not NORMAL: in WAL mode NORMAL may lose the last commits on power
  // loss, and a commit is what an ack promises the collector.
  return options.durable_commits ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL";
}

}  // namespace

std::string_view ToString(ChainProblem p) {
  switch (p) {
    case ChainProblem::kNone: return "intact";
    case ChainProblem::kAlteredBytes: return "altered bytes";
    case ChainProblem::kAlteredColumns: return "altered columns";
    case ChainProblem::kMissingRow: return "missing row";
    case ChainProblem::kReorderedRows: return "reordered rows";
    case ChainProblem::kHeadMismatch: return "head mismatch";
  }
  return "unknown";
}

struct Timeline::Impl {
  TimelineOptions options;
  // Declared before the statements: members are destroyed in reverse, so
  // every statement is finalized before the connection closes.
  sqlite::Db db;
  Statement select_collector, select_resource, insert_resource, update_head, event_ids_of_key, insert_event;
  Statement insert_quarantine, upsert_collector;
  Statement scan_all, scan_resource, events_of_resource, events_of_all, row_of_resource;
  Sha256Context sha;
  std::string hash;  // the chain hash being computed, reused
  BodyCodec codec;
  // Keys and compressed bodies, worked out ahead of the inserts; declared
  // after the codec it uses, so its helper thread stops first.
  std::unique_ptr<EventPrep> prep;

  // A bulk load commits every options.bulk_commit_events, not every call:
  // each commit writes every page it dirtied, and the event-key index is
  // dirtied all over by every batch (random keys), so small commits write
  // it out again and again. Not many more, though: the in-memory journal
  // holds a copy of each page the transaction changed that existed before
  // it, so 10,000 events (at most as many index pages, ~40 MB) bound it
  // however large the file grows. Each call is a savepoint in the long
  // transaction (sqlite::Transaction nests), all or nothing as before.
  size_t bulk_uncommitted = 0;  // events inserted since the bulk load's last commit
  Status bulk_broken;           // set when an error took uncommitted batches with it
  // Starts the bulk load's long transaction when none is open.
  Status BeginBulk() {
    CMK_RETURN_IF_ERROR(bulk_broken);
    if (!options.bulk_load || sqlite3_get_autocommit(db.get()) == 0) return Status::Ok();
    return db.Exec("BEGIN IMMEDIATE");
  }
  // Commits it, if one is open: what it held is then in the file.
  Status CommitBulk() {
    CMK_RETURN_IF_ERROR(bulk_broken);
    bulk_uncommitted = 0;
    if (!options.bulk_load || sqlite3_get_autocommit(db.get()) != 0) return Status::Ok();
    return db.Exec("COMMIT");
  }
  // After a failed call: a savepoint rolled back leaves the long
  // transaction open; an error that rolled all of it back (disk full, I/O)
  // lost batches whose calls had succeeded, and the load cannot go on.
  void CheckBulkAfterFailure() {
    if (options.bulk_load && bulk_uncommitted > 0 && sqlite3_get_autocommit(db.get()) != 0) {
      bulk_broken = Status::IoError("the bulk load lost " + std::to_string(bulk_uncommitted) +
                                    " uncommitted events to an error; start it again from a new file");
    }
  }
  Statement insert_dictionary, select_dictionary;
  internal::AlertStore alerts;

  // The writer's cache of resources (bounded by kMaxCachedResources). Valid
  // only while this connection is the file's only writer: every write
  // transaction first checks PRAGMA data_version, which moves when another
  // connection commits, and starts the cache again if it did. A transaction
  // that does not commit drops the cache too (its heads may name rows that
  // were rolled back).
  std::unordered_map<std::string, CachedResource, StringHash, std::equal_to<>> resources;
  std::vector<CachedResource*> dirty;  // node pointers: stable across rehashing
  int64_t data_version = -1;

  // Drops the writer's cache when the transaction it guards does not commit.
  class CacheGuard {
   public:
    explicit CacheGuard(Impl& impl) : impl_(impl) {}
    ~CacheGuard() {
      if (!committed_) impl_.DropCache();
    }
    CacheGuard(const CacheGuard&) = delete;
    CacheGuard& operator=(const CacheGuard&) = delete;
    void Committed() { committed_ = true; }

   private:
    Impl& impl_;
    bool committed_ = false;
  };

  Status PrepareAll();
  // Creates a new file's schema, checks an existing one's, or migrates an
  // older one forward (options.migrate), recording it in `migration`.
  Status CreateOrCheckSchema(const std::string& path);
  std::optional<SchemaMigration> migration;
  // Trains and stores the compression dictionary once enough samples are
  // in; its own committed transaction, before the batch's.
  Status MaybeTrainDictionary();
  Result<std::string> LoadDictionary(uint32_t id);
  // After BEGIN: forgets the cache when another connection wrote the file.
  Status CheckCache();
  void DropCache() {
    resources.clear();
    dirty.clear();
  }
  // The cached resource for `resource_id`, read from or added to
  // `resources` inside the open transaction.
  Result<CachedResource*> Resource(std::string_view resource_id);
  // Writes the heads the open transaction moved.
  Status FlushHeads();
  // True when an event with this id (and key) is stored already.
  Result<bool> IsStored(int64_t key, std::string_view event_id);
  // FinishBulkLoad's check of bulk_ids_unique, once the event-key index exists.
  Status CheckIdsUnique();
  // Stores one batch inside the caller's open transaction: event_bytes[i]
  // is event i's canonical encoding, prep's item first + i. `stored`, when
  // given, receives the events stored for the first time, in batch order.
  Result<BatchResult> StoreBatch(const wire::Batch& batch, const std::string_view* event_bytes, size_t first,
                                 int64_t received_ns, std::vector<const Event*>* stored);
  Status Fail(VerifyReport& report, ChainProblem problem, const Statement* row, std::string resource_id,
              std::string detail);
  Status CheckRow(Statement& row, int64_t resource, const std::string& resource_id, Walk& walk,
                  VerifyReport& report);
  Status WalkChains(Statement& rows, const std::vector<ResourceRow>& all, const std::map<int64_t, Anchor>& anchors,
                    VerifyReport& report);
  // Rows of `resources` (all, or the one named), in resource_id order.
  Result<std::vector<ResourceRow>> LoadResources(const std::string* only);
  Result<std::map<int64_t, Anchor>> LoadAnchors(const int64_t* only);
  Result<std::vector<Event>> ReadEvents(const std::string* resource_id, int64_t from_ns, int64_t to_ns, size_t limit);
};

Status Timeline::Impl::PrepareAll() {
  struct {
    Statement* stmt;
    const char* sql;
  } const all[] = {
      {&select_collector, kSelectCollector},     {&select_resource, kSelectResource},
      {&insert_resource, kInsertResource},       {&update_head, kUpdateHead},
      {&event_ids_of_key, kEventIdsOfKey},       {&insert_event, kInsertEvent},
      {&insert_quarantine, kInsertQuarantine},   {&upsert_collector, kUpsertCollector},
      {&scan_all, kScanAll},                     {&scan_resource, kScanResource},
      {&events_of_resource, kEventsOfResource},  {&events_of_all, kEventsOfAll},
      {&row_of_resource, kRowOfResource},        {&insert_dictionary, kInsertDictionary},
      {&select_dictionary, kSelectDictionary},
  };
  for (const auto& [stmt, sql] : all) {
    auto prepared = db.Prepare(sql);
    if (!prepared.ok()) return prepared.status();
    *stmt = std::move(prepared).value();
  }
  return Status::Ok();
}

Status Timeline::Impl::CreateOrCheckSchema(const std::string& path) {
  // Inside a write transaction so two processes opening a new file at once
  // cannot both create the schema.
  sqlite::Transaction tx(db);
  CMK_RETURN_IF_ERROR(tx.Begin());
  auto app_id = db.QueryInt("PRAGMA application_id");
  if (!app_id.ok()) return app_id.status();
  auto version = db.QueryInt("PRAGMA user_version");
  if (!version.ok()) return version.status();
  auto objects = db.QueryInt("SELECT count(*) FROM sqlite_schema");
  if (!objects.ok()) return objects.status();

  if (*app_id == 0 && *version == 0 && *objects == 0) {
    CMK_RETURN_IF_ERROR(db.Exec(kChainTablesV2));
    if (!options.bulk_ids_unique) CMK_RETURN_IF_ERROR(db.Exec(kEventKeyIndexV2));
    if (!options.bulk_load) CMK_RETURN_IF_ERROR(db.Exec(kResourceTimeIndexV2));
    CMK_RETURN_IF_ERROR(db.Exec(kOtherTablesV2));
    // Pragmas take no parameters; these values are constants, not data.
    CMK_RETURN_IF_ERROR(db.Exec("PRAGMA application_id = 1129139031"));  // kApplicationId
    CMK_RETURN_IF_ERROR(db.Exec("PRAGMA user_version = 2"));             // kSchemaVersion
    static_assert(kApplicationId == 1129139031 && kSchemaVersion == 2);
    return tx.Commit();
  }
  if (options.bulk_load) {
    return Status::InvalidArgument("a bulk load needs a new file, and " + path + " holds a database already");
  }
  if (*app_id != kApplicationId) {
    return Status::InvalidArgument(path + " is a SQLite database but not a cmkwatch timeline (application_id " +
                                   std::to_string(*app_id) + ")");
  }
  if (*version > kSchemaVersion) {
    return Status::Unsupported(path + " has timeline schema version " + std::to_string(*version) +
                               ", newer than this cmkwatch supports (" + std::to_string(kSchemaVersion) +
                               "); use a newer cmkwatch");
  }
  if (*version < 1) {
    return Status::Corruption(path + " is a cmkwatch timeline without a schema version (user_version " +
                              std::to_string(*version) + ")");
  }
  if (*version < kSchemaVersion) {
    if (!options.migrate) {
      return Status::Unsupported(path + " has timeline schema version " + std::to_string(*version) +
                                 ", older than the version " + std::to_string(kSchemaVersion) +
                                 " this cmkwatch reads; it is left as it is. The analyzer migrates it when it "
                                 "starts, or run `cmkwatch migrate --db " + path + "` (take a `cmkwatch backup` first)");
    }
    const auto started = std::chrono::steady_clock::now();
    int64_t events = 0;
    Status s = MigrateV1ToV2(db, &events);
    if (!s.ok()) return s.WithContext("migrating " + path + " from timeline schema 1 to 2 (the file is unchanged)");
    CMK_RETURN_IF_ERROR(tx.Commit());
    migration = SchemaMigration{.from = *version,
                                .to = kSchemaVersion,
                                .events = static_cast<uint64_t>(events),
                                .seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
                                               .count()};
    return Status::Ok();
  }
  return tx.Commit();  // read-only: releases the lock
}

Timeline::Timeline(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Timeline::~Timeline() = default;

const std::optional<SchemaMigration>& Timeline::migration() const { return impl_->migration; }

Result<std::unique_ptr<Timeline>> Timeline::Open(const std::string& path, const TimelineOptions& options) {
  if (options.max_event_bytes == 0 || options.max_event_bytes > kMaxStoredEventBytes) {
    return Status::InvalidArgument("max_event_bytes must be 1.." + std::to_string(kMaxStoredEventBytes));
  }
  if (options.compression_level < 1 || options.compression_level > 9) {
    return Status::InvalidArgument("compression_level must be 1..9");
  }
  if (options.bulk_commit_events == 0 || options.bulk_commit_events > 1'000'000) {
    return Status::InvalidArgument("bulk_commit_events must be 1..1000000");
  }
  if (options.bulk_ids_unique && !options.bulk_load) {
    return Status::InvalidArgument("bulk_ids_unique is a promise about a bulk load; set bulk_load too");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  Impl* raw = impl.get();
  CMK_RETURN_IF_ERROR(impl->codec.Init(options.compress, options.compression_level,
                                       [raw](uint32_t id) { return raw->LoadDictionary(id); }));
  impl->prep = std::make_unique<EventPrep>(impl->codec, options.helper_thread, options.max_event_bytes);
  // NOMUTEX: a Timeline is used from one thread, so SQLite's per-connection
  // mutex is pure cost.
  auto db = sqlite::Db::Open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX);
  if (!db.ok()) return db.status();
  impl->db = std::move(db).value();
  sqlite3_busy_timeout(impl->db.get(), options.busy_timeout_ms);

  // A bulk load takes only a new file, and says so before anything (the
  // journal mode below) changes an existing one.
  if (options.bulk_load) {
    auto objects = impl->db.QueryInt("SELECT count(*) FROM sqlite_schema");
    if (!objects.ok() || *objects != 0) {
      return Status::InvalidArgument("a bulk load needs a new file, and " + path + " is not empty" +
                                     (objects.ok() ? std::string() : ": " + objects.status().message()));
    }
  }
  // The first statement that reads the file: a file that is not SQLite at
  // all fails here.
  // A bulk load keeps its rollback journal in memory: a failed batch still
  // rolls back, and each page is written once, where the WAL writes it
  // twice (into the WAL, then into the file at the checkpoint). That and
  // skipping the syncs made a fresh timeline take events 1.6x as fast
  // (bench/RESULTS.md). Its price, a file a crash leaves unusable, is why
  // only a file built aside may be loaded so.
  const char* journal = options.bulk_load ? "memory" : "wal";
  auto mode = impl->db.QueryText(options.bulk_load ? "PRAGMA journal_mode = MEMORY" : "PRAGMA journal_mode = WAL");
  if (!mode.ok()) {
    return Status(mode.status().IsCorruption()
                      ? Status::InvalidArgument(path + " is not a cmkwatch timeline: " + mode.status().message())
                      : mode.status());
  }
  if (*mode != journal && path != ":memory:") {
    return Status::IoError("cannot put " + path + " in " + journal + " journal mode (journal_mode is " + *mode + ")");
  }
  CMK_RETURN_IF_ERROR(impl->db.Exec(SynchronousPragma(options)));
  // 64 MiB of page cache instead of SQLite's 2 MiB: every insert touches the
  // event-key and (resource, time) indexes at random places, and with the
  // default cache most of those pages are read back from the OS each time
  // (a third of the analyzer's time went to pread copies).
  CMK_RETURN_IF_ERROR(impl->db.Exec("PRAGMA cache_size = -65536"));
  CMK_RETURN_IF_ERROR(impl->CreateOrCheckSchema(path));
  CMK_RETURN_IF_ERROR(impl->PrepareAll());
  // The alert tables came after schema version 1; a timeline without them
  // gets them here (CREATE ... IF NOT EXISTS), nothing else changes.
  CMK_RETURN_IF_ERROR(impl->alerts.Open(impl->db));
  if (options.compress) {
    // Go on compressing with the file's dictionary, when it has one.
    auto latest = impl->db.Prepare(kLatestDictionary);
    if (!latest.ok()) return latest.status();
    auto row = latest->Step();
    if (!row.ok()) return row.status();
    if (*row) CMK_RETURN_IF_ERROR(impl->codec.Adopt(latest->ColumnBlob(0)));
  }
  return std::unique_ptr<Timeline>(new Timeline(std::move(impl)));
}

Status Timeline::Impl::CheckCache() {
  auto version = db.QueryInt("PRAGMA data_version");
  if (!version.ok()) return version.status();
  if (*version != data_version) {
    DropCache();
    data_version = *version;
  }
  return Status::Ok();
}

Result<CachedResource*> Timeline::Impl::Resource(std::string_view resource_id) {
  if (auto it = resources.find(resource_id); it != resources.end()) return &it->second;
  if (resources.size() >= kMaxCachedResources) {
    CMK_RETURN_IF_ERROR(FlushHeads());
    resources.clear();
  }
  CachedResource r;
  {
    Statement::Scope scope(select_resource);
    CMK_RETURN_IF_ERROR(select_resource.BindText(1, resource_id));
    auto row = select_resource.Step();
    if (!row.ok()) return row.status();
    if (*row) {
      r.id = select_resource.ColumnInt(0);
      r.head.last_seq = select_resource.ColumnInt(1);
      r.head.last_hash = std::string(select_resource.ColumnBlob(2));
      r.head.length = select_resource.ColumnInt(3);
      if (r.head.last_hash.size() != kHashBytes) {
        return Status::Corruption("chain head of " + std::string(resource_id) + " holds a " +
                                  std::to_string(r.head.last_hash.size()) + "-byte hash; run verify");
      }
    }
  }
  if (r.id == 0) {
    // A new resource: its chain starts from zeros. The row is written now,
    // in the batch's transaction, so the rollback of a refused batch takes
    // it back out with the events.
    Statement::Scope scope(insert_resource);
    CMK_RETURN_IF_ERROR(insert_resource.BindText(1, resource_id));
    CMK_RETURN_IF_ERROR(insert_resource.BindBlobNoCopy(2, kZeroHash));
    CMK_RETURN_IF_ERROR(insert_resource.Run());
    r.id = sqlite3_last_insert_rowid(db.get());
  }
  return &resources.emplace(std::string(resource_id), std::move(r)).first->second;
}

Status Timeline::Impl::FlushHeads() {
  for (CachedResource* r : dirty) {
    Statement::Scope scope(update_head);
    CMK_RETURN_IF_ERROR(update_head.BindInt(1, r->id));
    CMK_RETURN_IF_ERROR(update_head.BindInt(2, r->head.last_seq));
    CMK_RETURN_IF_ERROR(update_head.BindBlobNoCopy(3, r->head.last_hash));
    CMK_RETURN_IF_ERROR(update_head.BindInt(4, r->head.length));
    CMK_RETURN_IF_ERROR(update_head.Run());
    r->dirty = false;
  }
  dirty.clear();
  return Status::Ok();
}

Status Timeline::Impl::CheckIdsUnique() {
  // Keys that repeat, from the index alone (a sequential scan of 8-byte
  // keys); only their rows are read. A repeated key is nearly always a
  // repeated id, but two ids may share the first 8 bytes of their hash.
  auto shared = db.Prepare("SELECT event_key FROM events INDEXED BY events_by_key GROUP BY event_key "
                           "HAVING count(*) > 1");
  if (!shared.ok()) return shared.status();
  for (;;) {
    auto row = shared->Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::Ok();
    Statement::Scope scope(event_ids_of_key);
    CMK_RETURN_IF_ERROR(event_ids_of_key.BindInt(1, shared->ColumnInt(0)));
    std::vector<std::string> ids;
    for (;;) {
      auto id_row = event_ids_of_key.Step();
      if (!id_row.ok()) return id_row.status();
      if (!*id_row) break;
      std::string id(event_ids_of_key.ColumnText(1));
      if (std::find(ids.begin(), ids.end(), id) != ids.end()) {
        return Status::Corruption("the bulk load was given event " + id +
                                  " more than once, though its caller promised unique ids (bulk_ids_unique)");
      }
      ids.push_back(std::move(id));
    }
  }
}

Result<bool> Timeline::Impl::IsStored(int64_t key, std::string_view event_id) {
  Statement::Scope scope(event_ids_of_key);
  CMK_RETURN_IF_ERROR(event_ids_of_key.BindInt(1, key));
  for (;;) {
    auto row = event_ids_of_key.Step();
    if (!row.ok()) return row.status();
    if (!*row) return false;
    if (event_ids_of_key.ColumnText(1) == event_id) return true;
  }
}

// Index of a source in BatchResult's per-source arrays.
size_t SourceIndex(Source s) {
  const auto i = static_cast<size_t>(s);
  return i < 4 ? i : 0;
}

// What InsertEncodedBatches refuses before it prepares or stores anything.
static Status CheckBatch(const Timeline::EncodedBatch& b) {
  const wire::Batch& batch = *b.batch;
  // The wire decoder bounds these already; InsertBatch is also called
  // directly (replay, tests), so the bounds are checked again.
  if (batch.events.size() > wire::kMaxItems || batch.quarantined.size() > wire::kMaxItems) {
    return Status::LimitExceeded("batch holds more than " + std::to_string(wire::kMaxItems) + " items");
  }
  if (batch.sequence > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return Status::LimitExceeded("batch sequence " + std::to_string(batch.sequence) + " is beyond 2^63-1");
  }
  if (b.event_bytes != nullptr && b.event_bytes->size() != batch.events.size()) {
    return Status::InvalidArgument("batch " + batch.collector_id + "#" + std::to_string(batch.sequence) + " has " +
                                   std::to_string(batch.events.size()) + " events but " +
                                   std::to_string(b.event_bytes->size()) + " encodings");
  }
  return Status::Ok();
}

Result<BatchResult> Timeline::Impl::StoreBatch(const wire::Batch& batch, const std::string_view* event_bytes,
                                               size_t first, int64_t received_ns,
                                               std::vector<const Event*>* stored) {
  Impl& m = *this;
  const auto sequence = static_cast<int64_t>(batch.sequence);
  BatchResult result;
  {
    Statement::Scope scope(m.select_collector);
    CMK_RETURN_IF_ERROR(m.select_collector.BindText(1, batch.collector_id));
    auto row = m.select_collector.Step();
    if (!row.ok()) return row.status();
    result.resend = *row && sequence <= m.select_collector.ColumnInt(0);
  }

  for (size_t i = 0; i < batch.events.size(); ++i) {
    const Event& e = batch.events[i];
    const std::string_view bytes = event_bytes[i];
    // Checked inside the transaction on purpose: earlier events of the batch
    // are already inserted, and the rollback takes them back out.
    if (bytes.size() > m.options.max_event_bytes) {
      return Status::LimitExceeded("batch " + batch.collector_id + "#" + std::to_string(batch.sequence) +
                                   ": event " + e.id + " encodes to " + std::to_string(bytes.size()) +
                                   " bytes, over the timeline's limit of " +
                                   std::to_string(m.options.max_event_bytes) + "; nothing of the batch was stored");
    }
    auto prepared = m.prep->Get(first + i);
    if (!prepared.ok()) return prepared.status();
    const EventPrep::Prepared& p = **prepared;
    const int64_t key = p.key;
    // A bulk load with unique ids has no index to look in yet; the caller
    // promised, and FinishBulkLoad checks.
    auto already = m.options.bulk_ids_unique ? Result<bool>(false) : m.IsStored(key, e.id);
    if (!already.ok()) return already.status();
    if (*already) {
      // Already in the timeline (an earlier batch, or earlier in this one):
      // the chain does not move.
      ++result.duplicates;
      ++result.duplicates_by_source[SourceIndex(e.source)];
      continue;
    }
    auto resource = m.Resource(e.resource_id);
    if (!resource.ok()) return resource.status();
    CachedResource& r = **resource;
    CMK_RETURN_IF_ERROR(m.sha.Digest(r.head.last_hash, bytes, &m.hash));
    const std::string& body = p.body;

    Statement& ins = m.insert_event;
    Statement::Scope scope(ins);
    // Blobs outlive the step, so SQLite need not copy them.
    CMK_RETURN_IF_ERROR(ins.BindInt(1, r.id));
    CMK_RETURN_IF_ERROR(ins.BindInt(2, e.time));
    CMK_RETURN_IF_ERROR(ins.BindInt(3, key));
    CMK_RETURN_IF_ERROR(ins.BindText(4, e.id));
    CMK_RETURN_IF_ERROR(ins.BindInt(5, static_cast<int64_t>(e.source)));
    CMK_RETURN_IF_ERROR(ins.BindInt(6, static_cast<int64_t>(e.resource_kind)));
    CMK_RETURN_IF_ERROR(ins.BindText(7, e.operation));
    CMK_RETURN_IF_ERROR(ins.BindInt(8, static_cast<int64_t>(e.outcome)));
    CMK_RETURN_IF_ERROR(ins.BindInt(9, e.http_status));
    CMK_RETURN_IF_ERROR(ins.BindText(10, e.correlation_id));
    CMK_RETURN_IF_ERROR(ins.BindText(11, e.actor.object_id));
    CMK_RETURN_IF_ERROR(ins.BindText(12, e.actor.app_id));
    CMK_RETURN_IF_ERROR(ins.BindText(13, e.actor.upn));
    CMK_RETURN_IF_ERROR(ins.BindText(14, e.actor.ip));
    CMK_RETURN_IF_ERROR(ins.BindText(15, batch.collector_id));
    CMK_RETURN_IF_ERROR(ins.BindInt(16, received_ns));
    CMK_RETURN_IF_ERROR(ins.BindInt(17, p.codec));
    CMK_RETURN_IF_ERROR(ins.BindInt(18, static_cast<int64_t>(bytes.size())));
    CMK_RETURN_IF_ERROR(ins.BindBlobNoCopy(19, body));
    CMK_RETURN_IF_ERROR(ins.BindInt(20, r.head.last_seq));
    CMK_RETURN_IF_ERROR(ins.BindBlobNoCopy(21, m.hash));
    CMK_RETURN_IF_ERROR(ins.Run());
    ++result.stored;
    ++result.stored_by_source[SourceIndex(e.source)];
    if (stored != nullptr) stored->push_back(&e);
    r.head.last_seq = sqlite3_last_insert_rowid(m.db.get());
    r.head.last_hash.assign(m.hash);  // same size: no allocation
    ++r.head.length;
    if (!r.dirty) {
      r.dirty = true;
      m.dirty.push_back(&r);
    }
  }

  for (const QuarantineEntry& q : batch.quarantined) {
    if (q.offset > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
        q.line > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Status::LimitExceeded("batch " + batch.collector_id + "#" + std::to_string(batch.sequence) +
                                   ": quarantine entry for " + q.path + " has an impossible offset");
    }
    Statement& ins = m.insert_quarantine;
    Statement::Scope scope(ins);
    CMK_RETURN_IF_ERROR(ins.BindText(1, batch.collector_id));
    CMK_RETURN_IF_ERROR(ins.BindText(2, q.path));
    CMK_RETURN_IF_ERROR(ins.BindInt(3, static_cast<int64_t>(q.offset)));
    CMK_RETURN_IF_ERROR(ins.BindInt(4, static_cast<int64_t>(q.line)));
    CMK_RETURN_IF_ERROR(ins.BindText(5, q.format_guess));
    CMK_RETURN_IF_ERROR(ins.BindText(6, q.reason));
    CMK_RETURN_IF_ERROR(ins.BindInt(7, received_ns));
    CMK_RETURN_IF_ERROR(ins.Run());
    result.quarantined += static_cast<uint64_t>(m.db.Changes());
  }

  {
    Statement& up = m.upsert_collector;
    Statement::Scope scope(up);
    CMK_RETURN_IF_ERROR(up.BindText(1, batch.collector_id));
    CMK_RETURN_IF_ERROR(up.BindInt(2, sequence));
    CMK_RETURN_IF_ERROR(up.BindInt(3, static_cast<int64_t>(result.stored)));
    CMK_RETURN_IF_ERROR(up.BindInt(4, static_cast<int64_t>(result.duplicates)));
    CMK_RETURN_IF_ERROR(up.BindInt(5, static_cast<int64_t>(result.quarantined)));
    CMK_RETURN_IF_ERROR(up.BindInt(6, received_ns));
    CMK_RETURN_IF_ERROR(up.Run());
  }
  return result;
}

Status Timeline::Impl::MaybeTrainDictionary() {
  if (!codec.WantsDictionary()) return Status::Ok();
  uint32_t id = 0;
  auto dict = codec.TrainDictionary(&id);
  if (!dict.ok()) return Status::Ok();  // not enough variety yet: samples are collected again
  {
    sqlite::Transaction tx(db);
    CMK_RETURN_IF_ERROR(tx.Begin());
    Statement::Scope scope(insert_dictionary);
    CMK_RETURN_IF_ERROR(insert_dictionary.BindInt(1, id));
    CMK_RETURN_IF_ERROR(insert_dictionary.BindInt(2, std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                         std::chrono::system_clock::now().time_since_epoch())
                                                         .count()));
    CMK_RETURN_IF_ERROR(insert_dictionary.BindBlobNoCopy(3, *dict));
    CMK_RETURN_IF_ERROR(insert_dictionary.Run());
    CMK_RETURN_IF_ERROR(tx.Commit());
  }
  // Only now that the dictionary is durable may a body depend on it.
  return codec.Adopt(*dict);
}

Result<std::string> Timeline::Impl::LoadDictionary(uint32_t id) {
  Statement::Scope scope(select_dictionary);
  CMK_RETURN_IF_ERROR(select_dictionary.BindInt(1, id));
  auto row = select_dictionary.Step();
  if (!row.ok()) return row.status();
  if (!*row) return Status::Corruption("body names dictionary " + std::to_string(id) + ", which the file lacks");
  return std::string(select_dictionary.ColumnBlob(0));
}

Result<BatchResult> Timeline::InsertBatch(const wire::Batch& batch, int64_t received_ns) {
  auto results = InsertEncodedBatches({EncodedBatch{&batch, nullptr}}, received_ns);
  if (!results.ok()) return results.status();
  return results->front();
}

Result<std::vector<BatchResult>> Timeline::InsertBatches(const std::vector<const wire::Batch*>& batches,
                                                         int64_t received_ns, StoredEventsHook* hook) {
  std::vector<EncodedBatch> plain;
  plain.reserve(batches.size());
  for (const wire::Batch* b : batches) plain.push_back({b, nullptr});
  return InsertEncodedBatches(plain, received_ns, hook);
}

Result<std::vector<BatchResult>> Timeline::InsertEncodedBatches(const std::vector<EncodedBatch>& batches,
                                                                int64_t received_ns, StoredEventsHook* hook) {
  Impl& m = *impl_;
  CMK_RETURN_IF_ERROR(m.BeginBulk());
  CMK_RETURN_IF_ERROR(m.MaybeTrainDictionary());
  // Every event's canonical bytes (the caller's, or encoded here), handed
  // to the prep, which works out keys and bodies ahead of the inserts.
  size_t events = 0, to_encode = 0;
  for (const EncodedBatch& b : batches) {
    CMK_RETURN_IF_ERROR(CheckBatch(b));
    events += b.batch->events.size();
    if (b.event_bytes == nullptr) to_encode += b.batch->events.size();
  }
  std::vector<std::string> encoded;
  encoded.reserve(to_encode);  // never reallocates: the views stay valid
  std::vector<std::string_view> bytes;
  std::vector<EventPrep::Item> items;
  bytes.reserve(events);
  items.reserve(events);
  for (const EncodedBatch& b : batches) {
    for (size_t i = 0; i < b.batch->events.size(); ++i) {
      const Event& e = b.batch->events[i];
      if (b.event_bytes != nullptr) {
        bytes.push_back((*b.event_bytes)[i]);
        // The caller's promise, checked where it costs nothing that counts.
        assert(bytes.back() == wire::EncodeEvent(e));
      } else {
        bytes.push_back(encoded.emplace_back(wire::EncodeEvent(e)));
      }
      items.push_back({e.id, bytes.back()});
    }
  }
  EventPrep::Job job(*m.prep, std::move(items));

  std::vector<BatchResult> results;
  results.reserve(batches.size());
  // One transaction; any early return rolls it back (and drops the cache),
  // so the batches are stored entirely or not at all.
  sqlite::Transaction tx(m.db);
  Impl::CacheGuard guard(m);
  CMK_RETURN_IF_ERROR(tx.Begin());
  CMK_RETURN_IF_ERROR(m.CheckCache());
  std::vector<const Event*> stored;
  size_t first = 0;
  for (const EncodedBatch& b : batches) {
    stored.clear();
    auto r = m.StoreBatch(*b.batch, bytes.data() + first, first, received_ns, hook != nullptr ? &stored : nullptr);
    if (!r.ok()) {
      m.CheckBulkAfterFailure();
      return r.status();
    }
    first += b.batch->events.size();
    results.push_back(*r);
    if (hook != nullptr && !stored.empty()) {
      CMK_RETURN_IF_ERROR(m.alerts.Write(hook->OnStored(stored), received_ns));
    }
  }
  // Heads are written once per transaction, not once per event or batch.
  Status s = m.FlushHeads();
  if (s.ok()) s = tx.Commit();
  if (!s.ok()) {
    m.CheckBulkAfterFailure();
    return s;
  }
  guard.Committed();
  m.bulk_uncommitted += events;
  if (m.bulk_uncommitted >= m.options.bulk_commit_events) CMK_RETURN_IF_ERROR(m.CommitBulk());
  return results;
}

Status Timeline::ForEachEvent(const std::function<Status(const Event&)>& fn) {
  Impl& m = *impl_;
  Statement& q = m.scan_all;
  Statement::Scope scope(q);
  for (;;) {
    auto row = q.Step("reading events");
    if (!row.ok()) return row.status();
    if (!*row) return Status::Ok();
    const std::string where =
        "row " + std::to_string(q.ColumnInt(kColSeq)) + " (event " + std::string(q.ColumnText(kColEventId)) + ")";
    auto bytes = m.codec.Decode(q.ColumnInt(kColCodec), q.ColumnInt(kColBodySize), q.ColumnBlob(kColBody),
                                kMaxStoredEventBytes);
    if (!bytes.ok()) return Status::Corruption(where + ": " + bytes.status().message() + "; run verify");
    auto event = DecodeEventBytes(*bytes);
    if (!event.ok()) return Status::Corruption(where + ": " + event.status().message() + "; run verify");
    CMK_RETURN_IF_ERROR(fn(*event));
  }
}

Status Timeline::FinishBulkLoad() {
  Impl& m = *impl_;
  if (!m.options.bulk_load) return Status::Ok();
  CMK_RETURN_IF_ERROR(m.CommitBulk());
  if (m.options.bulk_ids_unique) {
    CMK_RETURN_IF_ERROR(m.db.Exec(kEventKeyIndexV2));
    CMK_RETURN_IF_ERROR(m.CheckIdsUnique());
    m.options.bulk_ids_unique = false;  // from here on, inserts look the index up
  }
  CMK_RETURN_IF_ERROR(m.db.Exec(kResourceTimeIndexV2));
  m.options.bulk_load = false;
  auto mode = m.db.QueryText("PRAGMA journal_mode = WAL");
  if (!mode.ok()) return mode.status();
  if (*mode != "wal") return Status::IoError("cannot put the timeline in WAL mode (journal_mode is " + *mode + ")");
  CMK_RETURN_IF_ERROR(m.db.Exec(SynchronousPragma(m.options)));
  // Nothing of the load was synced. A write through the WAL and a
  // checkpoint copying it into the file end in an fsync of the file, which
  // takes every page written before with it.
  CMK_RETURN_IF_ERROR(m.db.Exec("PRAGMA user_version = 2"));  // kSchemaVersion, rewritten as it is
  return m.db.Exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

Status Timeline::Checkpoint() {
  CMK_RETURN_IF_ERROR(impl_->CommitBulk());
  // TRUNCATE also syncs the database file and empties the log, so a
  // finished replay leaves one self-contained file.
  return impl_->db.Exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

Status Timeline::StoreAlertChanges(const std::vector<AlertChange>& changes, int64_t now_ns) {
  sqlite::Transaction tx(impl_->db);
  CMK_RETURN_IF_ERROR(tx.Begin());
  CMK_RETURN_IF_ERROR(impl_->alerts.Write(changes, now_ns));
  return tx.Commit();
}

Result<std::vector<Alert>> Timeline::Alerts(std::optional<AlertStatus> status, size_t limit) {
  if (limit == 0 || limit > kMaxQueryEvents) {
    return Status::InvalidArgument("limit must be 1.." + std::to_string(kMaxQueryEvents));
  }
  return impl_->alerts.Read(status, limit);
}

// ---- Verification -----------------------------------------------------------

Status Timeline::Impl::Fail(VerifyReport& report, ChainProblem problem, const Statement* row,
                            std::string resource_id, std::string detail) {
  report.problem = problem;
  report.resource_id = std::move(resource_id);
  report.seq = row != nullptr ? row->ColumnInt(kColSeq) : 0;
  report.event_id = row != nullptr ? std::string(row->ColumnText(kColEventId)) : std::string();
  report.detail = std::move(detail);
  std::string msg = "timeline chain of " + report.resource_id + " is broken (" + std::string(ToString(problem)) + ")";
  if (row != nullptr) msg += " at row " + std::to_string(report.seq) + " (event " + report.event_id + ")";
  msg += ": " + report.detail;
  return Status::Corruption(std::move(msg));
}

// Checks one row against the walk of its resource and advances the walk.
Status Timeline::Impl::CheckRow(Statement& row, int64_t resource, const std::string& resource_id, Walk& walk,
                                VerifyReport& report) {
  const int64_t seq = row.ColumnInt(kColSeq);
  const int64_t prev_seq = row.ColumnInt(kColPrevSeq);
  const std::string_view stored_hash = row.ColumnBlob(kColHash);

  if (seq <= walk.anchor_seq) {
    return Fail(report, ChainProblem::kReorderedRows, &row, resource_id,
                "row precedes the chain's retention anchor (seq " + std::to_string(walk.anchor_seq) + ")");
  }
  const std::string expected = walk.last_seq == 0 ? std::string("the chain's start")
                                                  : "row " + std::to_string(walk.last_seq);
  if (prev_seq != walk.last_seq) {
    // Which row does it claim to follow? None: its predecessor was removed.
    // Another one: rows were moved.
    Statement::Scope scope(row_of_resource);
    CMK_RETURN_IF_ERROR(row_of_resource.BindInt(1, prev_seq));
    CMK_RETURN_IF_ERROR(row_of_resource.BindInt(2, resource));
    auto found = row_of_resource.Step();
    if (!found.ok()) return found.status();
    if (*found) {
      return Fail(report, ChainProblem::kReorderedRows, &row, resource_id,
                  "row claims to follow row " + std::to_string(prev_seq) + " but follows " + expected);
    }
    return Fail(report, ChainProblem::kMissingRow, &row, resource_id,
                "row's predecessor (row " + std::to_string(prev_seq) + ") is not in the timeline; it follows " +
                    expected + ": a row was removed");
  }

  auto bytes = codec.Decode(row.ColumnInt(kColCodec), row.ColumnInt(kColBodySize), row.ColumnBlob(kColBody),
                            kMaxStoredEventBytes);
  if (!bytes.ok()) return Fail(report, ChainProblem::kAlteredBytes, &row, resource_id, bytes.status().message());
  CMK_RETURN_IF_ERROR(sha.Digest(walk.prev, *bytes, &hash));
  auto event = DecodeEventBytes(*bytes);
  if (hash != stored_hash) {
    // A body that is intact but belongs to another row: rows were swapped.
    if (event.ok() && event->id != row.ColumnText(kColEventId)) {
      Statement::Scope scope(event_ids_of_key);
      auto key = sha.EventKey(event->id);
      if (!key.ok()) return key.status();
      CMK_RETURN_IF_ERROR(event_ids_of_key.BindInt(1, *key));
      for (;;) {
        auto found = event_ids_of_key.Step();
        if (!found.ok()) return found.status();
        if (!*found) break;
        if (event_ids_of_key.ColumnText(1) != event->id) continue;
        const int64_t owner = event_ids_of_key.ColumnInt(0);
        if (owner == seq) break;
        return Fail(report, ChainProblem::kReorderedRows, &row, resource_id,
                    "row holds the body of event " + event->id + " (row " + std::to_string(owner) +
                        "): bodies swapped or moved");
      }
    }
    return Fail(report, ChainProblem::kAlteredBytes, &row, resource_id,
                "stored bytes hash to " + Hex(hash.substr(0, 8)) + "..., the chain says " +
                    Hex(stored_hash.substr(0, 8)) + "...: the event was altered");
  }
  if (!event.ok()) {
    return Fail(report, ChainProblem::kAlteredBytes, &row, resource_id,
                "stored bytes match their hash but do not decode: " + event.status().message());
  }
  auto key = sha.EventKey(event->id);
  if (!key.ok()) return key.status();
  if (std::string column = ColumnMismatch(row, resource_id, *event, *key); !column.empty()) {
    return Fail(report, ChainProblem::kAlteredColumns, &row, resource_id,
                "column " + column + " disagrees with the stored event");
  }
  walk.prev.assign(stored_hash);
  walk.last_seq = seq;
  ++walk.length;
  ++report.events;
  return Status::Ok();
}

Result<std::vector<ResourceRow>> Timeline::Impl::LoadResources(const std::string* only) {
  auto stmt = db.Prepare(only != nullptr ? "SELECT id, resource_id, last_seq, last_hash, length FROM resources"
                                           " WHERE resource_id = ?1"
                                         : "SELECT id, resource_id, last_seq, last_hash, length FROM resources"
                                           " ORDER BY resource_id");
  if (!stmt.ok()) return stmt.status();
  if (only != nullptr) CMK_RETURN_IF_ERROR(stmt->BindText(1, *only));
  std::vector<ResourceRow> out;
  for (;;) {
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back(ResourceRow{stmt->ColumnInt(0), std::string(stmt->ColumnText(1)),
                              ChainHead{stmt->ColumnInt(2), std::string(stmt->ColumnBlob(3)), stmt->ColumnInt(4)}});
  }
  return out;
}

Result<std::map<int64_t, Anchor>> Timeline::Impl::LoadAnchors(const int64_t* only) {
  auto stmt = db.Prepare(only != nullptr
                             ? "SELECT resource, last_seq, last_hash, pruned FROM chain_anchors WHERE resource = ?1"
                             : "SELECT resource, last_seq, last_hash, pruned FROM chain_anchors");
  if (!stmt.ok()) return stmt.status();
  if (only != nullptr) CMK_RETURN_IF_ERROR(stmt->BindInt(1, *only));
  std::map<int64_t, Anchor> out;
  for (;;) {
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out[stmt->ColumnInt(0)] = Anchor{stmt->ColumnInt(1), std::string(stmt->ColumnBlob(2)), stmt->ColumnInt(3)};
  }
  return out;
}

// One pass over the rows in seq order, every resource's walk advancing side
// by side: a single sequential scan of the table instead of one sorted query
// per resource. Memory is per resource, not per event.
Status Timeline::Impl::WalkChains(Statement& rows, const std::vector<ResourceRow>& all,
                                  const std::map<int64_t, Anchor>& anchors, VerifyReport& report) {
  std::unordered_map<int64_t, size_t> position;  // resources.id -> index in `all`
  position.reserve(all.size());
  for (size_t i = 0; i < all.size(); ++i) position.emplace(all[i].id, i);
  std::unordered_map<int64_t, Walk> walks;
  auto start = [&](int64_t resource) {
    Walk w;
    if (auto a = anchors.find(resource); a != anchors.end()) {
      w.prev = a->second.last_hash;
      w.last_seq = a->second.last_seq;
      w.anchor_seq = a->second.last_seq;
      w.length = a->second.pruned;
    }
    return w;
  };
  for (;;) {
    auto more = rows.Step();
    if (!more.ok()) return more.status();
    if (!*more) break;
    const int64_t resource = rows.ColumnInt(kColResource);
    auto p = position.find(resource);
    if (p == position.end()) {
      // Its chain head (and name) is gone, or the row was pointed elsewhere.
      return Fail(report, ChainProblem::kHeadMismatch, &rows, "resource #" + std::to_string(resource),
                  "row names resource #" + std::to_string(resource) +
                      ", which the resources table (names and chain heads) does not hold: the entry was removed "
                      "or the row's resource column edited");
    }
    auto it = walks.find(resource);
    if (it == walks.end()) it = walks.emplace(resource, start(resource)).first;
    CMK_RETURN_IF_ERROR(CheckRow(rows, resource, all[p->second].resource_id, it->second, report));
  }

  // Every chain must end where its head says, and every head must have a
  // chain (rows or an anchor): this is what catches a removed last row.
  for (const ResourceRow& r : all) {
    ++report.resources;
    auto w = walks.find(r.id);
    if (w == walks.end() && !anchors.count(r.id)) {
      return Fail(report, ChainProblem::kHeadMismatch, nullptr, r.resource_id,
                  "chain head names " + std::to_string(r.head.length) + " events ending at row " +
                      std::to_string(r.head.last_seq) + ", but no row of this resource is stored");
    }
    const Walk walk = w != walks.end() ? w->second : start(r.id);  // fully pruned chains
    const ChainHead& head = r.head;
    if (head.last_seq != walk.last_seq || head.last_hash != walk.prev || head.length != walk.length) {
      return Fail(report, ChainProblem::kHeadMismatch, nullptr, r.resource_id,
                  "chain head says " + std::to_string(head.length) + " events ending at row " +
                      std::to_string(head.last_seq) + " (hash " + Hex(std::string_view(head.last_hash).substr(0, 8)) +
                      "...); the rows give " + std::to_string(walk.length) + " ending at row " +
                      std::to_string(walk.last_seq) + " (hash " + Hex(std::string_view(walk.prev).substr(0, 8)) +
                      "...)");
    }
  }
  return Status::Ok();
}

Status Timeline::Verify(VerifyReport* report) {
  VerifyReport local;
  VerifyReport& r = report != nullptr ? *report : local;
  r = VerifyReport{};
  Impl& m = *impl_;
  CMK_RETURN_IF_ERROR(m.CommitBulk());  // a read transaction cannot nest in it
  // A read transaction: one consistent snapshot while the writer goes on.
  CMK_RETURN_IF_ERROR(m.db.Exec("BEGIN"));
  auto all = m.LoadResources(nullptr);
  auto anchors = all.ok() ? m.LoadAnchors(nullptr) : Result<std::map<int64_t, Anchor>>(all.status());
  Status s = anchors.ok() ? Status::Ok() : anchors.status();
  if (s.ok()) {
    Statement::Scope scope(m.scan_all);
    s = m.WalkChains(m.scan_all, *all, *anchors, r);
  }
  (void)m.db.Exec("COMMIT");  // read-only: nothing to lose
  return s;
}

Status Timeline::Verify(const std::string& resource_id, VerifyReport* report) {
  VerifyReport local;
  VerifyReport& r = report != nullptr ? *report : local;
  r = VerifyReport{};
  Impl& m = *impl_;
  CMK_RETURN_IF_ERROR(m.CommitBulk());
  CMK_RETURN_IF_ERROR(m.db.Exec("BEGIN"));
  auto one = m.LoadResources(&resource_id);
  Status s = one.ok() ? Status::Ok() : one.status();
  if (s.ok() && !one->empty()) {
    const int64_t id = one->front().id;
    auto anchors = m.LoadAnchors(&id);
    s = anchors.ok() ? Status::Ok() : anchors.status();
    if (s.ok()) {
      Statement::Scope scope(m.scan_resource);
      s = m.scan_resource.BindInt(1, id);
      if (s.ok()) s = m.WalkChains(m.scan_resource, *one, *anchors, r);
    }
  }
  (void)m.db.Exec("COMMIT");
  if (s.ok() && r.resources == 0) return Status::NotFound("no chain for resource " + resource_id);
  return s;
}

// ---- Queries ------------------------------------------------------------------

Result<std::vector<Event>> Timeline::EventsFor(const std::string& resource_id, int64_t from_ns, int64_t to_ns,
                                               size_t limit) {
  return impl_->ReadEvents(&resource_id, from_ns, to_ns, limit);
}

Result<std::vector<Event>> Timeline::EventsBetween(int64_t from_ns, int64_t to_ns, size_t limit) {
  return impl_->ReadEvents(nullptr, from_ns, to_ns, limit);
}

Result<std::vector<Event>> Timeline::Impl::ReadEvents(const std::string* resource_id, int64_t from_ns, int64_t to_ns,
                                                      size_t limit) {
  if (limit == 0 || limit > kMaxQueryEvents) {
    return Status::InvalidArgument("limit must be 1.." + std::to_string(kMaxQueryEvents));
  }
  // A resource's key never changes once committed, so looking it up and
  // reading its rows need not share a snapshot.
  int64_t resource = 0;
  if (resource_id != nullptr) {
    Statement::Scope scope(select_resource);
    CMK_RETURN_IF_ERROR(select_resource.BindText(1, *resource_id));
    auto row = select_resource.Step();
    if (!row.ok()) return row.status();
    if (!*row) return std::vector<Event>{};  // no such resource: no events
    resource = select_resource.ColumnInt(0);
  }
  Statement& q = resource_id == nullptr ? events_of_all : events_of_resource;
  Statement::Scope scope(q);
  if (resource_id != nullptr) CMK_RETURN_IF_ERROR(q.BindInt(1, resource));
  CMK_RETURN_IF_ERROR(q.BindInt(2, from_ns));
  CMK_RETURN_IF_ERROR(q.BindInt(3, to_ns));
  CMK_RETURN_IF_ERROR(q.BindInt(4, static_cast<int64_t>(limit)));
  std::vector<Event> out;
  for (;;) {
    auto row = q.Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    auto bytes = codec.Decode(q.ColumnInt(kColCodec), q.ColumnInt(kColBodySize), q.ColumnBlob(kColBody),
                              kMaxStoredEventBytes);
    auto event = bytes.ok() ? DecodeEventBytes(*bytes) : Result<Event>(bytes.status());
    if (!event.ok()) {
      return Status::Corruption("row " + std::to_string(q.ColumnInt(kColSeq)) + " (event " +
                                std::string(q.ColumnText(kColEventId)) + "): " + event.status().message() +
                                "; run verify");
    }
    out.push_back(std::move(event).value());
  }
  return out;
}

Result<std::vector<QuarantineEntry>> Timeline::Quarantined(size_t limit) {
  if (limit == 0 || limit > kMaxQueryEvents) {
    return Status::InvalidArgument("limit must be 1.." + std::to_string(kMaxQueryEvents));
  }
  auto q = impl_->db.Prepare("SELECT path, offset, line, format, reason FROM quarantine ORDER BY id LIMIT ?1");
  if (!q.ok()) return q.status();
  CMK_RETURN_IF_ERROR(q->BindInt(1, static_cast<int64_t>(limit)));
  std::vector<QuarantineEntry> out;
  for (;;) {
    auto row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    QuarantineEntry e;
    e.path = q->ColumnText(0);
    e.offset = static_cast<uint64_t>(q->ColumnInt(1));
    e.line = static_cast<uint64_t>(q->ColumnInt(2));
    e.format_guess = q->ColumnText(3);
    e.reason = q->ColumnText(4);
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::vector<std::pair<std::string, std::string>>> Timeline::ChainHeads() {
  auto q = impl_->db.Prepare("SELECT resource_id, last_hash FROM resources ORDER BY resource_id");
  if (!q.ok()) return q.status();
  std::vector<std::pair<std::string, std::string>> heads;
  while (true) {
    auto row = q->Step("reading chain heads");
    if (!row.ok()) return row.status();
    if (!*row) break;
    heads.emplace_back(std::string(q->ColumnText(0)), std::string(q->ColumnBlob(1)));
  }
  return heads;
}

Result<TimelineStats> Timeline::Stats() {
  // Counted from the small tables, not count(*) over events: a metrics
  // scrape must not scan millions of rows.
  auto q = impl_->db.Prepare(R"sql(
SELECT (SELECT coalesce(sum(length), 0) FROM resources) - (SELECT coalesce(sum(pruned), 0) FROM chain_anchors),
       (SELECT count(*) FROM resources),
       (SELECT count(*) FROM quarantine),
       (SELECT coalesce(sum(duplicates), 0) FROM collectors),
       (SELECT coalesce(sum(batches), 0) FROM collectors),
       (SELECT count(*) FROM collectors),
       (SELECT coalesce(sum(pruned), 0) FROM chain_anchors))sql");
  if (!q.ok()) return q.status();
  auto row = q->Step();
  if (!row.ok()) return row.status();
  if (!*row) return Status::Internal("no row from the stats query");
  TimelineStats s;
  s.events = static_cast<uint64_t>(q->ColumnInt(0));
  s.resources = static_cast<uint64_t>(q->ColumnInt(1));
  s.quarantined = static_cast<uint64_t>(q->ColumnInt(2));
  s.duplicates = static_cast<uint64_t>(q->ColumnInt(3));
  s.batches = static_cast<uint64_t>(q->ColumnInt(4));
  s.collectors = static_cast<uint64_t>(q->ColumnInt(5));
  s.pruned = static_cast<uint64_t>(q->ColumnInt(6));
  return s;
}

// ---- Retention ----------------------------------------------------------------

Result<uint64_t> Timeline::PruneBefore(int64_t cutoff_ns) {
  Impl& m = *impl_;
  sqlite::Transaction tx(m.db);
  CMK_RETURN_IF_ERROR(tx.Begin());
  auto all = m.LoadResources(nullptr);
  if (!all.ok()) return all.status();

  auto chain = m.db.Prepare("SELECT seq, time_ns, hash FROM events WHERE resource = ?1 ORDER BY seq");
  if (!chain.ok()) return chain.status();
  auto del = m.db.Prepare("DELETE FROM events WHERE resource = ?1 AND seq <= ?2");
  if (!del.ok()) return del.status();
  auto anchor = m.db.Prepare(R"sql(
INSERT INTO chain_anchors (resource, last_seq, last_hash, pruned) VALUES (?1, ?2, ?3, ?4)
ON CONFLICT (resource) DO UPDATE SET
  last_seq = excluded.last_seq, last_hash = excluded.last_hash, pruned = pruned + excluded.pruned)sql");
  if (!anchor.ok()) return anchor.status();

  uint64_t total = 0;
  for (const ResourceRow& r : *all) {
    // The prunable prefix: rows in chain order up to the first one that is
    // not older than the cutoff.
    int64_t last_seq = 0;
    std::string last_hash;
    int64_t count = 0;
    {
      Statement::Scope scope(*chain);
      CMK_RETURN_IF_ERROR(chain->BindInt(1, r.id));
      for (;;) {
        auto row = chain->Step();
        if (!row.ok()) return row.status();
        if (!*row || chain->ColumnInt(1) >= cutoff_ns) break;
        last_seq = chain->ColumnInt(0);
        last_hash = chain->ColumnBlob(2);
        ++count;
      }
    }
    if (count == 0) continue;
    {
      Statement::Scope scope(*del);
      CMK_RETURN_IF_ERROR(del->BindInt(1, r.id));
      CMK_RETURN_IF_ERROR(del->BindInt(2, last_seq));
      CMK_RETURN_IF_ERROR(del->Run());
      if (m.db.Changes() != count) {
        return Status::Internal("pruning " + r.resource_id + " deleted " + std::to_string(m.db.Changes()) +
                                " rows, expected " + std::to_string(count));
      }
    }
    Statement::Scope scope(*anchor);
    CMK_RETURN_IF_ERROR(anchor->BindInt(1, r.id));
    CMK_RETURN_IF_ERROR(anchor->BindInt(2, last_seq));
    CMK_RETURN_IF_ERROR(anchor->BindBlob(3, last_hash));
    CMK_RETURN_IF_ERROR(anchor->BindInt(4, count));
    CMK_RETURN_IF_ERROR(anchor->Run());
    total += static_cast<uint64_t>(count);
  }
  // Heads are untouched (a chain's length counts its pruned events), so
  // the writer's cache stays valid.
  CMK_RETURN_IF_ERROR(tx.Commit());
  return total;
}

}  // namespace cmkwatch::analyzer
