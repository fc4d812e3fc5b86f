// The analyzer's service loop: receive a batch, store it in one transaction,
// acknowledge it. Nothing else happens between a receive and its ack, so the
// ack can only ever follow a commit. Inside that transaction the rules judge
// each newly stored event, and the alert changes they make commit with it.
#include "cmkwatch/analyzer/analyzer.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <map>
#include <memory>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string_view>
#include <utility>

#include <filesystem>

#include "cmkwatch/common/http_server.h"
#include "cmkwatch/common/metrics.h"
#include "cmkwatch/common/wire.h"
#include "cmkwatch/common/time.h"

namespace cmkwatch::analyzer {
namespace {

// How long one Receive waits: the longest a Stop() waits to be noticed.
constexpr int kReceiveTimeoutMs = 200;
// A group commit holds at most this many batches / events / message bytes.
// The bytes bound is what keeps memory in check: a group holds each message
// (its events' bytes are stored from it) and its decoded batch, about twice
// the message size, and 16 MiB of messages (~9,000 Key Vault events) already
// spreads one fsync over enough events that a bigger group gains nothing.
constexpr size_t kMaxGroupBatches = 64;
constexpr size_t kMaxGroupEvents = 20'000;
constexpr size_t kMaxGroupBytes = size_t{16} << 20;
// Collectors whose spool status is tracked, at most.
constexpr size_t kMaxCollectors = 10'000;
// How often the time-based rule checks (CMK016's silence window) run; the
// first runs one interval after start, so a replayed history is not judged
// silent before live events had a chance to arrive.
constexpr auto kTickInterval = std::chrono::seconds(60);

// Gives newly stored events to the rules, inside the timeline's
// transaction, and keeps what they changed for logging after the commit.
class RulesHook : public StoredEventsHook {
 public:
  explicit RulesHook(RuleEngine& engine) : engine_(engine) {}
  std::vector<AlertChange> OnStored(const std::vector<const Event*>& events) override {
    std::vector<AlertChange> out;
    for (const Event* e : events) {
      for (AlertChange& c : engine_.Process(*e)) out.push_back(std::move(c));
    }
    pending_.insert(pending_.end(), out.begin(), out.end());
    return out;
  }
  std::vector<AlertChange> TakePending() { return std::exchange(pending_, {}); }

 private:
  RuleEngine& engine_;
  std::vector<AlertChange> pending_;
};

}  // namespace

// Prometheus series the loop updates (per batch, never per event).
struct Metrics {
  std::array<metrics::Counter, 4> received, stored, duplicates;  // by Event::source
  metrics::Counter quarantined, batches, resent, refused, store_errors;
  metrics::Histogram commit_seconds;  // receive → commit → ack, per batch
  std::array<metrics::Counter, 3> alert_changes;  // by AlertChange::Kind
};

struct Analyzer::Impl {
  AnalyzerOptions options;
  log::Logger& logger;
  std::unique_ptr<Timeline> timeline;
  std::unique_ptr<transport::Server> server;
  metrics::Registry registry;
  Metrics m;
  std::unique_ptr<http::Server> http;
  std::atomic<bool> stop{false};
  std::chrono::steady_clock::time_point next_retention;
  std::chrono::steady_clock::time_point next_tick = std::chrono::steady_clock::now() + kTickInterval;
  RuleEngine engine;
  RulesHook hook{engine};

  mutable std::mutex stats_mu;
  // Raise(): changes from other threads, stored by Run().
  std::mutex raised_mu;
  std::vector<AlertChange> raised;
  std::optional<RulesConfig> reload;  // under raised_mu
  uint64_t reloads_requested = 0, reloads_applied = 0;  // under raised_mu
  std::condition_variable reload_applied;
  AnalyzerStats stats;
  // What each collector last reported of its spool, for /metrics.
  struct CollectorState {
    wire::CollectorStatus status;
    int64_t status_ns = 0;
  };
  std::map<std::string, CollectorState> collectors;  // guarded by stats_mu

  Impl(const AnalyzerOptions& o, log::Logger& l) : options(o), logger(l), engine(o.rules) {}

  // The rules' state is what the stored events say: every event, in the
  // order it was stored, through a fresh engine. Run at start and after a
  // failed commit (whose events the engine saw but the file did not keep).
  Status RebuildRules() {
    engine = RuleEngine(options.rules);
    uint64_t events = 0;
    Status st = timeline->ForEachEvent([&](const Event& e) {
      (void)engine.Process(e);
      ++events;
      return Status::Ok();
    });
    if (!st.ok()) return st;
    hook.TakePending();
    // The alerts table follows the engine: alerts the replay found that the
    // table lacks or holds in another state (events imported while no
    // analyzer ran, e.g. `cmkwatch inventory import`) are written now, as
    // changes the sinks will deliver.
    auto stored = timeline->Alerts(std::nullopt, kMaxQueryEvents);
    if (!stored.ok()) return stored.status();
    std::map<std::string, const Alert*> by_id;
    for (const Alert& a : *stored) by_id.emplace(a.id, &a);
    std::vector<AlertChange> changes;
    size_t open = 0;
    for (const Alert& a : engine.Alerts()) {
      open += a.status != AlertStatus::kResolved;
      auto it = by_id.find(a.id);
      // Compared as stored: timestamps are stored as RFC 3339 text (FormatTimestamp), and
      // a difference below that is no change anyone should be told about
      // (comparing the structs re-announced every open alert on each restart).
      if (it != by_id.end() && AlertToJson(*it->second) == AlertToJson(a)) continue;
      const bool resolved = a.status == AlertStatus::kResolved;
      const auto kind = it == by_id.end() && !resolved ? AlertChange::Kind::kOpened
                        : resolved                     ? AlertChange::Kind::kResolved
                                                       : AlertChange::Kind::kUpdated;
      changes.push_back({kind, a});
    }
    if (!changes.empty()) {
      CMK_RETURN_IF_ERROR(timeline->StoreAlertChanges(changes, WallClockNs()));
      Announce(changes);
    }
    logger.Info("rules ready", {{"events_replayed", events},
                                {"alerts_not_resolved", static_cast<uint64_t>(open)},
                                {"alert_changes_caught_up", static_cast<uint64_t>(changes.size())}});
    return Status::Ok();
  }

  void AfterFailedStore() {
    hook.TakePending();
    if (Status st = RebuildRules(); !st.ok()) {
      logger.Error("rules could not be rebuilt from the timeline", {{"error", st.ToString()}});
    }
  }

  // Alert changes, once committed: a log line each (the sinks of issue 5
  // read the same changes from the alert_changes table).
  void Announce(const std::vector<AlertChange>& changes) {
    if (!changes.empty() && options.on_alert_changes) options.on_alert_changes();
    for (const AlertChange& c : changes) {
      m.alert_changes[static_cast<size_t>(c.kind)].Inc();
      const Alert& a = c.alert;
      const log::Fields fields = {{"alert", a.id},
                                  {"rule", a.rule},
                                  {"severity", ToString(a.severity)},
                                  {"status", ToString(a.status)},
                                  {"resource", a.resource_id},
                                  {"affected", static_cast<uint64_t>(a.affected.size())},
                                  {"count", a.count},
                                  {"title", a.title}};
      const std::string what = "alert " + std::string(ToString(c.kind));
      if (c.kind == AlertChange::Kind::kUpdated || a.status == AlertStatus::kSuppressed ||
          a.severity <= Severity::kLow) {
        logger.Info(what, fields);
      } else {
        logger.Warning(what, fields);
      }
    }
  }

  void MaybeTick() {
    const auto now = std::chrono::steady_clock::now();
    if (now < next_tick) return;
    next_tick = now + kTickInterval;
    auto changes = engine.Tick(WallClockNs());
    if (changes.empty()) return;
    if (Status st = timeline->StoreAlertChanges(changes, WallClockNs()); !st.ok()) {
      logger.Error("alert changes not stored", {{"error", st.ToString()}});
      AfterFailedStore();
      return;
    }
    Announce(changes);
  }

  void ApplyReload() {
    std::optional<RulesConfig> next;
    uint64_t generation = 0;
    {
      std::lock_guard lock(raised_mu);
      next.swap(reload);
      generation = reloads_requested;
    }
    if (!next) return;
    // A rebuild after a failed commit uses the rules in force from now on.
    options.rules = *next;
    engine.Reconfigure(std::move(*next));
    logger.Info("rules and suppressions reloaded",
                {{"suppressions", static_cast<uint64_t>(options.rules.suppressions.size())}});
    {
      std::lock_guard lock(raised_mu);
      reloads_applied = generation;
    }
    reload_applied.notify_all();
  }
  void StoreRaised() {
    std::vector<AlertChange> changes;
    {
      std::lock_guard lock(raised_mu);
      changes.swap(raised);
    }
    if (changes.empty()) return;
    if (Status st = timeline->StoreAlertChanges(changes, WallClockNs()); !st.ok()) {
      logger.Error("alert changes not stored", {{"error", st.ToString()}});
      return;
    }
    Announce(changes);
  }

  void Count(void (*update)(AnalyzerStats&)) {
    std::lock_guard lock(stats_mu);
    update(stats);
  }

  // A message the analyzer will not store: logged with the peer's claimed
  // and authenticated ids, counted, not acknowledged.
  void Refuse(const transport::Incoming& in, std::string_view reason) { Refuse(in, in.body, reason); }
  // The same once the message body has been moved out of `in`.
  void Refuse(const transport::Incoming& in, std::string_view body, std::string_view reason) {
    Count([](AnalyzerStats& s) { ++s.refused_messages; });
    m.refused.Inc();
    logger.Warning("message refused", {{"reason", reason},
                                       {"authenticated_collector", in.authenticated_id},
                                       {"bytes", static_cast<uint64_t>(body.size())}});
  }

  // A batch received and decoded, waiting for its group's commit. The
  // message is kept (on the heap, so moving a Received never moves it)
  // because event_bytes point into it: each event's canonical bytes, which
  // the timeline hashes and stores as they are instead of encoding again.
  struct Received {
    std::string peer;
    std::unique_ptr<const std::string> message;
    wire::Batch batch;
    std::vector<std::string_view> event_bytes;
    std::chrono::steady_clock::time_point arrived;
  };

  // Decodes one message: a status is recorded at once, a batch is queued
  // for the group commit, anything else is refused.
  void Take(transport::Incoming&& in, std::vector<Received>& group) {
    auto type = wire::PeekType(in.body);
    if (!type.ok()) return Refuse(in, type.status().message());
    if (*type == wire::MessageType::kStatus) return HandleStatus(in);
    if (*type != wire::MessageType::kBatch) return Refuse(in, "not a batch or a status (collectors send no other)");
    auto message = std::make_unique<const std::string>(std::move(in.body));
    std::vector<std::string_view> event_bytes;
    auto batch = wire::DecodeBatch(*message, &event_bytes);
    if (!batch.ok()) return Refuse(in, *message, batch.status().message());
    // With CURVE, a key speaks for exactly one collector id.
    if (!in.authenticated_id.empty() && batch->collector_id != in.authenticated_id) {
      return Refuse(in, *message,
                    "batch claims collector id '" + batch->collector_id + "' but the key is allowlisted for '" +
                        in.authenticated_id + "'");
    }
    group.push_back({std::move(in.peer), std::move(message), std::move(*batch), std::move(event_bytes),
                     std::chrono::steady_clock::now()});
  }

  // Group commit: every batch of the group in one transaction (one fsync),
  // then each is acknowledged. Should the group fail, each batch is tried
  // alone so one refused batch cannot hold back the others.
  void StoreGroup(std::vector<Received>& group) {
    if (group.empty()) return;
    std::vector<Timeline::EncodedBatch> batches;
    batches.reserve(group.size());
    for (const auto& r : group) batches.push_back({&r.batch, &r.event_bytes});
    const int64_t now = WallClockNs();
    auto stored = timeline->InsertEncodedBatches(batches, now, &hook);
    if (stored.ok()) {
      for (size_t i = 0; i < group.size(); ++i) Acknowledge(group[i], (*stored)[i]);
      Announce(hook.TakePending());
    } else if (group.size() == 1) {
      AfterFailedStore();
      NotStored(group[0], stored.status());
    } else {
      AfterFailedStore();
      for (auto& r : group) {
        auto one = timeline->InsertEncodedBatches({{&r.batch, &r.event_bytes}}, now, &hook);
        if (one.ok()) {
          Acknowledge(r, one->front());
          Announce(hook.TakePending());
        } else {
          AfterFailedStore();
          NotStored(r, one.status());
        }
      }
    }
    group.clear();
  }

  void NotStored(const Received& r, const Status& why) {
    // Not acknowledged: the collector keeps the batch and sends it again,
    // so a full disk or a locked file delays events but loses none.
    m.store_errors.Inc();
    Count([](AnalyzerStats& s) { ++s.store_errors; });
    logger.Error("batch not stored; the collector will resend it",
                 {{"collector", r.batch.collector_id}, {"sequence", r.batch.sequence}, {"error", why.ToString()}});
  }

  void Acknowledge(const Received& r, const BatchResult& stored) {
    const wire::Batch& batch = r.batch;
    {
      std::lock_guard lock(stats_mu);
      ++stats.batches;
      if (stored.resend) ++stats.resent_batches;
      stats.events_received += batch.events.size();
      stats.events_stored += stored.stored;
      stats.duplicates += stored.duplicates;
      stats.quarantined += stored.quarantined;
    }
    std::array<uint64_t, 4> received{};
    for (const Event& e : batch.events) ++received[std::min<size_t>(static_cast<size_t>(e.source), 3)];
    for (size_t i = 0; i < 4; ++i) {
      m.received[i].Inc(received[i]);
      m.stored[i].Inc(stored.stored_by_source[i]);
      m.duplicates[i].Inc(stored.duplicates_by_source[i]);
    }
    m.quarantined.Inc(stored.quarantined);
    m.batches.Inc();
    if (stored.resend) m.resent.Inc();
    if (stored.quarantined > 0) {
      logger.Warning("collector quarantined records",
                     {{"collector", batch.collector_id}, {"entries", stored.quarantined}});
    }
    logger.Debug("batch stored", {{"collector", batch.collector_id},
                                  {"sequence", batch.sequence},
                                  {"stored", stored.stored},
                                  {"duplicates", stored.duplicates}});
    const std::string ack = wire::EncodeAck({batch.collector_id, batch.sequence, stored.stored, stored.duplicates});
    if (Status s = server->Send(r.peer, ack); !s.ok()) {
      // The collector is gone; it resends after reconnecting and the
      // duplicate is acknowledged then.
      logger.Info("ack not delivered", {{"collector", batch.collector_id}, {"error", s.ToString()}});
    }
    m.commit_seconds.Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - r.arrived).count());
  }

  // Creates every series up front, so /metrics shows zeros from the start
  // (an absent series and a zero look different to alert rules).
  Status RegisterMetrics() {
    static constexpr std::string_view kSources[] = {"activity_log", "keyvault_audit", "event_grid", "inventory"};
    for (size_t i = 0; i < 4; ++i) {
      const metrics::Labels l = {{"source", std::string(kSources[i])}};
      auto r = registry.AddCounter("cmkwatch_events_received_total", "Events received from collectors.", l);
      auto st = registry.AddCounter("cmkwatch_events_stored_total", "Events newly stored in the timeline.", l);
      auto d = registry.AddCounter("cmkwatch_events_duplicate_total",
                                   "Events received again (resends) and not stored twice.", l);
      if (!r.ok()) return r.status();
      if (!st.ok()) return st.status();
      if (!d.ok()) return d.status();
      m.received[i] = *r;
      m.stored[i] = *st;
      m.duplicates[i] = *d;
    }
    struct C {
      metrics::Counter* out;
      const char* name;
      const char* help;
    };
    for (const C& c : {C{&m.quarantined, "cmkwatch_records_quarantined_total",
                         "Records collectors could not read, stored in the quarantine table."},
                       C{&m.batches, "cmkwatch_batches_total", "Batches committed and acknowledged."},
                       C{&m.resent, "cmkwatch_batches_resent_total", "Batches received again after a lost ack."},
                       C{&m.refused, "cmkwatch_messages_refused_total",
                         "Messages refused: undecodable, or a collector id the sender's key may not use."},
                       C{&m.store_errors, "cmkwatch_store_errors_total",
                         "Batches the timeline could not store (not acknowledged; the collector resends)."}}) {
      auto r = registry.AddCounter(c.name, c.help);
      if (!r.ok()) return r.status();
      *c.out = *r;
    }
    static constexpr std::string_view kChanges[] = {"opened", "updated", "resolved"};
    for (size_t i = 0; i < 3; ++i) {
      auto c = registry.AddCounter("cmkwatch_alert_changes_total", "Alert lifecycle changes committed.",
                                   {{"change", std::string(kChanges[i])}});
      if (!c.ok()) return c.status();
      m.alert_changes[i] = *c;
    }
    auto h = registry.AddHistogram("cmkwatch_ack_latency_seconds",
                                   "From a batch's arrival to its acknowledgement (decode, commit, ack).",
                                   {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5});
    if (!h.ok()) return h.status();
    m.commit_seconds = *h;
    const std::string db = options.db_path;
    if (Status st = registry.AddCallbackGauge("cmkwatch_db_size_bytes", "Timeline database file size, WAL included.",
                                              [db] {
                                                std::error_code ec;
                                                double n = 0;
                                                for (const char* ext : {"", "-wal"}) {
                                                  const auto sz = std::filesystem::file_size(db + ext, ec);
                                                  if (!ec) n += static_cast<double>(sz);
                                                }
                                                return n;
                                              });
        !st.ok()) {
      return st;
    }
    return Status::Ok();
  }

  // Per-collector series, from the last status each collector sent.
  // Rendered at scrape time from the map, so a collector's series appear
  // when it first reports.
  std::string RenderCollectors() const {
    metrics::Registry per;
    std::lock_guard lock(stats_mu);
    const int64_t now = WallClockNs();
    for (const auto& [id, c] : collectors) {
      const metrics::Labels l = {{"collector", id}};
      if (auto g = per.AddGauge("cmkwatch_collector_spool_batches", "Unacknowledged batches in the collector's spool.", l); g.ok())
        g->Set(static_cast<double>(c.status.pending_batches));
      if (auto g = per.AddGauge("cmkwatch_collector_spool_bytes", "Bytes of unacknowledged batches in the spool.", l); g.ok())
        g->Set(static_cast<double>(c.status.pending_bytes));
      if (auto g = per.AddGauge("cmkwatch_collector_spool_oldest_age_seconds",
                                "Age of the collector's oldest unacknowledged batch.", l);
          g.ok())
        g->Set(static_cast<double>(c.status.oldest_pending_age_ms) / 1000.0);
      if (auto g = per.AddGauge("cmkwatch_collector_blocked", "1 while the collector's spool is full and reading paused.", l); g.ok())
        g->Set(c.status.blocked ? 1 : 0);
      if (auto g = per.AddGauge("cmkwatch_collector_last_status_age_seconds",
                                "Seconds since the collector last reported (a silent collector grows this).", l);
          g.ok())
        g->Set(static_cast<double>(now - c.status_ns) / 1e9);
    }
    return per.Render();
  }

  Status StartHttp() {
    if (options.http.empty()) return Status::Ok();
    http::Options ho;
    ho.allow_non_loopback = options.http_allow_non_loopback;
    ho.handlers["/healthz"] = [] { return http::Response{200, "text/plain; charset=utf-8", "ok\n"}; };
    ho.handlers["/metrics"] = [this] {
      return http::Response{200, std::string(metrics::Registry::kContentType), registry.Render() + RenderCollectors()};
    };
    auto server_or = http::Server::Start(options.http, std::move(ho));
    if (!server_or.ok()) return server_or.status();
    http = std::move(*server_or);
    if (options.http_allow_non_loopback) {
      logger.Warning("metrics endpoint may listen beyond loopback; it has no authentication",
                     {{"http", options.http}});
    }
    return Status::Ok();
  }

  void HandleStatus(const transport::Incoming& in) {
    auto status = wire::DecodeStatus(in.body);
    if (!status.ok()) return Refuse(in, status.status().message());
    if (!in.authenticated_id.empty() && status->collector_id != in.authenticated_id) {
      return Refuse(in, "status claims collector id '" + status->collector_id + "' but the key is allowlisted for '" +
                            in.authenticated_id + "'");
    }
    std::lock_guard lock(stats_mu);
    auto it = collectors.find(status->collector_id);
    if (it == collectors.end()) {
      // Bounded: a misbehaving peer inventing ids cannot grow this map.
      if (collectors.size() >= kMaxCollectors) return;
      it = collectors.emplace(status->collector_id, CollectorState{}).first;
    }
    it->second.status = *status;
    it->second.status_ns = WallClockNs();
  }

  void MaybeRetain() {
    if (options.retention_days <= 0) return;
    const auto now = std::chrono::steady_clock::now();
    if (now < next_retention) return;
    next_retention = now + std::chrono::seconds(std::max<int64_t>(1, options.retention_interval_s));
    const int64_t cutoff = WallClockNs() - options.retention_days * 86400 * int64_t{1'000'000'000};
    auto pruned = timeline->PruneBefore(cutoff);
    if (!pruned.ok()) {
      logger.Error("retention failed", {{"error", pruned.status().ToString()}});
    } else if (*pruned > 0) {
      logger.Info("retention pruned events", {{"events", *pruned}, {"days", options.retention_days}});
    }
  }
};

Analyzer::Analyzer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Analyzer::~Analyzer() = default;

Result<std::unique_ptr<Analyzer>> Analyzer::Start(const AnalyzerOptions& options, log::Logger& logger) {
  if (options.db_path.empty()) return Status::InvalidArgument("analyzer: a database path is required (--db)");
  if (options.bind.empty()) return Status::InvalidArgument("analyzer: an endpoint to bind is required (--bind)");
  auto impl = std::make_unique<Impl>(options, logger);
  // The analyzer is what upgrades a timeline: a new cmkwatch migrates the
  // file of an older one when it first starts (the reading tools refuse it).
  TimelineOptions timeline_options = options.timeline;
  timeline_options.migrate = true;
  auto timeline = Timeline::Open(options.db_path, timeline_options);
  if (!timeline.ok()) return timeline.status();
  impl->timeline = std::move(*timeline);
  if (const auto& m = impl->timeline->migration()) {
    logger.Info("timeline migrated", {{"db", options.db_path},
                                      {"from_schema", m->from},
                                      {"to_schema", m->to},
                                      {"events", static_cast<int64_t>(m->events)},
                                      {"seconds", m->seconds}});
  }
  if (Status st = impl->RebuildRules(); !st.ok()) return st;
  auto server = transport::Server::Bind(options.bind, options.link);
  if (!server.ok()) return server.status();
  impl->server = std::move(*server);
  if (Status st = impl->RegisterMetrics(); !st.ok()) return st;
  if (Status st = impl->StartHttp(); !st.ok()) {
    return Status(Status::IoError("metrics endpoint " + options.http + ": " + st.message()));
  }
  if (!options.link.server_curve) {
    logger.Warning("link is not encrypted: accepting plaintext collectors on a local endpoint only",
                   {{"endpoint", impl->server->endpoint()}});
  }
  logger.Info("analyzer listening", {{"endpoint", impl->server->endpoint()},
                                     {"db", options.db_path},
                                     {"http", options.http.empty() ? std::string("off") : options.http},
                                     {"http_port", impl->http ? static_cast<int>(impl->http->port()) : 0},
                                     {"curve", options.link.server_curve.has_value()}});
  return std::unique_ptr<Analyzer>(new Analyzer(std::move(impl)));
}

Status Analyzer::Run() {
  Impl& s = *impl_;
  std::vector<Impl::Received> group;
  while (!s.stop.load()) {
    // Wait for one message, then take whatever else has already arrived
    // (bounded), so a burst is committed with one fsync instead of one per
    // batch; an idle link still commits each batch as soon as it comes.
    size_t events = 0, bytes = 0;
    for (int wait = kReceiveTimeoutMs;
         group.size() < kMaxGroupBatches && events < kMaxGroupEvents && bytes < kMaxGroupBytes; wait = 0) {
      auto in = s.server->Receive(wait);
      if (!in.ok()) {
        s.logger.Error("receive failed", {{"error", in.status().ToString()}});
        s.StoreGroup(group);  // what was received is still stored and acknowledged
        return in.status();
      }
      if (!in->has_value()) break;
      const size_t before = group.size();
      s.Take(std::move(**in), group);
      if (group.size() > before) {
        events += group.back().batch.events.size();
        bytes += group.back().message->size();
      }
    }
    s.ApplyReload();
    s.StoreGroup(group);
    s.MaybeRetain();
    s.MaybeTick();
    s.StoreRaised();
    if (s.options.on_loop) s.options.on_loop();
  }
  if (s.http) s.http->Stop();
  const AnalyzerStats final_stats = Stats();
  s.logger.Info("analyzer stopped", {{"batches", final_stats.batches}, {"events_stored", final_stats.events_stored}});
  return Status::Ok();
}

void Analyzer::Stop() { impl_->stop.store(true); }

AnalyzerStats Analyzer::Stats() const {
  std::lock_guard lock(impl_->stats_mu);
  return impl_->stats;
}

bool Analyzer::Reload(RulesConfig rules, std::chrono::milliseconds wait) {
  std::unique_lock lock(impl_->raised_mu);
  impl_->reload = std::move(rules);
  const uint64_t mine = ++impl_->reloads_requested;
  return impl_->reload_applied.wait_for(lock, wait, [&] { return impl_->reloads_applied >= mine; });
}

void Analyzer::Raise(std::vector<AlertChange> changes) {
  constexpr size_t kMaxRaised = 1000;
  size_t dropped = 0;
  {
    std::lock_guard lock(impl_->raised_mu);
    for (AlertChange& c : changes) {
      if (impl_->raised.size() >= kMaxRaised) {
        ++dropped;
        continue;
      }
      impl_->raised.push_back(std::move(c));
    }
  }
  if (dropped > 0) {
    impl_->logger.Error("raised alert changes dropped: too many queued", {{"dropped", static_cast<uint64_t>(dropped)}});
  }
}

metrics::Registry& Analyzer::metrics() { return impl_->registry; }

const std::string& Analyzer::endpoint() const { return impl_->server->endpoint(); }
int Analyzer::http_port() const { return impl_->http ? impl_->http->port() : 0; }

}  // namespace cmkwatch::analyzer
