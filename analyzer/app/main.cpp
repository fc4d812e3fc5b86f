// cmkwatch-analyzer: receives collectors' batches, stores them in the
// hash-chained timeline, acknowledges them after each commit.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cmkwatch/alerts/dispatcher.h"
#include "cmkwatch/analyzer/analyzer.h"
#include "cmkwatch/analyzer/config.h"
#include "cmkwatch/common/sd_notify.h"
#include "cmkwatch/common/signals.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

constexpr const char* kUsage =
    "usage: cmkwatch-analyzer --config FILE [overrides]\n"
    "       cmkwatch-analyzer --db FILE [--bind ENDPOINT] [--http ADDR:PORT] [options]\n"
    "\n"
    "Receives batches from cmkwatch-collector over ZeroMQ, stores every event\n"
    "exactly once in a per-resource hash-chained SQLite timeline, and\n"
    "acknowledges each batch only after it is committed.\n"
    "\n"
    "  --config FILE        YAML configuration (deploy/config/analyzer.yaml documents\n"
    "                       every option); the flags below override it\n"
    "  --db FILE            the timeline database (created when missing)\n"
    "  --bind ENDPOINT      ZeroMQ endpoint for collectors (default tcp://127.0.0.1:5570);\n"
    "                       without CURVE keys only ipc:// and loopback are accepted\n"
    "  --http ADDR:PORT     /healthz and /metrics (default 127.0.0.1:9464; '' disables)\n"
    "  --retention-days N   prune events older than N days (0, the default, keeps all)\n"
    "  --log-format F       kv (default) or json, to stderr\n"
    "  --log-level L        debug, info (default), warning, error\n"
    "  --version, --help\n"
    "\n"
    "Stops cleanly on SIGTERM or SIGINT: the batch in hand is committed and\n"
    "acknowledged first. SIGHUP reads the --config file again: rules,\n"
    "suppressions, alert sinks and the log level change without dropping a\n"
    "connection or an event; a file with any problem is refused and the running\n"
    "configuration kept (the log says why). Other keys (db, bind, http, curve,\n"
    "link, timeline, retention) take effect at the next start.\n"
    "Exit status: 0 after a clean stop, 1 when the service could not start or\n"
    "failed, 2 on usage errors.\n";

int Usage(const std::string& msg) {
  std::fprintf(stderr, "cmkwatch-analyzer: %s\n\n%s", msg.c_str(), kUsage);
  return kExitUsage;
}

using Sinks = std::vector<std::pair<cmkwatch::alerts::SinkConfig, std::unique_ptr<cmkwatch::alerts::Sink>>>;

// Every sink of `config`, or the first one that cannot be set up (a
// missing secret, a bad template).
cmkwatch::Result<Sinks> BuildSinks(const cmkwatch::alerts::AlertsConfig& config) {
  Sinks sinks;
  for (const cmkwatch::alerts::SinkConfig& sc : config.sinks) {
    auto sink = cmkwatch::alerts::MakeSink(sc);
    if (!sink.ok()) return cmkwatch::Status::InvalidArgument("sink " + sc.name + ": " + sink.status().message());
    sinks.emplace_back(sc, std::move(*sink));
  }
  return sinks;
}

// The alert sender, which a reload replaces while the analyzer runs. The
// analyzer's thread only ever takes a reference (Notify after a commit), so
// a replacement never blocks it, however long the old sinks take to stop.
class Sender {
 public:
  explicit Sender(cmkwatch::alerts::DispatcherOptions base, cmkwatch::log::Logger& logger) :
      base_(std::move(base)), logger_(logger) {}
  // Stops the running sender (if any) and starts one with `sinks`; a sink
  // new to the database starts after `after_seq`.
  cmkwatch::Status Replace(const cmkwatch::alerts::AlertsConfig& config, Sinks sinks, int64_t after_seq) {
    std::lock_guard lock(mu_);
    std::shared_ptr<cmkwatch::alerts::Dispatcher> old = current_.exchange(nullptr);
    if (old) old->Stop();  // what it had not delivered stays in the outbox
    cmkwatch::alerts::DispatcherOptions o = base_;
    o.retry = config.retry;
    o.start_after_seq = after_seq;
    auto started = cmkwatch::alerts::Dispatcher::Start(o, std::move(sinks), logger_);
    if (!started.ok()) return started.status();
    current_.store(std::shared_ptr<cmkwatch::alerts::Dispatcher>(std::move(*started)));
    return cmkwatch::Status::Ok();
  }
  void Notify() {
    if (auto d = current_.load()) d->Notify();
  }
  void Stop() {
    std::lock_guard lock(mu_);
    if (auto d = current_.exchange(nullptr)) d->Stop();
  }

 private:
  cmkwatch::alerts::DispatcherOptions base_;
  cmkwatch::log::Logger& logger_;
  std::mutex mu_;  // one Replace or Stop at a time
  std::atomic<std::shared_ptr<cmkwatch::alerts::Dispatcher>> current_;
};

}  // namespace

int main(int argc, char** argv) {
  try {
    using namespace cmkwatch;
    std::string config_path, db, bind, http, retention, log_format, log_level;
    bool have_bind = false, have_http = false, have_retention = false;
    for (int i = 1; i < argc; ++i) {
      const std::string_view a = argv[i];
      auto value = [&](std::string& out) -> bool {
        if (i + 1 >= argc) return false;
        out = argv[++i];
        return true;
      };
      if (a == "--help" || a == "-h") {
        std::fputs(kUsage, stdout);
        return kExitOk;
      }
      if (a == "--version") {
        std::printf("cmkwatch-analyzer %s\n", CMKWATCH_VERSION);
        return kExitOk;
      }
      bool ok = true;
      if (a == "--config") ok = value(config_path);
      else if (a == "--db") ok = value(db);
      else if (a == "--bind") ok = have_bind = value(bind);
      else if (a == "--http") ok = have_http = value(http);
      else if (a == "--retention-days") ok = have_retention = value(retention);
      else if (a == "--log-format") ok = value(log_format);
      else if (a == "--log-level") ok = value(log_level);
      else return Usage("unknown argument '" + std::string(a) + "'");
      if (!ok) return Usage(std::string(a) + " needs a value");
    }

    analyzer::AnalyzerConfig config;
    std::optional<alerts::AlertsConfig> alerts_config;
    if (!config_path.empty()) {
      auto loaded = analyzer::LoadAnalyzerConfig(config_path, alerts::AlertsSectionReader(&alerts_config));
      if (!loaded.ok()) {
        std::fprintf(stderr, "cmkwatch-analyzer: %s\n", loaded.status().message().c_str());
        return kExitUsage;
      }
      config = std::move(*loaded);
    }
    analyzer::AnalyzerOptions& options = config.analyzer;
    if (!db.empty()) options.db_path = db;
    if (have_bind) options.bind = bind;
    if (have_http) options.http = http;
    if (have_retention) {
      char* end = nullptr;
      const long long days = std::strtoll(retention.c_str(), &end, 10);
      if (end == retention.c_str() || *end != '\0' || days < 0 || days > 100000) {
        return Usage("--retention-days needs a whole number of days, 0 to 100000");
      }
      options.retention_days = days;
    }
    if (const std::string bad = log::ApplyLogFlags(log_format, log_level, &config.log_format, &config.log_level);
        !bad.empty()) {
      return Usage(bad);
    }
    if (options.db_path.empty()) return Usage("a database is required: --db FILE or db: in --config");

    if (!alerts_config) alerts_config = alerts::DefaultAlertsConfig(options.db_path);

    log::Logger logger(config.log_format, config.log_level);
    // Sinks first: a missing secret or a bad template fails the start,
    // before anything is received.
    auto sinks = BuildSinks(*alerts_config);
    if (!sinks.ok()) {
      logger.Error("alert sink could not be set up", {{"error", sinks.status().ToString()}});
      return kExitFailure;
    }
    // Changes already in the outbox belong to the sinks that were there;
    // a sink new to this database starts here.
    auto last_seq = alerts::LastChangeSeq(options.db_path);
    if (!last_seq.ok()) {
      logger.Error("analyzer could not start", {{"error", last_seq.status().ToString()}});
      return kExitFailure;
    }
    std::unique_ptr<Sender> sender;
    std::atomic<Sender*> sender_ready{nullptr};
    options.on_alert_changes = [&sender_ready] {
      if (auto* s = sender_ready.load()) s->Notify();
    };
    // systemd (Type=notify, WatchdogSec=): ready once listening and the
    // sender runs; the watchdog is fed by the receive loop itself, so a
    // stuck loop gets the service restarted.
    sd::Notifier notifier = sd::Notifier::FromEnvironment();
    options.on_loop = [&notifier, &logger] {
      if (Status st = notifier.WatchdogIfDue(); !st.ok()) {
        logger.Warning("watchdog ping failed", {{"error", st.ToString()}});
      }
    };
    // Before any thread starts, so all inherit the blocked signals.
    std::unique_ptr<analyzer::Analyzer> service;
    std::atomic<analyzer::Analyzer*> running{nullptr};
    // SIGHUP: the file again. Everything is checked before anything
    // changes, so a bad file changes nothing.
    const bool log_level_from_flag = !log_level.empty();
    auto reload = [&] {
      auto* a = running.load();
      auto* s = sender_ready.load();
      if (a == nullptr || s == nullptr) return;  // still starting
      if (config_path.empty()) {
        logger.Warning("SIGHUP ignored: the analyzer was started without --config, there is nothing to reload");
        return;
      }
      (void)notifier.Reloading();
      std::optional<alerts::AlertsConfig> next_alerts;
      auto next = analyzer::LoadAnalyzerConfig(config_path, alerts::AlertsSectionReader(&next_alerts));
      Result<Sinks> next_sinks = Status::Internal("not built");
      if (next.ok()) {
        if (!next_alerts) next_alerts = alerts::DefaultAlertsConfig(options.db_path);
        next_sinks = BuildSinks(*next_alerts);
      }
      if (!next.ok() || !next_sinks.ok()) {
        logger.Error("reload refused; the running configuration stays",
                     {{"config", config_path},
                      {"error", !next.ok() ? next.status().message() : next_sinks.status().message()}});
        (void)notifier.Ready("reload refused; see the log");
        return;
      }
      const analyzer::AnalyzerOptions& n = next->analyzer;
      for (const auto& [key, changed] : std::initializer_list<std::pair<const char*, bool>>{
               {"db", !db.empty() ? false : n.db_path != options.db_path},
               {"bind", !have_bind && n.bind != options.bind},
               {"http", !have_http && n.http != options.http},
               {"retention_days", !have_retention && n.retention_days != options.retention_days},
               {"log.format", log_format.empty() && next->log_format != config.log_format}}) {
        if (changed) logger.Warning("reload: this key changed and takes effect at the next start", {{"key", key}});
      }
      if (!log_level_from_flag) logger.SetLevel(next->log_level);
      if (!a->Reload(n.rules)) {
        logger.Warning("reload: the receive loop has not taken the new rules yet; it will at its next turn");
      }
      auto after = alerts::LastChangeSeq(options.db_path);
      Status st = after.ok() ? s->Replace(*next_alerts, std::move(*next_sinks), *after) : after.status();
      if (!st.ok()) {
        // The new sinks would not start: the old ones again (they did).
        logger.Error("reload: the new alert sinks could not start; restarting the previous ones",
                     {{"error", st.ToString()}});
        auto old_sinks = BuildSinks(*alerts_config);
        st = old_sinks.ok() ? s->Replace(*alerts_config, std::move(*old_sinks), after.ok() ? *after : 0)
                            : old_sinks.status();
        if (!st.ok()) {
          logger.Error("no alert sender runs until the next reload or start; changes wait in the outbox",
                       {{"error", st.ToString()}});
        }
      } else {
        alerts_config = std::move(next_alerts);
      }
      logger.Info("configuration reloaded",
                  {{"config", config_path},
                   {"sinks", static_cast<uint64_t>(alerts_config->sinks.size())},
                   {"suppressions", static_cast<uint64_t>(n.rules.suppressions.size())}});
      (void)notifier.Ready("reloaded " + config_path);
    };
    StopSignals signals(
        [&](int sig) {
          logger.Info("stop requested", {{"signal", sig}});
          if (auto* a = running.load()) a->Stop();
        },
        reload);
    if (notifier.active()) {
      logger.Info("systemd notification socket found",
                  {{"watchdog_us", static_cast<uint64_t>(notifier.watchdog().count())}});
    }
    auto started = analyzer::Analyzer::Start(options, logger);
    if (!started.ok()) {
      logger.Error("analyzer could not start", {{"error", started.status().ToString()}});
      return kExitFailure;
    }
    service = std::move(*started);
    alerts::DispatcherOptions dispatch;
    dispatch.db_path = options.db_path;
    dispatch.metrics = &service->metrics();
    analyzer::Analyzer* raw = service.get();
    dispatch.raise = [raw](std::vector<analyzer::AlertChange> changes) { raw->Raise(std::move(changes)); };
    sender = std::make_unique<Sender>(dispatch, logger);
    if (Status st = sender->Replace(*alerts_config, std::move(*sinks), *last_seq); !st.ok()) {
      logger.Error("alert sender could not start", {{"error", st.ToString()}});
      return kExitFailure;
    }
    sender_ready.store(sender.get());
    logger.Info("alert sender started", {{"sinks", static_cast<uint64_t>(alerts_config->sinks.size())}});
    running.store(service.get());
    if (signals.received() != 0) service->Stop();  // a signal during start-up
    if (Status st = notifier.Ready("listening on " + service->endpoint()); !st.ok()) {
      logger.Warning("could not tell systemd the analyzer is ready", {{"error", st.ToString()}});
    }
    const Status s = service->Run();
    (void)notifier.Stopping();
    running.store(nullptr);
    // The sender stops after the analyzer: changes committed by the last
    // batch are still picked up on the next start (the outbox is durable).
    sender->Stop();
    return s.ok() ? kExitOk : kExitFailure;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cmkwatch-analyzer: internal error: %s\n", e.what());
    return kExitFailure;
  }
}
