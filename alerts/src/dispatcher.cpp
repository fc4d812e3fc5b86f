// The alert sender (contract in dispatcher.h): one thread per sink, each
// walking the alert_changes outbox from its own cursor.
#include "cmkwatch/alerts/dispatcher.h"
#include "cmkwatch/common/time.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include "sqlite/sqlite.h"

namespace cmkwatch::alerts {
namespace {

constexpr int64_t kSecondNs = 1'000'000'000;
// Changes read from the outbox at a time.
constexpr int kFetch = 256;
// A sink still failing after this long is raised as a CMKW001 alert on the
// others, even before anything is dead-lettered: its people are not being told.
constexpr int64_t kFailingAlertAfterNs = 5 * 60 * kSecondNs;
// An endpoint's Retry-After is what it asked for, so it wins over the
// backoff (even past its max), up to an hour: a longer one is a broken
// endpoint, and the sink's alerts must not wait a day on its word.
constexpr int64_t kMaxRetryAfterNs = 3600 * kSecondNs;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS sink_cursors (
  sink             TEXT PRIMARY KEY,
  done_seq         INTEGER NOT NULL,
  attempts         INTEGER NOT NULL,
  next_attempt_ns  INTEGER NOT NULL,
  failing_since_ns INTEGER NOT NULL,
  last_error       TEXT NOT NULL,
  self_alert       TEXT NOT NULL,
  updated_ns       INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dead_letters (
  sink        TEXT NOT NULL,
  change_seq  INTEGER NOT NULL,
  alert_id    TEXT NOT NULL,
  kind        TEXT NOT NULL,
  attempts    INTEGER NOT NULL,
  code        INTEGER NOT NULL,
  reason      TEXT NOT NULL,
  dead_ns     INTEGER NOT NULL,
  PRIMARY KEY (sink, change_seq)
) WITHOUT ROWID;
)sql";

constexpr const char* kSelectCursor =
    "SELECT done_seq, attempts, next_attempt_ns, failing_since_ns, self_alert FROM sink_cursors WHERE sink = ?1";
constexpr const char* kUpsertCursor = R"sql(
INSERT INTO sink_cursors (sink, done_seq, attempts, next_attempt_ns, failing_since_ns, last_error, self_alert, updated_ns)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
ON CONFLICT (sink) DO UPDATE SET done_seq = excluded.done_seq, attempts = excluded.attempts,
  next_attempt_ns = excluded.next_attempt_ns, failing_since_ns = excluded.failing_since_ns,
  last_error = excluded.last_error, self_alert = excluded.self_alert, updated_ns = excluded.updated_ns)sql";
constexpr const char* kInsertDead = R"sql(
INSERT OR REPLACE INTO dead_letters (sink, change_seq, alert_id, kind, attempts, code, reason, dead_ns)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8))sql";
constexpr const char* kFetchChanges =
    "SELECT seq, kind, committed_ns, body FROM alert_changes WHERE seq > ?1 ORDER BY seq LIMIT ?2";
constexpr const char* kMaxSeq = "SELECT coalesce(max(seq), 0) FROM alert_changes";

std::optional<AlertChange::Kind> ParseKind(std::string_view s) {
  for (auto k : {AlertChange::Kind::kOpened, AlertChange::Kind::kUpdated, AlertChange::Kind::kResolved}) {
    if (analyzer::ToString(k) == s) return k;
  }
  return std::nullopt;
}

// FNV-1a: a self-alert's id from its sink and when the trouble began, so
// the same trouble keeps one id across restarts.
std::string SelfAlertId(std::string_view sink, int64_t since_ns) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
  };
  mix(sink);
  mix("\x1f");
  mix(std::to_string(since_ns));
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return std::string("CMKW001-") + hex;
}

Result<sqlite::Db> OpenDb(const std::string& path, int busy_timeout_ms) {
  auto db = sqlite::Db::Open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX);
  if (!db.ok()) return db.status();
  sqlite3_busy_timeout(db->get(), busy_timeout_ms);
  // NORMAL, not the analyzer's FULL: a cursor update lost to a power cut
  // means a change is sent again (with the same delivery id), never that
  // one is lost, and it saves an fsync per delivery.
  CMK_RETURN_IF_ERROR(db->Exec("PRAGMA synchronous = NORMAL"));
  auto has = db->QueryInt("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'alert_changes'");
  if (!has.ok()) return has.status();
  if (*has == 0) {
    return Status::NotFound(path + " has no alert outbox (alert_changes): not a cmkwatch timeline, "
                                             "or the analyzer has not opened it yet");
  }
  return std::move(*db);
}

}  // namespace

struct Worker {
  SinkConfig config;
  std::unique_ptr<Sink> sink;
  sqlite::Db db;
  sqlite::Statement upsert, insert_dead, fetch, max_seq;
  std::thread thread;

  // The outbox position, as stored.
  int64_t done_seq = 0;
  int attempts = 0;
  int64_t next_attempt_ns = 0;
  int64_t failing_since_ns = 0;
  std::string last_error;
  std::optional<Alert> self_alert;  // open CMKW001 about this sink

  // Read ahead: routed changes not yet done, and how far we have looked.
  std::deque<Message> pending;
  int64_t fetched_seq = 0;
  bool cursor_dirty = false;

  std::mt19937_64 rng{std::random_device{}()};
  uint64_t seen_generation = 0;

  mutable std::mutex stats_mu;
  SinkStats stats;
  metrics::Counter m_attempted, m_delivered, m_failed, m_dead;
  metrics::Gauge m_depth, m_oldest;
};

struct Dispatcher::Impl {
  DispatcherOptions options;
  log::Logger& logger;
  std::vector<std::unique_ptr<Worker>> workers;
  std::mutex mu;
  std::condition_variable cv;
  uint64_t generation = 0;
  bool stop = false;

  Impl(DispatcherOptions o, log::Logger& l) : options(std::move(o)), logger(l) {}

  // Waits until Notify(), Stop() or `until_ns` (wall clock), whichever
  // is first. Returns false once stopping.
  bool Wait(Worker& w, int64_t until_ns) {
    std::unique_lock lock(mu);
    const int64_t wait_ns = std::max<int64_t>(0, until_ns - WallClockNs());
    cv.wait_for(lock, std::chrono::nanoseconds(wait_ns), [&] { return stop || generation != w.seen_generation; });
    w.seen_generation = generation;
    return !stop;
  }
  bool Stopping() {
    std::lock_guard lock(mu);
    return stop;
  }

  Status SaveCursor(Worker& w) {
    sqlite::Statement::Scope scope(w.upsert);
    CMK_RETURN_IF_ERROR(w.upsert.BindText(1, w.config.name));
    CMK_RETURN_IF_ERROR(w.upsert.BindInt(2, w.done_seq));
    CMK_RETURN_IF_ERROR(w.upsert.BindInt(3, w.attempts));
    CMK_RETURN_IF_ERROR(w.upsert.BindInt(4, w.next_attempt_ns));
    CMK_RETURN_IF_ERROR(w.upsert.BindInt(5, w.failing_since_ns));
    CMK_RETURN_IF_ERROR(w.upsert.BindText(6, w.last_error));
    CMK_RETURN_IF_ERROR(w.upsert.BindText(7, w.self_alert ? analyzer::AlertToJson(*w.self_alert) : std::string()));
    CMK_RETURN_IF_ERROR(w.upsert.BindInt(8, WallClockNs()));
    CMK_RETURN_IF_ERROR(w.upsert.Run("saving a sink's outbox position"));
    w.cursor_dirty = false;
    return Status::Ok();
  }

  // Routed changes after fetched_seq, up to kFetch looked at.
  Status Fetch(Worker& w) {
    sqlite::Statement::Scope scope(w.fetch);
    CMK_RETURN_IF_ERROR(w.fetch.BindInt(1, w.fetched_seq));
    CMK_RETURN_IF_ERROR(w.fetch.BindInt(2, kFetch));
    while (true) {
      auto row = w.fetch.Step("reading the alert outbox");
      if (!row.ok()) return row.status();
      if (!*row) break;
      Message m;
      m.seq = w.fetch.ColumnInt(0);
      m.committed_ns = w.fetch.ColumnInt(2);
      w.fetched_seq = m.seq;
      const auto kind = ParseKind(w.fetch.ColumnText(1));
      auto alert = analyzer::AlertFromJson(w.fetch.ColumnText(3));
      if (!kind || !alert.ok()) {
        // Only the analyzer writes this table; a row it cannot have
        // written is reported, and skipped rather than blocking the sink.
        logger.Error("alert outbox row unreadable; skipped", {{"sink", w.config.name}, {"seq", m.seq}});
        Skip(w, m.seq);
        continue;
      }
      m.kind = *kind;
      m.alert = std::move(*alert);
      if (!options.title_prefix.empty()) m.alert.title = options.title_prefix + m.alert.title;
      // A sink is never told about its own trouble: it is the one failing.
      const bool own = m.alert.rule == "CMKW001" && m.alert.subject == w.config.name;
      if (own || !Routes(w.config.route, m)) {
        Skip(w, m.seq);
        continue;
      }
      w.pending.push_back(std::move(m));
    }
    return Status::Ok();
  }

  void Skip(Worker& w, int64_t seq) {
    std::lock_guard lock(w.stats_mu);
    ++w.stats.skipped;
    // Skipped changes are done once everything before them is.
    if (w.pending.empty()) {
      w.done_seq = seq;
      w.cursor_dirty = true;
    }
  }

  int64_t Backoff(Worker& w) {
    const RetryPolicy& p = options.retry;
    int64_t d = p.initial_ns;
    for (int i = 1; i < w.attempts && d < p.max_ns; ++i) d *= 2;
    d = std::min(d, p.max_ns);
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    return static_cast<int64_t>(static_cast<double>(d) * jitter(w.rng));
  }

  Alert MakeSelfAlert(const Worker& w, int64_t now, std::string_view what) {
    Alert a;
    a.id = SelfAlertId(w.config.name, w.failing_since_ns != 0 ? w.failing_since_ns : now);
    a.rule = "CMKW001";
    a.title = "Alerts are not reaching sink " + w.config.name + " (" + w.config.type + ")";
    a.severity = Severity::kHigh;
    a.status = AlertStatus::kOpen;
    a.resource_id = "cmkwatch:sink/" + w.config.name;
    a.subject = w.config.name;
    a.operation = std::string(what);
    a.time = a.first_seen = a.last_seen = now;
    a.count = 1;
    a.why = "The people and systems this sink notifies are not told about alert changes: " + w.last_error;
    a.remediation =
        "Check the sink's endpoint, URL and credentials with `cmkwatch test-sink --config FILE " + w.config.name +
        "`. Held changes are delivered once it answers; refused ones are in the dead_letters table.";
    return a;
  }

  void Raise(std::vector<AlertChange> changes) {
    if (options.raise) options.raise(std::move(changes));
  }

  // Opens the sink's CMKW001 alert, or counts one more failure on it.
  void RaiseTrouble(Worker& w, int64_t now, std::string_view what) {
    if (!w.self_alert) {
      w.self_alert = MakeSelfAlert(w, now, what);
      Raise({{AlertChange::Kind::kOpened, *w.self_alert}});
      return;
    }
    Alert& a = *w.self_alert;
    ++a.count;
    a.time = a.last_seen = now;
    a.operation = std::string(what);
    a.why = MakeSelfAlert(w, now, what).why;
    Raise({{AlertChange::Kind::kUpdated, a}});
  }

  void ResolveTrouble(Worker& w, int64_t now) {
    if (!w.self_alert) return;
    Alert a = std::move(*w.self_alert);
    w.self_alert.reset();
    a.status = AlertStatus::kResolved;
    a.resolved_at = now;
    a.resolved_by = "delivery to " + w.config.name + " succeeded";
    Raise({{AlertChange::Kind::kResolved, std::move(a)}});
  }

  // Inside the caller's transaction, with the cursor update that skips them.
  Status DeadLetter(Worker& w, std::span<const Message> batch, const SendResult& r, int64_t now, int attempts) {
    for (const Message& m : batch) {
      sqlite::Statement::Scope scope(w.insert_dead);
      CMK_RETURN_IF_ERROR(w.insert_dead.BindText(1, w.config.name));
      CMK_RETURN_IF_ERROR(w.insert_dead.BindInt(2, m.seq));
      CMK_RETURN_IF_ERROR(w.insert_dead.BindText(3, m.alert.id));
      CMK_RETURN_IF_ERROR(w.insert_dead.BindText(4, analyzer::ToString(m.kind)));
      CMK_RETURN_IF_ERROR(w.insert_dead.BindInt(5, attempts));
      CMK_RETURN_IF_ERROR(w.insert_dead.BindInt(6, r.code));
      CMK_RETURN_IF_ERROR(w.insert_dead.BindText(7, r.detail));
      CMK_RETURN_IF_ERROR(w.insert_dead.BindInt(8, now));
      CMK_RETURN_IF_ERROR(w.insert_dead.Run("dead-lettering an alert change"));
    }
    return Status::Ok();
  }

  void UpdateGauges(Worker& w, int64_t now) {
    int64_t unseen = 0;
    {
      sqlite::Statement::Scope scope(w.max_seq);
      auto row = w.max_seq.Step("reading the outbox size");
      if (row.ok() && *row) unseen = std::max<int64_t>(0, w.max_seq.ColumnInt(0) - w.fetched_seq);
    }
    w.m_depth.Set(static_cast<double>(w.pending.size() + static_cast<size_t>(unseen)));
    w.m_oldest.Set(w.pending.empty() ? 0.0 : static_cast<double>(now - w.pending.front().committed_ns) / 1e9);
  }

  void Run(Worker& w) {
    while (!Stopping()) {
      if (Status st = Step(w); !st.ok()) {
        logger.Error("alert sender: database error; retrying", {{"sink", w.config.name}, {"error", st.ToString()}});
        // Re-read from the stored position: what is in memory may be ahead.
        w.pending.clear();
        w.fetched_seq = w.done_seq;
        if (!Wait(w, WallClockNs() + options.poll_interval_ns)) break;
      }
    }
    if (w.cursor_dirty) (void)SaveCursor(w);
  }

  Status Step(Worker& w) {
    if (w.pending.empty()) CMK_RETURN_IF_ERROR(Fetch(w));
    int64_t now = WallClockNs();
    UpdateGauges(w, now);
    if (w.pending.empty()) {
      if (w.cursor_dirty) CMK_RETURN_IF_ERROR(SaveCursor(w));
      Wait(w, now + options.poll_interval_ns);
      return Status::Ok();
    }
    if (w.next_attempt_ns > now) {
      Wait(w, std::min(w.next_attempt_ns, now + options.poll_interval_ns));
      return Status::Ok();
    }
    size_t take = 1;
    if (const size_t max = w.sink->max_batch(); max > 1) {
      // A digest: let a burst gather for the window after its first change.
      if (w.pending.size() < max) CMK_RETURN_IF_ERROR(Fetch(w));
      const int64_t due = w.pending.front().committed_ns + w.sink->batch_window_ns();
      if (w.pending.size() < max && due > now && w.attempts == 0) {
        Wait(w, due);
        return Status::Ok();
      }
      take = std::min(max, w.pending.size());
    }
    const std::vector<Message> batch(w.pending.begin(), w.pending.begin() + static_cast<ptrdiff_t>(take));
    w.m_attempted.Inc();
    const SendResult r = w.sink->Send(batch);
    now = WallClockNs();
    {
      std::lock_guard lock(w.stats_mu);
      ++w.stats.attempted;
    }
    SendResult::Outcome outcome = r.outcome;
    if (outcome == SendResult::Outcome::kRetry && options.retry.give_up_after_ns > 0 && w.failing_since_ns != 0 &&
        now - w.failing_since_ns >= options.retry.give_up_after_ns) {
      outcome = SendResult::Outcome::kPermanent;
    }
    const std::string& sink = w.config.name;
    const int64_t first = batch.front().seq;
    const std::string& alert = batch.front().alert.id;
    auto finish = [&] {
      w.pending.erase(w.pending.begin(), w.pending.begin() + static_cast<ptrdiff_t>(take));
      w.done_seq = batch.back().seq;
      // Everything looked at is done once nothing routed is left waiting.
      if (w.pending.empty()) w.done_seq = std::max(w.done_seq, w.fetched_seq);
      w.attempts = 0;
      w.next_attempt_ns = 0;
    };
    switch (outcome) {
      case SendResult::Outcome::kDelivered: {
        finish();
        w.failing_since_ns = 0;
        w.last_error.clear();
        const bool was_failing = w.self_alert.has_value();
        if (was_failing) ResolveTrouble(w, now);
        CMK_RETURN_IF_ERROR(SaveCursor(w));
        w.m_delivered.Inc(take);
        {
          std::lock_guard lock(w.stats_mu);
          w.stats.delivered += take;
          w.stats.cursor = w.done_seq;
        }
        if (was_failing) {
          logger.Info("alert sink delivering again", {{"sink", sink}, {"seq", first}, {"answer", r.detail}});
        } else {
          logger.Debug("alert delivered", {{"sink", sink}, {"seq", first}, {"alert", alert}, {"answer", r.detail}});
        }
        return Status::Ok();
      }
      case SendResult::Outcome::kRetry: {
        ++w.attempts;
        if (w.failing_since_ns == 0) w.failing_since_ns = now;
        w.last_error = r.detail;
        const int64_t delay = r.retry_after_ns > 0 ? std::min(r.retry_after_ns, kMaxRetryAfterNs) : Backoff(w);
        w.next_attempt_ns = now + delay;
        if (!w.self_alert && now - w.failing_since_ns >= kFailingAlertAfterNs) RaiseTrouble(w, now, "delivery failing");
        CMK_RETURN_IF_ERROR(SaveCursor(w));
        w.m_failed.Inc();
        {
          std::lock_guard lock(w.stats_mu);
          ++w.stats.failed;
        }
        logger.Warning("alert delivery failed; will retry",
                       {{"sink", sink}, {"type", w.config.type}, {"seq", first}, {"alert", alert},
                        {"attempt", w.attempts}, {"code", r.code}, {"error", r.detail},
                        {"retry_in_ms", delay / 1'000'000}});
        return Status::Ok();
      }
      case SendResult::Outcome::kPermanent: {
        w.last_error = r.detail;
        if (w.failing_since_ns == 0) w.failing_since_ns = now;
        const int attempts = w.attempts;
        {
          sqlite::Transaction tx(w.db);
          CMK_RETURN_IF_ERROR(tx.Begin());
          CMK_RETURN_IF_ERROR(DeadLetter(w, batch, r, now, attempts + 1));
          finish();
          RaiseTrouble(w, now, "delivery refused");
          // The refusal is about these changes; the next ones start afresh.
          w.failing_since_ns = 0;
          CMK_RETURN_IF_ERROR(SaveCursor(w));
          CMK_RETURN_IF_ERROR(tx.Commit());
        }
        w.m_dead.Inc(take);
        w.m_failed.Inc();
        {
          std::lock_guard lock(w.stats_mu);
          w.stats.dead_lettered += take;
          ++w.stats.failed;
          w.stats.cursor = w.done_seq;
        }
        logger.Error("alert delivery refused; dead-lettered",
                     {{"sink", sink}, {"type", w.config.type}, {"seq", first}, {"alert", alert},
                      {"changes", static_cast<uint64_t>(take)}, {"code", r.code}, {"error", r.detail}});
        return Status::Ok();
      }
    }
    return Status::Ok();
  }
};

Result<int64_t> LastChangeSeq(const std::string& db_path) {
  struct stat st {};
  if (::stat(db_path.c_str(), &st) != 0) return int64_t{0};
  auto db = sqlite::Db::Open(db_path, SQLITE_OPEN_READONLY);
  if (!db.ok()) return db.status();
  sqlite3_busy_timeout(db->get(), 10'000);
  auto has = db->QueryInt("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'alert_changes'");
  if (!has.ok()) return has.status();
  if (*has == 0) return int64_t{0};
  return db->QueryInt(kMaxSeq);
}

Result<std::unique_ptr<Dispatcher>> Dispatcher::Start(
    const DispatcherOptions& options, std::vector<std::pair<SinkConfig, std::unique_ptr<Sink>>> sinks,
    log::Logger& logger) {
  auto impl = std::make_unique<Impl>(options, logger);
  for (auto& [config, sink] : sinks) {
    auto w = std::make_unique<Worker>();
    w->config = config;
    w->sink = std::move(sink);
    auto db = OpenDb(options.db_path, options.busy_timeout_ms);
    if (!db.ok()) return db.status();
    w->db = std::move(*db);
    CMK_RETURN_IF_ERROR(w->db.Exec(kSchema));
    struct {
      sqlite::Statement* stmt;
      const char* sql;
    } const all[] = {{&w->upsert, kUpsertCursor},
                     {&w->insert_dead, kInsertDead},
                     {&w->fetch, kFetchChanges},
                     {&w->max_seq, kMaxSeq}};
    for (const auto& [stmt, sql] : all) {
      auto prepared = w->db.Prepare(sql);
      if (!prepared.ok()) return prepared.status();
      *stmt = std::move(*prepared);
    }
    auto select = w->db.Prepare(kSelectCursor);
    if (!select.ok()) return select.status();
    {
      sqlite::Statement::Scope scope(*select);
      CMK_RETURN_IF_ERROR(select->BindText(1, w->config.name));
      auto row = select->Step("reading a sink's outbox position");
      if (!row.ok()) return row.status();
      if (*row) {
        w->done_seq = select->ColumnInt(0);
        w->attempts = static_cast<int>(select->ColumnInt(1));
        w->next_attempt_ns = select->ColumnInt(2);
        w->failing_since_ns = select->ColumnInt(3);
        if (const std::string_view self = select->ColumnText(4); !self.empty()) {
          if (auto a = analyzer::AlertFromJson(self); a.ok()) w->self_alert = std::move(*a);
        }
      } else {
        w->done_seq = options.start_after_seq;
        w->cursor_dirty = true;
        logger.Info("alert sink new to this database: starts with the changes from now on",
                    {{"sink", w->config.name}, {"after_seq", options.start_after_seq}});
      }
    }
    w->fetched_seq = w->done_seq;
    w->stats.name = w->config.name;
    w->stats.cursor = w->done_seq;
    if (options.metrics != nullptr) {
      const metrics::Labels l = {{"sink", w->config.name}};
      metrics::Registry& reg = *options.metrics;
      struct {
        metrics::Counter* out;
        const char* name;
        const char* help;
      } const counters[] = {
          {&w->m_attempted, "cmkwatch_alert_deliveries_attempted_total", "Alert deliveries attempted, per sink."},
          {&w->m_delivered, "cmkwatch_alert_deliveries_delivered_total", "Alert changes a sink's endpoint accepted."},
          {&w->m_failed, "cmkwatch_alert_deliveries_failed_total", "Alert delivery attempts that failed, per sink."},
          {&w->m_dead, "cmkwatch_alert_deliveries_dead_lettered_total",
           "Alert changes a sink's endpoint refused for good (dead_letters table)."}};
      for (const auto& c : counters) {
        auto h = reg.AddCounter(c.name, c.help, l);
        if (!h.ok()) return h.status();
        *c.out = *h;
      }
      auto depth = reg.AddGauge("cmkwatch_alert_outbox_depth", "Alert changes a sink has not delivered or judged yet.", l);
      if (!depth.ok()) return depth.status();
      w->m_depth = *depth;
      auto oldest = reg.AddGauge("cmkwatch_alert_outbox_oldest_age_seconds",
                                 "Age of the oldest alert change waiting for a sink.", l);
      if (!oldest.ok()) return oldest.status();
      w->m_oldest = *oldest;
    }
    impl->workers.push_back(std::move(w));
  }
  for (auto& w : impl->workers) {
    Worker* raw = w.get();
    Impl* self = impl.get();
    raw->thread = std::thread([self, raw] { self->Run(*raw); });
  }
  return std::unique_ptr<Dispatcher>(new Dispatcher(std::move(impl)));
}

Dispatcher::Dispatcher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Dispatcher::~Dispatcher() { Stop(); }

void Dispatcher::Notify() {
  {
    std::lock_guard lock(impl_->mu);
    ++impl_->generation;
  }
  impl_->cv.notify_all();
}

void Dispatcher::Stop() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv.notify_all();
  for (auto& w : impl_->workers) {
    if (w->thread.joinable()) w->thread.join();
  }
}

std::vector<SinkStats> Dispatcher::Stats() const {
  std::vector<SinkStats> out;
  for (const auto& w : impl_->workers) {
    std::lock_guard lock(w->stats_mu);
    out.push_back(w->stats);
  }
  return out;
}

}  // namespace cmkwatch::alerts
