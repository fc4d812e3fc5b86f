// Minimal RAII over the SQLite C API, private to the collector (the spool).
//
// Header-only because it is small and has one user. SQL text is always a
// compile-time constant: values go through sqlite3_bind_*, never into SQL.
// (The analyzer has its own, richer layer; if a third user appears, the two
// should become one in common/.)
#pragma once

#include <sqlite3.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "cmkwatch/common/status.h"

namespace cmkwatch::collector::sqlite {

struct DbCloser {
  // close_v2: should a statement outlive the connection, the close completes
  // when it is finalized instead of failing with SQLITE_BUSY and leaking.
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;

struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// A Status for result code `rc` while doing `what`, with SQLite's message.
// Codes map to what a caller can act on: a locked file and I/O trouble are
// IoError, a damaged or foreign file is Corruption.
inline Status ErrorStatus(sqlite3* db, int rc, std::string_view what) {
  std::string msg(what);
  msg += ": ";
  msg += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Corruption(std::move(msg));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::IoError(msg + " (the file is in use by another process or connection)");
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_NOMEM:
      return Status::IoError(std::move(msg));
    default:
      return Status::Internal(std::move(msg));
  }
}

inline Result<StmtPtr> Prepare(sqlite3* db, std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  // PERSISTENT: these statements are prepared once and reused for the life
  // of the connection.
  const int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                                    &raw, nullptr);
  StmtPtr stmt(raw);
  if (rc != SQLITE_OK) return ErrorStatus(db, rc, "preparing " + std::string(sql.substr(0, 60)));
  return stmt;
}

// Constant SQL only (pragmas, schema, BEGIN/COMMIT); never pass data here.
inline Status Exec(sqlite3* db, const char* sql) {
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return ErrorStatus(db, rc, std::string("running ") + sql);
  return Status::Ok();
}

// Resets a reused statement when leaving a scope, whatever the path out, so
// it never holds a read snapshot or stale bindings into the next call.
class ScopedReset {
 public:
  explicit ScopedReset(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~ScopedReset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  ScopedReset(const ScopedReset&) = delete;
  ScopedReset& operator=(const ScopedReset&) = delete;

 private:
  sqlite3_stmt* stmt_;
};

// BEGIN IMMEDIATE ... COMMIT, rolled back on destruction unless committed,
// so every early return leaves the file as it was. IMMEDIATE takes the write
// lock up front rather than half-way through.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) {}
  ~Transaction() {
    // A failed statement or COMMIT may already have ended the transaction;
    // ROLLBACK only when one is still open.
    if (open_ && sqlite3_get_autocommit(db_) == 0) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  Status Begin() {
    Status s = Exec(db_, "BEGIN IMMEDIATE");
    open_ = s.ok();
    return s;
  }
  Status Commit() {
    Status s = Exec(db_, "COMMIT");
    if (s.ok()) open_ = false;
    return s;
  }

 private:
  sqlite3* db_;
  bool open_ = false;
};

}  // namespace cmkwatch::collector::sqlite
