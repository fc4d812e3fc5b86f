// cmkwatch-analyzer: receives collectors' batches, stores them in the
// hash-chained timeline, acknowledges them after each commit.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <vector>
#include <string>
#include <string_view>

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
    "acknowledged first. Exit status: 0 after a clean stop, 1 when the service\n"
    "could not start or failed, 2 on usage errors.\n";

int Usage(const std::string& msg) {
  std::fprintf(stderr, "cmkwatch-analyzer: %s\n\n%s", msg.c_str(), kUsage);
  return kExitUsage;
}

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
    std::vector<std::pair<alerts::SinkConfig, std::unique_ptr<alerts::Sink>>> sinks;
    for (const alerts::SinkConfig& sc : alerts_config->sinks) {
      auto sink = alerts::MakeSink(sc);
      if (!sink.ok()) {
        logger.Error("alert sink could not be set up", {{"sink", sc.name}, {"error", sink.status().ToString()}});
        return kExitFailure;
      }
      sinks.emplace_back(sc, std::move(*sink));
    }
    // Changes already in the outbox belong to the sinks that were there;
    // a sink new to this database starts here.
    auto last_seq = alerts::LastChangeSeq(options.db_path);
    if (!last_seq.ok()) {
      logger.Error("analyzer could not start", {{"error", last_seq.status().ToString()}});
      return kExitFailure;
    }
    std::atomic<alerts::Dispatcher*> sender{nullptr};
    options.on_alert_changes = [&sender] {
      if (auto* d = sender.load()) d->Notify();
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
    StopSignals signals([&](int sig) {
      logger.Info("stop requested", {{"signal", sig}});
      if (auto* a = running.load()) a->Stop();
    });
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
    dispatch.retry = alerts_config->retry;
    dispatch.start_after_seq = *last_seq;
    dispatch.metrics = &service->metrics();
    analyzer::Analyzer* raw = service.get();
    dispatch.raise = [raw](std::vector<analyzer::AlertChange> changes) { raw->Raise(std::move(changes)); };
    auto dispatcher = alerts::Dispatcher::Start(dispatch, std::move(sinks), logger);
    if (!dispatcher.ok()) {
      logger.Error("alert sender could not start", {{"error", dispatcher.status().ToString()}});
      return kExitFailure;
    }
    sender.store(dispatcher->get());
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
    sender.store(nullptr);
    (*dispatcher)->Stop();
    return s.ok() ? kExitOk : kExitFailure;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cmkwatch-analyzer: internal error: %s\n", e.what());
    return kExitFailure;
  }
}
