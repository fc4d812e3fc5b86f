#include "cmkwatch/collector/spool.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>
#include <mutex>
#include <utility>

#include "cmkwatch/common/wire.h"
#include "sqlite/sqlite.h"

namespace cmkwatch::collector {
namespace {

// Bump when the schema changes; Open refuses files with a higher version
// (a newer collector's spool) rather than misreading them.
constexpr int64_t kSchemaVersion = 1;
constexpr size_t kMaxCollectorIdBytes = 256;
constexpr size_t kMaxSourceKeyBytes = 4096;
constexpr size_t kMaxIdentityBytes = 256;
constexpr uint64_t kMaxStoredInt = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

// `spool` has exactly one row. next_sequence lives there, not in
// max(batches.sequence), because acks delete rows and a sequence must never
// be handed out twice. `size` duplicates length(body) so the byte total is
// cheap to recompute after a failure.
constexpr const char* kSchemaSql = R"sql(
CREATE TABLE spool(
  id INTEGER PRIMARY KEY CHECK (id = 1),
  collector_id TEXT NOT NULL,
  next_sequence INTEGER NOT NULL,
  created_ns INTEGER NOT NULL);
CREATE TABLE batches(
  sequence INTEGER PRIMARY KEY,
  appended_ns INTEGER NOT NULL,
  events INTEGER NOT NULL,
  size INTEGER NOT NULL,
  body BLOB NOT NULL);
CREATE TABLE checkpoints(
  source_key TEXT PRIMARY KEY,
  byte_offset INTEGER NOT NULL,
  identity TEXT NOT NULL,
  sequence INTEGER NOT NULL) WITHOUT ROWID;
PRAGMA user_version = 1;
)sql";

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}


// Callers keep value <= INT64_MAX.
Status BindU64(sqlite::Statement& stmt, int index, uint64_t value) {
  return stmt.BindInt(index, static_cast<int64_t>(value));
}
uint64_t ColumnU64(const sqlite::Statement& stmt, int column) {
  return static_cast<uint64_t>(std::max<int64_t>(0, stmt.ColumnInt(column)));
}

// Runs a statement whose rows (if any) are ignored until it is done.
Status StepToDone(sqlite::Statement& stmt, std::string_view what) {
  for (;;) {
    auto row = stmt.Step(what);
    if (!row.ok()) return row.status();
    if (!*row) return Status::Ok();
  }
}

// Creates the file mode 0600 when it does not exist: batches hold raw log
// records (caller IPs, user names), and SQLite would create it 0644. SQLite
// gives its -wal file the same mode. An empty file is a valid, empty
// database to SQLite.
Status CreatePrivately(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    ::close(fd);
    return Status::Ok();
  }
  if (errno == EEXIST) return Status::Ok();
  return Status::IoError("cannot create spool " + path + ": " + std::strerror(errno));
}

}  // namespace

struct Spool::Impl {
  std::string path;
  SpoolOptions options;
  uint64_t batch_limit = 0;  // largest single encoded batch accepted

  // Declared before the statements so it is destroyed after them.
  sqlite::Db db;
  sqlite::Statement insert_batch;
  sqlite::Statement set_next_sequence;
  sqlite::Statement upsert_checkpoint;
  sqlite::Statement select_checkpoint;
  sqlite::Statement select_checkpoints;
  sqlite::Statement select_pending;
  sqlite::Statement delete_batch;
  sqlite::Statement select_oldest;
  sqlite::Statement count_bad_rows;

  std::mutex mu;
  // Mirrors of the file's state, so Append's size check and Stats cost no
  // query. Updated only after a commit; reloaded after any failed write.
  uint64_t next_sequence = 1;
  uint64_t pending_batches = 0;
  uint64_t pending_events = 0;
  uint64_t pending_bytes = 0;
  uint64_t unknown_acks = 0;

  Status Setup();
  Status LoadCounters();
  Status PrepareStatements();
  Status FullStatus(uint64_t batch_bytes) const;
  Result<uint64_t> Store(const wire::Batch& batch, const std::vector<SpoolCheckpoint>& checkpoints,
                         std::string* encoded);
};

Status Spool::Impl::Setup() {
  // EXCLUSIVE: the lock taken by the first write below is held until close,
  // so a second collector process (or connection) cannot open this spool
  // and resend or acknowledge batches behind our back. Set before the first
  // WAL access, it also keeps the WAL index in heap memory (no -shm file).
  CMK_RETURN_IF_ERROR(db.Exec("PRAGMA locking_mode = EXCLUSIVE"));
  {
    auto stmt = db.Prepare("PRAGMA journal_mode = WAL");
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step("switching to WAL");
    if (!row.ok()) return row.status();
    const bool have_mode = *row && !stmt->ColumnIsNull(0);
    const std::string mode = have_mode ? std::string(stmt->ColumnText(0)) : "?";
    if (!have_mode || mode != "wal") {
      return Status::IoError("spool " + path + ": SQLite could not use write-ahead logging here (journal mode " +
                             mode + ")");
    }
  }
  // FULL: the spool is the only copy of a batch until the analyzer acks it
  // (the source file may be rotated away by then), so a commit must reach
  // the disk before Append returns; NORMAL could lose the last commits on a
  // power cut.
  CMK_RETURN_IF_ERROR(db.Exec("PRAGMA synchronous = FULL"));

  sqlite::Transaction txn(db);
  CMK_RETURN_IF_ERROR(txn.Begin());
  auto version = db.QueryInt("PRAGMA user_version");
  if (!version.ok()) return version.status();
  if (*version > kSchemaVersion) {
    return Status::Unsupported("spool " + path + " has schema version " + std::to_string(*version) +
                               ", newer than this collector understands (" + std::to_string(kSchemaVersion) +
                               "); run the newer collector or start a new spool file");
  }
  if (*version == 0) {
    auto tables = db.QueryInt("SELECT count(*) FROM sqlite_schema");
    if (!tables.ok()) return tables.status();
    if (*tables != 0) {
      return Status::InvalidArgument("file " + path + " is an SQLite database but not a cmkwatch spool");
    }
    CMK_RETURN_IF_ERROR(db.Exec(kSchemaSql));
    auto insert = db.Prepare("INSERT INTO spool(id, collector_id, next_sequence, created_ns) VALUES (1, ?1, 1, ?2)");
    if (!insert.ok()) return insert.status();
    CMK_RETURN_IF_ERROR(insert->BindText(1, options.collector_id));
    CMK_RETURN_IF_ERROR(insert->BindInt(2, NowNs()));
    CMK_RETURN_IF_ERROR(StepToDone(*insert, "creating spool " + path));
  } else {
    auto select = db.Prepare("SELECT collector_id FROM spool WHERE id = 1");
    if (!select.ok()) return select.status();
    auto row = select->Step("reading spool " + path);
    if (!row.ok()) return row.status();
    if (!*row) return Status::Corruption("spool " + path + " has lost its header row");
    const std::string owner(select->ColumnText(0));
    if (owner != options.collector_id) {
      return Status::InvalidArgument("spool " + path + " belongs to collector '" + owner + "', not '" +
                                     options.collector_id +
                                     "': each collector needs its own spool file, since sequence numbers are "
                                     "per collector");
    }
  }
  return txn.Commit();
}

Status Spool::Impl::LoadCounters() {
  auto seq = db.QueryInt("SELECT next_sequence FROM spool WHERE id = 1");
  if (!seq.ok()) return seq.status();
  auto stmt = db.Prepare("SELECT count(*), coalesce(sum(events), 0), coalesce(sum(size), 0) FROM batches");
  if (!stmt.ok()) return stmt.status();
  const std::string what = "counting pending batches in " + path;
  auto row = stmt->Step(what);
  if (!row.ok()) return row.status();
  if (!*row) return Status::Internal(what + ": no row");
  next_sequence = static_cast<uint64_t>(std::max<int64_t>(1, *seq));
  pending_batches = ColumnU64(*stmt, 0);
  pending_events = ColumnU64(*stmt, 1);
  pending_bytes = ColumnU64(*stmt, 2);
  return Status::Ok();
}

Status Spool::Impl::PrepareStatements() {
  struct Entry {
    sqlite::Statement* stmt;
    const char* sql;
  };
  const Entry entries[] = {
      {&insert_batch, "INSERT INTO batches(sequence, appended_ns, events, size, body) VALUES (?1, ?2, ?3, ?4, ?5)"},
      {&set_next_sequence, "UPDATE spool SET next_sequence = ?1 WHERE id = 1"},
      {&upsert_checkpoint,
       "INSERT INTO checkpoints(source_key, byte_offset, identity, sequence) VALUES (?1, ?2, ?3, ?4) "
       "ON CONFLICT(source_key) DO UPDATE SET byte_offset = excluded.byte_offset, identity = excluded.identity, "
       "sequence = excluded.sequence"},
      {&select_checkpoints,
       "SELECT source_key, byte_offset, identity FROM checkpoints "
       "WHERE substr(source_key, 1, length(?1)) = ?1 ORDER BY source_key LIMIT ?2"},
      {&select_checkpoint, "SELECT byte_offset FROM checkpoints WHERE source_key = ?1"},
      {&select_pending, "SELECT sequence, body FROM batches WHERE sequence > ?1 ORDER BY sequence LIMIT ?2"},
      {&delete_batch, "DELETE FROM batches WHERE sequence = ?1 RETURNING events, size"},
      {&select_oldest, "SELECT appended_ns FROM batches ORDER BY sequence LIMIT 1"},
      {&count_bad_rows, "SELECT count(*) FROM batches WHERE size != length(body) OR sequence >= ?1 OR sequence < 1"},
  };
  for (const Entry& e : entries) {
    auto stmt = db.Prepare(e.sql);
    if (!stmt.ok()) return stmt.status();
    *e.stmt = std::move(*stmt);
  }
  return Status::Ok();
}

Status Spool::Impl::FullStatus(uint64_t batch_bytes) const {
  return Status::LimitExceeded("spool " + path + " is full (" + std::to_string(pending_bytes) + " of " +
                               std::to_string(options.max_bytes) + " bytes in " + std::to_string(pending_batches) +
                               " unacknowledged batches; this batch needs " + std::to_string(batch_bytes) +
                               "): reading pauses until the analyzer acknowledges batches");
}

Result<uint64_t> Spool::Impl::Store(const wire::Batch& batch, const std::vector<SpoolCheckpoint>& checkpoints,
                                    std::string* encoded) {
  std::string body = wire::EncodeBatch(batch);
  const uint64_t size = body.size();
  if (size > batch_limit) {
    return Status::LimitExceeded("a batch of " + std::to_string(size) + " bytes (" +
                                 std::to_string(batch.events.size()) + " events) exceeds the largest the spool " +
                                 path + " accepts (" + std::to_string(batch_limit) +
                                 " bytes): send smaller batches or raise the spool size");
  }
  if (pending_bytes + size > options.max_bytes) return FullStatus(size);

  const std::string what = "appending batch " + std::to_string(batch.sequence) + " to spool " + path;
  sqlite::Transaction txn(db);
  // The body is bound without a copy: the Scope resets the statement (and
  // clears its bindings) before `body` goes.
  auto insert = [&]() -> Status {
    sqlite::Statement::Scope reset(insert_batch);
    CMK_RETURN_IF_ERROR(BindU64(insert_batch, 1, batch.sequence));
    CMK_RETURN_IF_ERROR(insert_batch.BindInt(2, NowNs()));
    CMK_RETURN_IF_ERROR(BindU64(insert_batch, 3, batch.events.size()));
    CMK_RETURN_IF_ERROR(BindU64(insert_batch, 4, size));
    CMK_RETURN_IF_ERROR(insert_batch.BindBlobNoCopy(5, body));
    return StepToDone(insert_batch, what);
  };
  auto advance = [&]() -> Status {
    sqlite::Statement::Scope reset(set_next_sequence);
    CMK_RETURN_IF_ERROR(BindU64(set_next_sequence, 1, batch.sequence + 1));
    return StepToDone(set_next_sequence, what);
  };
  auto checkpoint = [&](const SpoolCheckpoint& cp) -> Status {
    sqlite::Statement::Scope reset(upsert_checkpoint);
    CMK_RETURN_IF_ERROR(upsert_checkpoint.BindText(1, cp.source_key));
    CMK_RETURN_IF_ERROR(BindU64(upsert_checkpoint, 2, cp.offset));
    CMK_RETURN_IF_ERROR(upsert_checkpoint.BindText(3, cp.identity));
    CMK_RETURN_IF_ERROR(BindU64(upsert_checkpoint, 4, batch.sequence));
    return StepToDone(upsert_checkpoint, what);
  };
  Status s = txn.Begin();
  if (s.ok()) s = insert();
  if (s.ok()) s = advance();
  for (const SpoolCheckpoint& cp : checkpoints) {
    if (!s.ok()) break;
    s = checkpoint(cp);
  }
  if (s.ok()) s = txn.Commit();
  if (!s.ok()) {
    // Rolled back (or, after a failed COMMIT, unknown): trust the file.
    (void)LoadCounters();
    return s;
  }
  next_sequence = batch.sequence + 1;
  pending_batches += 1;
  pending_events += batch.events.size();
  pending_bytes += size;
  if (encoded != nullptr) *encoded = std::move(body);
  return batch.sequence;
}

Spool::Spool(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Spool::~Spool() = default;

const std::string& Spool::path() const { return impl_->path; }
const std::string& Spool::collector_id() const { return impl_->options.collector_id; }

Result<std::unique_ptr<Spool>> Spool::Open(const std::string& path, const SpoolOptions& options) {
  if (options.collector_id.empty()) return Status::InvalidArgument("spool " + path + ": a collector id is required");
  if (options.collector_id.size() > kMaxCollectorIdBytes) {
    return Status::InvalidArgument("spool " + path + ": collector id longer than " +
                                   std::to_string(kMaxCollectorIdBytes) + " bytes");
  }
  if (options.max_bytes == 0) return Status::InvalidArgument("spool " + path + ": max_bytes must be positive");
  if (Status s = CreatePrivately(path); !s.ok()) return s;

  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->options = options;
  impl->batch_limit = std::min<uint64_t>(options.max_bytes, wire::kMaxMessageBytes);

  // NOMUTEX: Impl::mu serializes every use of the connection.
  auto db = sqlite::Db::Open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX);
  if (!db.ok()) return db.status();
  impl->db = std::move(*db);

  if (Status s = impl->Setup(); !s.ok()) return s;
  if (Status s = impl->LoadCounters(); !s.ok()) return s;
  if (Status s = impl->PrepareStatements(); !s.ok()) return s;
  return std::unique_ptr<Spool>(new Spool(std::move(impl)));
}

Result<uint64_t> Spool::Append(std::vector<Event>&& events, std::vector<QuarantineEntry>&& quarantined,
                               const std::vector<SpoolCheckpoint>& checkpoints, std::string* encoded) {
  // Refusals the analyzer's decoder would make anyway: a batch that can
  // never be delivered must not enter the spool, where it would be resent
  // forever.
  if (events.size() > wire::kMaxItems || quarantined.size() > wire::kMaxItems) {
    return Status::LimitExceeded("a batch of " + std::to_string(events.size()) + " events and " +
                                 std::to_string(quarantined.size()) + " quarantine entries exceeds the wire limit of " +
                                 std::to_string(wire::kMaxItems) + " of each");
  }
  for (const SpoolCheckpoint& cp : checkpoints) {
    if (cp.source_key.empty() || cp.source_key.size() > kMaxSourceKeyBytes) {
      return Status::InvalidArgument("checkpoint source key must be 1 to " + std::to_string(kMaxSourceKeyBytes) +
                                     " bytes");
    }
    if (cp.identity.size() > kMaxIdentityBytes) {
      return Status::InvalidArgument("checkpoint identity must be at most " + std::to_string(kMaxIdentityBytes) +
                                     " bytes");
    }
    if (cp.offset > kMaxStoredInt) {
      return Status::InvalidArgument("checkpoint offset " + std::to_string(cp.offset) + " out of range");
    }
  }

  std::lock_guard lock(impl_->mu);
  Impl& s = *impl_;
  if (s.next_sequence >= kMaxStoredInt) {
    return Status::LimitExceeded("spool " + s.path + " ran out of sequence numbers");
  }
  // Already full: refuse before spending time on encoding.
  if (s.pending_bytes >= s.options.max_bytes) return s.FullStatus(0);

  wire::Batch batch{s.options.collector_id, s.next_sequence, std::move(events), std::move(quarantined)};
  Result<uint64_t> stored = s.Store(batch, checkpoints, encoded);
  if (!stored.ok()) {
    // Hand the batch back so the caller can retry it (back-pressure).
    events = std::move(batch.events);
    quarantined = std::move(batch.quarantined);
  }
  return stored;
}

Result<std::optional<uint64_t>> Spool::Checkpoint(const std::string& source_key) {
  std::lock_guard lock(impl_->mu);
  sqlite::Statement& st = impl_->select_checkpoint;
  sqlite::Statement::Scope reset(st);
  CMK_RETURN_IF_ERROR(st.BindText(1, source_key));
  auto row = st.Step("reading checkpoint from spool " + impl_->path);
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<uint64_t>();
  return std::optional<uint64_t>(ColumnU64(st, 0));
}

Result<std::vector<SpoolCheckpoint>> Spool::Checkpoints(const std::string& key_prefix) {
  std::vector<SpoolCheckpoint> out;
  std::lock_guard lock(impl_->mu);
  sqlite::Statement& st = impl_->select_checkpoints;
  sqlite::Statement::Scope reset(st);
  CMK_RETURN_IF_ERROR(st.BindText(1, key_prefix));
  CMK_RETURN_IF_ERROR(BindU64(st, 2, kMaxCheckpoints));
  const std::string what = "reading checkpoints from spool " + impl_->path;
  for (;;) {
    auto row = st.Step(what);
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back({std::string(st.ColumnText(0)), ColumnU64(st, 1), std::string(st.ColumnText(2))});
  }
  return out;
}

Result<std::vector<SpooledBatch>> Spool::Pending(size_t max_batches, uint64_t after_sequence) {
  std::vector<SpooledBatch> out;
  if (max_batches == 0) return out;
  std::lock_guard lock(impl_->mu);
  sqlite::Statement& st = impl_->select_pending;
  sqlite::Statement::Scope reset(st);
  CMK_RETURN_IF_ERROR(BindU64(st, 1, std::min(after_sequence, kMaxStoredInt)));
  CMK_RETURN_IF_ERROR(BindU64(st, 2, std::min<uint64_t>(max_batches, kMaxStoredInt)));
  const std::string what = "reading pending batches from spool " + impl_->path;
  for (;;) {
    auto row = st.Step(what);
    if (!row.ok()) return row.status();
    if (!*row) break;
    SpooledBatch b;
    b.sequence = ColumnU64(st, 0);
    b.bytes.assign(st.ColumnBlob(1));
    out.push_back(std::move(b));
  }
  return out;
}

Result<bool> Spool::Ack(uint64_t sequence) {
  std::lock_guard lock(impl_->mu);
  Impl& s = *impl_;
  // Never handed out: no need to touch the file.
  if (sequence == 0 || sequence >= s.next_sequence) {
    ++s.unknown_acks;
    return false;
  }
  const std::string what = "acknowledging batch " + std::to_string(sequence) + " in spool " + s.path;
  sqlite::Transaction txn(s.db);
  if (Status st = txn.Begin(); !st.ok()) return st;
  bool found = false;
  uint64_t events = 0;
  uint64_t size = 0;
  {
    sqlite::Statement& st = s.delete_batch;
    sqlite::Statement::Scope reset(st);
    if (Status b = BindU64(st, 1, sequence); !b.ok()) return b;
    for (;;) {
      auto row = st.Step(what);
      if (!row.ok()) return row.status();
      if (!*row) break;
      found = true;
      events = ColumnU64(st, 0);
      size = ColumnU64(st, 1);
    }
  }
  if (Status st = txn.Commit(); !st.ok()) {
    (void)s.LoadCounters();
    return st;
  }
  if (!found) {
    ++s.unknown_acks;
    return false;
  }
  s.pending_batches -= std::min(s.pending_batches, uint64_t{1});
  s.pending_events -= std::min(s.pending_events, events);
  s.pending_bytes -= std::min(s.pending_bytes, size);
  return true;
}

Result<SpoolStats> Spool::Stats() {
  std::lock_guard lock(impl_->mu);
  Impl& s = *impl_;
  SpoolStats stats;
  stats.pending_batches = s.pending_batches;
  stats.pending_events = s.pending_events;
  stats.pending_bytes = s.pending_bytes;
  stats.max_bytes = s.options.max_bytes;
  stats.next_sequence = s.next_sequence;
  stats.unknown_acks = s.unknown_acks;
  sqlite::Statement& st = s.select_oldest;
  sqlite::Statement::Scope reset(st);
  auto row = st.Step("reading spool " + s.path);
  if (!row.ok()) return row.status();
  if (*row) stats.oldest_append_time = st.ColumnInt(0);
  return stats;
}

Status Spool::CheckIntegrity() {
  std::lock_guard lock(impl_->mu);
  Impl& s = *impl_;
  const std::string what = "checking spool " + s.path;
  {
    auto stmt = s.db.Prepare("PRAGMA integrity_check(20)");
    if (!stmt.ok()) return stmt.status();
    std::string problems;
    for (;;) {
      auto row = stmt->Step(what);
      if (!row.ok()) return row.status();
      if (!*row) break;
      const std::string_view line = stmt->ColumnText(0);
      if (line == "ok") continue;
      if (!problems.empty()) problems += "; ";
      problems += line;
    }
    if (!problems.empty()) {
      return Status::Corruption("spool " + s.path + " failed SQLite's integrity check: " + problems);
    }
  }
  sqlite::Statement& st = s.count_bad_rows;
  sqlite::Statement::Scope reset(st);
  CMK_RETURN_IF_ERROR(BindU64(st, 1, s.next_sequence));
  auto row = st.Step(what);
  if (!row.ok()) return row.status();
  if (!*row) return Status::Internal(what + ": no row");
  if (const int64_t bad = st.ColumnInt(0); bad != 0) {
    return Status::Corruption("spool " + s.path + " has " + std::to_string(bad) +
                              " batches whose size or sequence is inconsistent");
  }
  return Status::Ok();
}

}  // namespace cmkwatch::collector
