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
#include "sqlite_util.h"

namespace cmkwatch::collector {
namespace {

// Bump when the schema changes; Open refuses files with a higher version
// (a newer collector's spool) rather than misreading them.
constexpr int64_t kSchemaVersion = 1;
constexpr size_t kMaxCollectorIdBytes = 256;
constexpr size_t kMaxSourceKeyBytes = 4096;
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
  sequence INTEGER NOT NULL) WITHOUT ROWID;
PRAGMA user_version = 1;
)sql";

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Binding helpers. A null destructor is SQLITE_STATIC (the macro is an
// old-style cast): the caller keeps the bytes alive until the statement is
// reset, which ScopedReset does before they go.
int BindText(sqlite3_stmt* stmt, int index, std::string_view text) {
  return sqlite3_bind_text64(stmt, index, text.data(), text.size(), nullptr, SQLITE_UTF8);
}
int BindBlob(sqlite3_stmt* stmt, int index, std::string_view bytes) {
  return sqlite3_bind_blob64(stmt, index, bytes.data(), bytes.size(), nullptr);
}
int BindU64(sqlite3_stmt* stmt, int index, uint64_t value) {
  return sqlite3_bind_int64(stmt, index, static_cast<int64_t>(value));  // callers keep value <= INT64_MAX
}
uint64_t ColumnU64(sqlite3_stmt* stmt, int column) {
  return static_cast<uint64_t>(std::max<int64_t>(0, sqlite3_column_int64(stmt, column)));
}

// Runs a statement that returns no rows (or whose rows we ignore).
Status StepToDone(sqlite3* db, sqlite3_stmt* stmt, std::string_view what) {
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
  }
  if (rc != SQLITE_DONE) return sqlite::ErrorStatus(db, rc, what);
  return Status::Ok();
}

// One integer from constant SQL (pragmas, counts).
Result<int64_t> QueryInt(sqlite3* db, const char* sql) {
  auto stmt = sqlite::Prepare(db, sql);
  if (!stmt.ok()) return stmt.status();
  const int rc = sqlite3_step(stmt->get());
  if (rc != SQLITE_ROW) return sqlite::ErrorStatus(db, rc, std::string("running ") + sql);
  return sqlite3_column_int64(stmt->get(), 0);
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
  sqlite::DbPtr db;
  sqlite::StmtPtr insert_batch;
  sqlite::StmtPtr set_next_sequence;
  sqlite::StmtPtr upsert_checkpoint;
  sqlite::StmtPtr select_checkpoint;
  sqlite::StmtPtr select_pending;
  sqlite::StmtPtr delete_batch;
  sqlite::StmtPtr select_oldest;
  sqlite::StmtPtr count_bad_rows;

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
  Result<uint64_t> Store(const wire::Batch& batch, const std::vector<SpoolCheckpoint>& checkpoints);
};

Status Spool::Impl::Setup() {
  sqlite3* h = db.get();
  // EXCLUSIVE: the lock taken by the first write below is held until close,
  // so a second collector process (or connection) cannot open this spool
  // and resend or acknowledge batches behind our back. Set before the first
  // WAL access, it also keeps the WAL index in heap memory (no -shm file).
  if (Status s = sqlite::Exec(h, "PRAGMA locking_mode = EXCLUSIVE"); !s.ok()) return s;
  {
    auto stmt = sqlite::Prepare(h, "PRAGMA journal_mode = WAL");
    if (!stmt.ok()) return stmt.status();
    const int rc = sqlite3_step(stmt->get());
    if (rc != SQLITE_ROW) return sqlite::ErrorStatus(h, rc, "switching to WAL");
    const auto* mode = reinterpret_cast<const char*>(sqlite3_column_text(stmt->get(), 0));
    if (mode == nullptr || std::string_view(mode) != "wal") {
      return Status::IoError("spool " + path + ": SQLite could not use write-ahead logging here (journal mode " +
                             (mode != nullptr ? mode : "?") + ")");
    }
  }
  // FULL: the spool is the only copy of a batch until the analyzer acks it
  // (the source file may be rotated away by then), so a commit must reach
  // the disk before Append returns; NORMAL could lose the last commits on a
  // power cut.
  if (Status s = sqlite::Exec(h, "PRAGMA synchronous = FULL"); !s.ok()) return s;

  sqlite::Transaction txn(h);
  if (Status s = txn.Begin(); !s.ok()) return s;
  auto version = QueryInt(h, "PRAGMA user_version");
  if (!version.ok()) return version.status();
  if (*version > kSchemaVersion) {
    return Status::Unsupported("spool " + path + " has schema version " + std::to_string(*version) +
                               ", newer than this collector understands (" + std::to_string(kSchemaVersion) +
                               "); run the newer collector or start a new spool file");
  }
  if (*version == 0) {
    auto tables = QueryInt(h, "SELECT count(*) FROM sqlite_schema");
    if (!tables.ok()) return tables.status();
    if (*tables != 0) {
      return Status::InvalidArgument("file " + path + " is an SQLite database but not a cmkwatch spool");
    }
    if (Status s = sqlite::Exec(h, kSchemaSql); !s.ok()) return s;
    auto insert =
        sqlite::Prepare(h, "INSERT INTO spool(id, collector_id, next_sequence, created_ns) VALUES (1, ?1, 1, ?2)");
    if (!insert.ok()) return insert.status();
    BindText(insert->get(), 1, options.collector_id);
    sqlite3_bind_int64(insert->get(), 2, NowNs());
    if (Status s = StepToDone(h, insert->get(), "creating spool " + path); !s.ok()) return s;
  } else {
    auto select = sqlite::Prepare(h, "SELECT collector_id FROM spool WHERE id = 1");
    if (!select.ok()) return select.status();
    const int rc = sqlite3_step(select->get());
    if (rc == SQLITE_DONE) return Status::Corruption("spool " + path + " has lost its header row");
    if (rc != SQLITE_ROW) return sqlite::ErrorStatus(h, rc, "reading spool " + path);
    const auto* stored = reinterpret_cast<const char*>(sqlite3_column_text(select->get(), 0));
    const std::string owner = stored != nullptr ? stored : "";
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
  sqlite3* h = db.get();
  auto seq = QueryInt(h, "SELECT next_sequence FROM spool WHERE id = 1");
  if (!seq.ok()) return seq.status();
  auto stmt = sqlite::Prepare(h, "SELECT count(*), coalesce(sum(events), 0), coalesce(sum(size), 0) FROM batches");
  if (!stmt.ok()) return stmt.status();
  const int rc = sqlite3_step(stmt->get());
  if (rc != SQLITE_ROW) return sqlite::ErrorStatus(h, rc, "counting pending batches in " + path);
  next_sequence = static_cast<uint64_t>(std::max<int64_t>(1, *seq));
  pending_batches = ColumnU64(stmt->get(), 0);
  pending_events = ColumnU64(stmt->get(), 1);
  pending_bytes = ColumnU64(stmt->get(), 2);
  return Status::Ok();
}

Status Spool::Impl::PrepareStatements() {
  struct Entry {
    sqlite::StmtPtr* stmt;
    const char* sql;
  };
  const Entry entries[] = {
      {&insert_batch, "INSERT INTO batches(sequence, appended_ns, events, size, body) VALUES (?1, ?2, ?3, ?4, ?5)"},
      {&set_next_sequence, "UPDATE spool SET next_sequence = ?1 WHERE id = 1"},
      {&upsert_checkpoint,
       "INSERT INTO checkpoints(source_key, byte_offset, sequence) VALUES (?1, ?2, ?3) "
       "ON CONFLICT(source_key) DO UPDATE SET byte_offset = excluded.byte_offset, sequence = excluded.sequence"},
      {&select_checkpoint, "SELECT byte_offset FROM checkpoints WHERE source_key = ?1"},
      {&select_pending, "SELECT sequence, body FROM batches WHERE sequence > ?1 ORDER BY sequence LIMIT ?2"},
      {&delete_batch, "DELETE FROM batches WHERE sequence = ?1 RETURNING events, size"},
      {&select_oldest, "SELECT appended_ns FROM batches ORDER BY sequence LIMIT 1"},
      {&count_bad_rows, "SELECT count(*) FROM batches WHERE size != length(body) OR sequence >= ?1 OR sequence < 1"},
  };
  for (const Entry& e : entries) {
    auto stmt = sqlite::Prepare(db.get(), e.sql);
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

Result<uint64_t> Spool::Impl::Store(const wire::Batch& batch, const std::vector<SpoolCheckpoint>& checkpoints) {
  const std::string body = wire::EncodeBatch(batch);
  const uint64_t size = body.size();
  if (size > batch_limit) {
    return Status::LimitExceeded("a batch of " + std::to_string(size) + " bytes (" +
                                 std::to_string(batch.events.size()) + " events) exceeds the largest the spool " +
                                 path + " accepts (" + std::to_string(batch_limit) +
                                 " bytes): send smaller batches or raise the spool size");
  }
  if (pending_bytes + size > options.max_bytes) return FullStatus(size);

  sqlite3* h = db.get();
  const std::string what = "appending batch " + std::to_string(batch.sequence) + " to spool " + path;
  sqlite::Transaction txn(h);
  Status s = txn.Begin();
  if (s.ok()) {
    sqlite3_stmt* st = insert_batch.get();
    sqlite::ScopedReset reset(st);
    BindU64(st, 1, batch.sequence);
    sqlite3_bind_int64(st, 2, NowNs());
    BindU64(st, 3, batch.events.size());
    BindU64(st, 4, size);
    BindBlob(st, 5, body);
    s = StepToDone(h, st, what);
  }
  if (s.ok()) {
    sqlite3_stmt* st = set_next_sequence.get();
    sqlite::ScopedReset reset(st);
    BindU64(st, 1, batch.sequence + 1);
    s = StepToDone(h, st, what);
  }
  for (const SpoolCheckpoint& cp : checkpoints) {
    if (!s.ok()) break;
    sqlite3_stmt* st = upsert_checkpoint.get();
    sqlite::ScopedReset reset(st);
    BindText(st, 1, cp.source_key);
    BindU64(st, 2, cp.offset);
    BindU64(st, 3, batch.sequence);
    s = StepToDone(h, st, what);
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

  sqlite3* raw = nullptr;
  // NOMUTEX: Impl::mu serializes every use of the connection.
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 nullptr);
  impl->db.reset(raw);  // owned even when opening failed
  if (rc != SQLITE_OK) return sqlite::ErrorStatus(raw, rc, "opening spool " + path);
  sqlite3_extended_result_codes(raw, 1);

  if (Status s = impl->Setup(); !s.ok()) return s;
  if (Status s = impl->LoadCounters(); !s.ok()) return s;
  if (Status s = impl->PrepareStatements(); !s.ok()) return s;
  return std::unique_ptr<Spool>(new Spool(std::move(impl)));
}

Result<uint64_t> Spool::Append(std::vector<Event>&& events, std::vector<QuarantineEntry>&& quarantined,
                               const std::vector<SpoolCheckpoint>& checkpoints) {
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
  Result<uint64_t> stored = s.Store(batch, checkpoints);
  if (!stored.ok()) {
    // Hand the batch back so the caller can retry it (back-pressure).
    events = std::move(batch.events);
    quarantined = std::move(batch.quarantined);
  }
  return stored;
}

Result<std::optional<uint64_t>> Spool::Checkpoint(const std::string& source_key) {
  std::lock_guard lock(impl_->mu);
  sqlite3_stmt* st = impl_->select_checkpoint.get();
  sqlite::ScopedReset reset(st);
  BindText(st, 1, source_key);
  const int rc = sqlite3_step(st);
  if (rc == SQLITE_DONE) return std::optional<uint64_t>();
  if (rc != SQLITE_ROW) return sqlite::ErrorStatus(impl_->db.get(), rc, "reading checkpoint from spool " + impl_->path);
  return std::optional<uint64_t>(ColumnU64(st, 0));
}

Result<std::vector<SpooledBatch>> Spool::Pending(size_t max_batches, uint64_t after_sequence) {
  std::vector<SpooledBatch> out;
  if (max_batches == 0) return out;
  std::lock_guard lock(impl_->mu);
  sqlite3_stmt* st = impl_->select_pending.get();
  sqlite::ScopedReset reset(st);
  BindU64(st, 1, std::min(after_sequence, kMaxStoredInt));
  BindU64(st, 2, std::min<uint64_t>(max_batches, kMaxStoredInt));
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    SpooledBatch b;
    b.sequence = ColumnU64(st, 0);
    const void* data = sqlite3_column_blob(st, 1);
    const int n = sqlite3_column_bytes(st, 1);
    if (data != nullptr && n > 0) b.bytes.assign(static_cast<const char*>(data), static_cast<size_t>(n));
    out.push_back(std::move(b));
  }
  if (rc != SQLITE_DONE) {
    return sqlite::ErrorStatus(impl_->db.get(), rc, "reading pending batches from spool " + impl_->path);
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
  sqlite3* h = s.db.get();
  const std::string what = "acknowledging batch " + std::to_string(sequence) + " in spool " + s.path;
  sqlite::Transaction txn(h);
  if (Status st = txn.Begin(); !st.ok()) return st;
  bool found = false;
  uint64_t events = 0;
  uint64_t size = 0;
  {
    sqlite3_stmt* st = s.delete_batch.get();
    sqlite::ScopedReset reset(st);
    BindU64(st, 1, sequence);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      found = true;
      events = ColumnU64(st, 0);
      size = ColumnU64(st, 1);
    }
    if (rc != SQLITE_DONE) return sqlite::ErrorStatus(h, rc, what);
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
  const Impl& s = *impl_;
  SpoolStats stats;
  stats.pending_batches = s.pending_batches;
  stats.pending_events = s.pending_events;
  stats.pending_bytes = s.pending_bytes;
  stats.max_bytes = s.options.max_bytes;
  stats.next_sequence = s.next_sequence;
  stats.unknown_acks = s.unknown_acks;
  sqlite3_stmt* st = s.select_oldest.get();
  sqlite::ScopedReset reset(st);
  const int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    stats.oldest_append_time = sqlite3_column_int64(st, 0);
  } else if (rc != SQLITE_DONE) {
    return sqlite::ErrorStatus(s.db.get(), rc, "reading spool " + s.path);
  }
  return stats;
}

Status Spool::CheckIntegrity() {
  std::lock_guard lock(impl_->mu);
  Impl& s = *impl_;
  sqlite3* h = s.db.get();
  {
    auto stmt = sqlite::Prepare(h, "PRAGMA integrity_check(20)");
    if (!stmt.ok()) return stmt.status();
    std::string problems;
    int rc;
    while ((rc = sqlite3_step(stmt->get())) == SQLITE_ROW) {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt->get(), 0));
      const std::string_view line = text != nullptr ? text : "";
      if (line == "ok") continue;
      if (!problems.empty()) problems += "; ";
      problems += line;
    }
    if (rc != SQLITE_DONE) return sqlite::ErrorStatus(h, rc, "checking spool " + s.path);
    if (!problems.empty()) {
      return Status::Corruption("spool " + s.path + " failed SQLite's integrity check: " + problems);
    }
  }
  sqlite3_stmt* st = s.count_bad_rows.get();
  sqlite::ScopedReset reset(st);
  BindU64(st, 1, s.next_sequence);
  const int rc = sqlite3_step(st);
  if (rc != SQLITE_ROW) return sqlite::ErrorStatus(h, rc, "checking spool " + s.path);
  if (const int64_t bad = sqlite3_column_int64(st, 0); bad != 0) {
    return Status::Corruption("spool " + s.path + " has " + std::to_string(bad) +
                              " batches whose size or sequence is inconsistent");
  }
  return Status::Ok();
}

}  // namespace cmkwatch::collector
