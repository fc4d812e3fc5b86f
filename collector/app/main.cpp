// cmkwatch-collector: follows Azure log files (or stdin) and receives Event
// Grid deliveries, parses them, spools batches durably and sends them to
// cmkwatch-analyzer.
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include "cmkwatch/collector/collector.h"
#include "cmkwatch/collector/config.h"
#include "cmkwatch/common/sd_notify.h"
#include "cmkwatch/common/signals.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

constexpr const char* kUsage =
    "usage: cmkwatch-collector --config FILE [overrides] [PATH...]\n"
    "       cmkwatch-collector --connect ENDPOINT --spool FILE [--id NAME] [options] PATH...\n"
    "\n"
    "Follows Azure Activity Log, Key Vault audit and Event Grid records and sends\n"
    "them to cmkwatch-analyzer. Every batch is written to the spool (SQLite)\n"
    "before it is sent and kept until the analyzer acknowledges it; file offsets\n"
    "are committed with their batch, so a restart neither re-reads nor skips.\n"
    "\n"
    "Event Hubs (Kafka) sources are configured in --config (type: kafka).\n"
    "\n"
    "PATH is a directory tree to follow (Azure Storage export layout:\n"
    "insights-logs-auditevent/resourceId=.../PT1H.json), a single file to follow,\n"
    "or - for stdin (e.g. az monitor activity-log list | cmkwatch-collector ... -).\n"
    "\n"
    "  --config FILE          YAML configuration (deploy/config/collector.yaml documents\n"
    "                         every option); flags override it, PATHs add sources\n"
    "  --connect ENDPOINT     the analyzer (default tcp://127.0.0.1:5570)\n"
    "  --spool FILE           the durable spool (created when missing, mode 0600)\n"
    "  --id NAME              this collector's id (default: the host name)\n"
    "  --spool-max-bytes N    spool cap; at the cap reading pauses (default 1 GiB)\n"
    "  --format F             auto (default), activity, kvaudit, azurediagnostics,\n"
    "                         eventgrid or arm, for the PATHs given on the command line\n"
    "  --poll                 poll instead of inotify (network file systems)\n"
    "  --eventgrid HOST:PORT  also receive Event Grid deliveries there (HTTPS with\n"
    "                         --eventgrid-cert/--eventgrid-key, else plain HTTP, which\n"
    "                         only a loopback address may serve); the shared secret,\n"
    "                         expected in the access_token query parameter, comes from\n"
    "                         --eventgrid-secret-file FILE (mode 0600) or\n"
    "                         --eventgrid-secret-env VAR\n"
    "  --eventgrid-path PATH  the URL path served (default /eventgrid)\n"
    "  --http HOST:PORT       serve /metrics and /healthz (loopback)\n"
    "  --exit-when-drained    exit once every source is finished (stdin at EOF) and\n"
    "                         every batch is acknowledged\n"
    "  --log-format F         kv (default) or json, to stderr\n"
    "  --log-level L          debug, info (default), warning, error\n"
    "  --version, --help\n"
    "\n"
    "Stops on SIGTERM or SIGINT; unacknowledged batches stay in the spool and are\n"
    "sent after the next start. Exit status: 0 after a clean stop, 1 when the\n"
    "service could not start or failed, 2 on usage errors.\n";

int Usage(const std::string& msg) {
  std::fprintf(stderr, "cmkwatch-collector: %s\n\n%s", msg.c_str(), kUsage);
  return kExitUsage;
}

std::string HostName() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "collector";
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    using namespace cmkwatch;
    std::string config_path, connect, spool, id, max_bytes, format, log_format, log_level;
    std::string eventgrid, eventgrid_secret_file, eventgrid_secret_env, eventgrid_cert, eventgrid_key,
        eventgrid_path, http;
    bool poll = false, exit_when_drained = false;
    std::vector<std::string> paths;
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
        std::printf("cmkwatch-collector %s\n", CMKWATCH_VERSION);
        return kExitOk;
      }
      bool ok = true;
      if (a == "--config") ok = value(config_path);
      else if (a == "--connect") ok = value(connect);
      else if (a == "--spool") ok = value(spool);
      else if (a == "--id") ok = value(id);
      else if (a == "--spool-max-bytes") ok = value(max_bytes);
      else if (a == "--format") ok = value(format);
      else if (a == "--log-format") ok = value(log_format);
      else if (a == "--log-level") ok = value(log_level);
      else if (a == "--eventgrid") ok = value(eventgrid);
      else if (a == "--eventgrid-secret-file") ok = value(eventgrid_secret_file);
      else if (a == "--eventgrid-secret-env") ok = value(eventgrid_secret_env);
      else if (a == "--eventgrid-cert") ok = value(eventgrid_cert);
      else if (a == "--eventgrid-key") ok = value(eventgrid_key);
      else if (a == "--eventgrid-path") ok = value(eventgrid_path);
      else if (a == "--http") ok = value(http);
      else if (a == "--poll") poll = true;
      else if (a == "--exit-when-drained") exit_when_drained = true;
      else if (a == "-" || a.substr(0, 1) != "-") paths.emplace_back(a);
      else return Usage("unknown argument '" + std::string(a) + "'");
      if (!ok) return Usage(std::string(a) + " needs a value");
    }

    collector::CollectorConfig config;
    if (!config_path.empty()) {
      auto loaded = collector::LoadCollectorConfig(config_path);
      if (!loaded.ok()) {
        std::fprintf(stderr, "cmkwatch-collector: %s\n", loaded.status().message().c_str());
        return kExitUsage;
      }
      config = std::move(*loaded);
    }
    collector::CollectorOptions& options = config.collector;
    if (!connect.empty()) options.connect = connect;
    if (!spool.empty()) options.spool_path = spool;
    if (!id.empty()) options.id = id;
    if (options.id.empty()) options.id = HostName();
    if (!max_bytes.empty()) {
      char* end = nullptr;
      const unsigned long long n = std::strtoull(max_bytes.c_str(), &end, 10);
      if (end == max_bytes.c_str() || *end != '\0' || n < (uint64_t{1} << 20)) {
        return Usage("--spool-max-bytes needs a number of bytes, at least 1048576");
      }
      options.spool_max_bytes = n;
    }
    collector::Format path_format = collector::Format::kAuto;
    if (!format.empty()) {
      auto f = collector::FormatFromName(format);
      if (!f) return Usage("--format must be auto, activity, kvaudit, azurediagnostics, eventgrid or arm");
      path_format = *f;
    }
    for (const auto& p : paths) {
      collector::SourceConfig sc;
      sc.path = p;
      sc.format = path_format;
      options.sources.push_back(std::move(sc));
    }
    if (!eventgrid.empty()) {
      collector::SourceConfig sc;
      sc.type = collector::SourceType::kEventGrid;
      sc.eventgrid.listen = eventgrid;
      sc.eventgrid.secret = {eventgrid_secret_env, eventgrid_secret_file};
      if (eventgrid_secret_env.empty() == eventgrid_secret_file.empty()) {
        return Usage("--eventgrid needs exactly one of --eventgrid-secret-file and --eventgrid-secret-env");
      }
      if (eventgrid_cert.empty() != eventgrid_key.empty()) {
        return Usage("--eventgrid-cert and --eventgrid-key go together");
      }
      sc.eventgrid.tls_cert_file = eventgrid_cert;
      sc.eventgrid.tls_key_file = eventgrid_key;
      if (!eventgrid_path.empty()) sc.eventgrid.url_path = eventgrid_path;
      for (const auto& existing : options.sources) {
        if (existing.type == collector::SourceType::kEventGrid && existing.eventgrid.name == sc.eventgrid.name) {
          sc.eventgrid.name = "eventgrid-flag";  // beside one from --config of the default name
        }
      }
      options.sources.push_back(std::move(sc));
    } else if (!eventgrid_secret_file.empty() || !eventgrid_secret_env.empty() || !eventgrid_cert.empty() ||
               !eventgrid_key.empty() || !eventgrid_path.empty()) {
      return Usage("--eventgrid-* options need --eventgrid HOST:PORT");
    }
    if (!http.empty()) options.http = http;
    if (poll) options.source_defaults.force_polling = true;
    if (exit_when_drained) options.exit_when_drained = true;
    if (const std::string bad = log::ApplyLogFlags(log_format, log_level, &config.log_format, &config.log_level);
        !bad.empty()) {
      return Usage(bad);
    }
    if (options.spool_path.empty()) return Usage("a spool is required: --spool FILE or spool: in --config");
    if (options.sources.empty()) {
      return Usage("no source: give a PATH (directory, file or -), --eventgrid, or sources: in --config "
                   "(files, type: eventgrid, type: kafka)");
    }

    log::Logger logger(config.log_format, config.log_level);
    // systemd (Type=notify, WatchdogSec=): ready once the spool is open and
    // the sources are set up; the loop over the sources feeds the watchdog.
    sd::Notifier notifier = sd::Notifier::FromEnvironment();
    options.on_loop = [&notifier, &logger] {
      if (Status st = notifier.WatchdogIfDue(); !st.ok()) {
        logger.Warning("watchdog ping failed", {{"error", st.ToString()}});
      }
    };
    std::atomic<collector::Collector*> running{nullptr};
    StopSignals signals([&](int sig) {
      logger.Info("stop requested", {{"signal", sig}});
      if (auto* c = running.load()) c->Stop();
    });
    auto started = collector::Collector::Start(options, logger);
    if (!started.ok()) {
      logger.Error("collector could not start", {{"error", started.status().ToString()}});
      return kExitFailure;
    }
    std::unique_ptr<collector::Collector> service = std::move(*started);
    running.store(service.get());
    if (signals.received() != 0) service->Stop();
    if (Status st = notifier.Ready("collector " + options.id + " sending to " + options.connect); !st.ok()) {
      logger.Warning("could not tell systemd the collector is ready", {{"error", st.ToString()}});
    }
    const Status s = service->Run();
    (void)notifier.Stopping();
    running.store(nullptr);
    return s.ok() ? kExitOk : kExitFailure;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cmkwatch-collector: internal error: %s\n", e.what());
    return kExitFailure;
  }
}
