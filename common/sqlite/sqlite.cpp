#include "sqlite.h"

namespace cmkwatch::sqlite {

Status ErrorStatus(sqlite3* db, int rc, std::string_view what) {
  std::string msg(what);
  msg += ": ";
  // The connection's message is only about this failure when it holds rc.
  if (db != nullptr && sqlite3_extended_errcode(db) == rc) {
    msg += sqlite3_errmsg(db);
  } else {
    msg += sqlite3_errstr(rc);
  }
  switch (rc & 0xFF) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Corruption(std::move(msg));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::IoError(msg + " (the file is in use by another process or connection)");
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_PROTOCOL:
      return Status::IoError(std::move(msg));
    case SQLITE_TOOBIG:
      return Status::LimitExceeded(std::move(msg));
    default:
      return Status::Internal(std::move(msg));
  }
}

Status Statement::BindResult(int rc, int index) {
  if (rc == SQLITE_OK) return Status::Ok();
  return ErrorStatus(db_, rc, "binding parameter " + std::to_string(index));
}

Status Statement::BindInt(int index, int64_t value) {
  return BindResult(sqlite3_bind_int64(stmt_.get(), index, value), index);
}

Status Statement::BindText(int index, std::string_view value) {
  return BindResult(sqlite3_bind_text64(stmt_.get(), index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
                    index);
}

Status Statement::BindBlob(int index, std::string_view value) {
  // A zero-length blob must still be a blob, not NULL: data() may be null.
  static constexpr char kEmpty = 0;
  const char* data = value.empty() ? &kEmpty : value.data();
  return BindResult(sqlite3_bind_blob64(stmt_.get(), index, data, value.size(), SQLITE_TRANSIENT), index);
}

Status Statement::BindBlobNoCopy(int index, std::string_view value) {
  static constexpr char kEmpty = 0;
  const char* data = value.empty() ? &kEmpty : value.data();
  return BindResult(sqlite3_bind_blob64(stmt_.get(), index, data, value.size(), SQLITE_STATIC), index);
}

Status Statement::BindNull(int index) { return BindResult(sqlite3_bind_null(stmt_.get(), index), index); }

Result<bool> Statement::Step(std::string_view what) {
  const int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return ErrorStatus(db_, rc, what);
}

Status Statement::Run(std::string_view what) {
  auto r = Step(what);
  if (!r.ok()) return r.status();
  return Status::Ok();
}

void Statement::Reset() {
  // reset() repeats the last step's error, which Step already reported.
  sqlite3_reset(stmt_.get());
  sqlite3_clear_bindings(stmt_.get());
}

std::string_view Statement::ColumnText(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_.get(), column);
  const int n = sqlite3_column_bytes(stmt_.get(), column);
  if (text == nullptr) return {};
  return {reinterpret_cast<const char*>(text), static_cast<size_t>(n)};
}

std::string_view Statement::ColumnBlob(int column) const {
  const void* blob = sqlite3_column_blob(stmt_.get(), column);
  const int n = sqlite3_column_bytes(stmt_.get(), column);
  if (blob == nullptr) return {};
  return {static_cast<const char*>(blob), static_cast<size_t>(n)};
}

Result<Db> Db::Open(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  Db db;
  db.db_.reset(raw);  // owned even when open failed: sqlite3 allocates a handle for the message
  if (rc != SQLITE_OK) return ErrorStatus(raw, rc, "opening " + path);
  sqlite3_extended_result_codes(raw, 1);
  return db;
}

Status Db::Exec(const char* sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, &err);
  sqlite3_free(err);  // the same text is available from the connection
  if (rc == SQLITE_OK) return Status::Ok();
  return ErrorStatus(db_.get(), rc, std::string("running \"") + sql + "\"");
}

Result<Statement> Db::Prepare(const char* sql) {
  sqlite3_stmt* raw = nullptr;
  // PERSISTENT: these statements live as long as the connection.
  const int rc = sqlite3_prepare_v3(db_.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  Statement stmt(db_.get(), raw);
  if (rc != SQLITE_OK) return ErrorStatus(db_.get(), rc, std::string("preparing \"") + sql + "\"");
  return stmt;
}

Result<int64_t> Db::QueryInt(const char* sql) {
  auto stmt = Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  auto row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return Status::Internal(std::string("no row from \"") + sql + "\"");
  return stmt->ColumnInt(0);
}

Result<std::string> Db::QueryText(const char* sql) {
  auto stmt = Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  auto row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return Status::Internal(std::string("no row from \"") + sql + "\"");
  return std::string(stmt->ColumnText(0));
}

Transaction::~Transaction() {
  if (!open_) return;
  // Nothing useful to do if even the rollback fails: SQLite rolls back a
  // transaction whose connection closes, and the next BEGIN reports it.
  if (nested_) {
    // An error that rolled back the whole outer transaction took the
    // savepoint with it; these then fail harmlessly.
    (void)db_.Exec("ROLLBACK TO cmkwatch_tx");
    (void)db_.Exec("RELEASE cmkwatch_tx");
  } else if (sqlite3_get_autocommit(db_.get()) == 0) {
    // A failed statement or COMMIT may already have ended the transaction;
    // ROLLBACK only when one is still open.
    (void)db_.Exec("ROLLBACK");
  }
}

Status Transaction::Begin() {
  nested_ = sqlite3_get_autocommit(db_.get()) == 0;
  Status s = db_.Exec(nested_ ? "SAVEPOINT cmkwatch_tx" : "BEGIN IMMEDIATE");
  open_ = s.ok();
  return s;
}

Status Transaction::Commit() {
  Status s = db_.Exec(nested_ ? "RELEASE cmkwatch_tx" : "COMMIT");
  // A failed COMMIT (e.g. SQLITE_BUSY) leaves the transaction open: the
  // destructor rolls it back.
  if (s.ok()) open_ = false;
  return s;
}

}  // namespace cmkwatch::sqlite
