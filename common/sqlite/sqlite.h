// Thin RAII layer over the SQLite C API, private to cmkwatch's components;
// not part of any public header (the analyzer's timeline and the collector's
// spool link it privately, as cmkwatch::sqlite).
//
// One Db owns one connection; Statements borrow it and must not outlive it
// (declare them after the Db so they are finalized first). Every failure
// becomes a Status carrying SQLite's own message, so callers never see an
// sqlite3 result code. SQL text is always a compile-time constant: values go
// through Bind*, never into the SQL.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "cmkwatch/common/status.h"

namespace cmkwatch::sqlite {

struct DbCloser {
  // close_v2: if a statement somehow survived, the connection closes when it
  // is finalized instead of failing with SQLITE_BUSY and leaking.
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StatementFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};

// A status for result code `rc`, with `what` saying what we were doing.
// Codes map to what a caller can act on: a locked file and I/O trouble are
// IoError (a locked one says the file is in use), a damaged or foreign file
// is Corruption.
Status ErrorStatus(sqlite3* db, int rc, std::string_view what);

class Statement {
 public:
  Statement() = default;
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}

  // Bind* take 1-based parameter indexes, as SQLite does. Text and blobs are
  // copied (SQLITE_TRANSIENT) unless the caller keeps them alive until the
  // statement is reset: the *NoCopy variants.
  Status BindInt(int index, int64_t value);
  Status BindText(int index, std::string_view value);
  Status BindBlob(int index, std::string_view value);
  Status BindBlobNoCopy(int index, std::string_view value);
  Status BindNull(int index);

  // Runs one step: true when a row is ready, false when done. `what` names
  // the operation in the error message.
  Result<bool> Step(std::string_view what = "executing statement");
  // Steps a statement that returns no rows.
  Status Run(std::string_view what = "executing statement");
  // Back to the start, bindings cleared; releases the read snapshot a
  // half-read SELECT would otherwise hold.
  void Reset();

  int64_t ColumnInt(int column) const { return sqlite3_column_int64(stmt_.get(), column); }
  bool ColumnIsNull(int column) const { return sqlite3_column_type(stmt_.get(), column) == SQLITE_NULL; }
  // Views valid until the next Step/Reset.
  std::string_view ColumnText(int column) const;
  std::string_view ColumnBlob(int column) const;

  // Resets the statement when leaving a scope, whatever the path out.
  class Scope {
   public:
    explicit Scope(Statement& stmt) : stmt_(stmt) {}
    ~Scope() { stmt_.Reset(); }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Statement& stmt_;
  };

 private:
  Status BindResult(int rc, int index);

  sqlite3* db_ = nullptr;  // borrowed, for error messages
  std::unique_ptr<sqlite3_stmt, StatementFinalizer> stmt_;
};

class Db {
 public:
  // Opens (flags as for sqlite3_open_v2). Extended result codes are on so
  // messages are precise.
  static Result<Db> Open(const std::string& path, int flags);

  // Runs constant SQL (pragmas, schema, BEGIN/COMMIT). Never pass data here.
  Status Exec(const char* sql);
  // A single-value query on constant SQL (pragmas).
  Result<int64_t> QueryInt(const char* sql);
  Result<std::string> QueryText(const char* sql);
  // Prepares constant SQL for repeated use.
  Result<Statement> Prepare(const char* sql);

  int64_t Changes() const { return sqlite3_changes64(db_.get()); }
  sqlite3* get() const { return db_.get(); }

 private:
  std::unique_ptr<sqlite3, DbCloser> db_;
};

// BEGIN IMMEDIATE ... COMMIT, rolled back on destruction unless committed,
// so every early return leaves the database as it was. IMMEDIATE takes the
// write lock at BEGIN, where the busy timeout applies, instead of failing
// half-way through when a reader upgrades. Begun inside a transaction that
// is open already (a timeline's bulk load holds one across many batches),
// it is a savepoint instead: released by Commit, rolled back to on
// destruction, so it is still all or nothing within the outer one.
class Transaction {
 public:
  explicit Transaction(Db& db) : db_(db) {}
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  Status Begin();
  Status Commit();

 private:
  Db& db_;
  bool open_ = false;
  bool nested_ = false;  // a savepoint in a transaction already open
};

}  // namespace cmkwatch::sqlite
