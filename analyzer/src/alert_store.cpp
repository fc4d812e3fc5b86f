#include "alert_store.h"

namespace cmkwatch::analyzer::internal {
namespace {


constexpr const char* kAlertSchema = R"sql(
CREATE TABLE IF NOT EXISTS alerts (
  id            TEXT PRIMARY KEY,
  rule          TEXT NOT NULL,
  status        TEXT NOT NULL,
  severity      TEXT NOT NULL,
  resource_id   TEXT NOT NULL,
  first_seen_ns INTEGER NOT NULL,
  last_seen_ns  INTEGER NOT NULL,
  body          TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS alerts_by_first_seen ON alerts (first_seen_ns, id);
CREATE TABLE IF NOT EXISTS alert_changes (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  alert_id     TEXT NOT NULL,
  kind         TEXT NOT NULL,
  committed_ns INTEGER NOT NULL,
  body         TEXT NOT NULL
);
)sql";

constexpr const char* kUpsert = R"sql(
INSERT INTO alerts (id, rule, status, severity, resource_id, first_seen_ns, last_seen_ns, body)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
ON CONFLICT (id) DO UPDATE SET
  status = excluded.status, severity = excluded.severity, first_seen_ns = excluded.first_seen_ns,
  last_seen_ns = excluded.last_seen_ns, body = excluded.body)sql";
constexpr const char* kAppend =
    "INSERT INTO alert_changes (alert_id, kind, committed_ns, body) VALUES (?1, ?2, ?3, ?4)";
constexpr const char* kSelectAll = "SELECT body FROM alerts ORDER BY first_seen_ns, id LIMIT ?1";
constexpr const char* kSelectStatus =
    "SELECT body FROM alerts WHERE status = ?1 ORDER BY first_seen_ns, id LIMIT ?2";

}  // namespace

Status AlertStore::Open(sqlite::Db& db) {
  CMK_RETURN_IF_ERROR(db.Exec(kAlertSchema));
  struct {
    sqlite::Statement* stmt;
    const char* sql;
  } const all[] = {{&upsert_, kUpsert}, {&append_, kAppend}, {&select_all_, kSelectAll}, {&select_status_, kSelectStatus}};
  for (const auto& [stmt, sql] : all) {
    auto prepared = db.Prepare(sql);
    if (!prepared.ok()) return prepared.status();
    *stmt = std::move(prepared).value();
  }
  return Status::Ok();
}

bool AlertStore::Throttled(const AlertChange& c, int64_t committed_ns) const {
  if (c.kind != AlertChange::Kind::kUpdated) return false;
  auto it = queued_.find(c.alert.id);
  if (it == queued_.end()) return false;
  const Queued& q = it->second;
  return committed_ns - q.at < kUpdateInterval && q.severity == c.alert.severity && q.status == c.alert.status &&
         q.affected == c.alert.affected;
}

Status AlertStore::Write(const std::vector<AlertChange>& changes, int64_t committed_ns) {
  // Runs of updates of one alert in this call collapse into the change
  // before them (an opening stays an opening, with the latest state).
  std::vector<AlertChange> merged;
  std::unordered_map<std::string, size_t> latest;
  for (const AlertChange& c : changes) {
    if (c.kind == AlertChange::Kind::kUpdated) {
      if (auto it = latest.find(c.alert.id); it != latest.end() && merged[it->second].kind != AlertChange::Kind::kResolved) {
        merged[it->second].alert = c.alert;
        continue;
      }
    }
    latest[c.alert.id] = merged.size();
    merged.push_back(c);
  }
  for (const AlertChange& c : merged) {
    const Alert& a = c.alert;
    const std::string body = AlertToJson(a);
    {
      sqlite::Statement::Scope scope(upsert_);
      CMK_RETURN_IF_ERROR(upsert_.BindText(1, a.id));
      CMK_RETURN_IF_ERROR(upsert_.BindText(2, a.rule));
      CMK_RETURN_IF_ERROR(upsert_.BindText(3, ToString(a.status)));
      CMK_RETURN_IF_ERROR(upsert_.BindText(4, ToString(a.severity)));
      CMK_RETURN_IF_ERROR(upsert_.BindText(5, a.resource_id));
      CMK_RETURN_IF_ERROR(upsert_.BindInt(6, a.first_seen));
      CMK_RETURN_IF_ERROR(upsert_.BindInt(7, a.last_seen));
      CMK_RETURN_IF_ERROR(upsert_.BindText(8, body));
      CMK_RETURN_IF_ERROR(upsert_.Run("storing an alert"));
    }
    if (Throttled(c, committed_ns)) continue;
    if (c.kind == AlertChange::Kind::kResolved) {
      queued_.erase(a.id);
    } else {
      queued_[a.id] = Queued{committed_ns, a.severity, a.status, a.affected};
    }
    sqlite::Statement::Scope scope(append_);
    CMK_RETURN_IF_ERROR(append_.BindText(1, a.id));
    CMK_RETURN_IF_ERROR(append_.BindText(2, ToString(c.kind)));
    CMK_RETURN_IF_ERROR(append_.BindInt(3, committed_ns));
    CMK_RETURN_IF_ERROR(append_.BindText(4, body));
    CMK_RETURN_IF_ERROR(append_.Run("queueing an alert change"));
  }
  return Status::Ok();
}

Result<std::vector<Alert>> AlertStore::Read(std::optional<AlertStatus> status, size_t limit) {
  sqlite::Statement& q = status ? select_status_ : select_all_;
  sqlite::Statement::Scope scope(q);
  if (status) {
    CMK_RETURN_IF_ERROR(q.BindText(1, ToString(*status)));
    CMK_RETURN_IF_ERROR(q.BindInt(2, static_cast<int64_t>(limit)));
  } else {
    CMK_RETURN_IF_ERROR(q.BindInt(1, static_cast<int64_t>(limit)));
  }
  std::vector<Alert> out;
  for (;;) {
    auto row = q.Step("reading alerts");
    if (!row.ok()) return row.status();
    if (!*row) break;
    auto alert = AlertFromJson(q.ColumnText(0));
    if (!alert.ok()) return Status::Corruption("alerts table: " + alert.status().message());
    out.push_back(std::move(alert).value());
  }
  return out;
}

}  // namespace cmkwatch::analyzer::internal
