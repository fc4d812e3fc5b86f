// cmkwatch config check: validates an analyzer or collector configuration
// the way the daemon would at start, without starting anything, so a
// deployment (or a SIGHUP reload) never learns of a typo from a failed
// service. Every problem is reported at once as file:line:col.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <vector>
#include <string>

#include "cmkwatch/alerts/config.h"
#include "cmkwatch/alerts/sink.h"
#include "cmkwatch/analyzer/config.h"
#include "cmkwatch/collector/collector.h"
#include "cmkwatch/collector/config.h"
#include "cmkwatch/collector/kafka_source.h"
#include "cmkwatch/common/config.h"
#include "commands.h"

namespace cmkwatch::cli {
namespace {

constexpr char kConfigHelp[] = R"(usage: cmkwatch config check [--analyzer | --collector] [--no-secrets] FILE...

Checks each FILE as cmkwatch-analyzer or cmkwatch-collector would read it
at start: YAML syntax, every key known (a typo is an error, never ignored),
every value in range, CURVE key files readable and private, and, for an
analyzer, every alert sink buildable: its templates compile and its
secrets (*_file, *_env) are present, private and within size; for a
collector, its Event Grid and Kafka sources' secrets likewise, and their
certificate, key and CA files readable. Nothing is opened, bound, sent or
written. Each problem is printed as
file:line:col: message.

Which daemon a file is for is told by its keys (a collector's has spool:
and sources:); --analyzer or --collector says it outright.
--no-secrets skips reading the secrets and TLS files (for checking a file
on a machine that does not hold them).

Exit status: 0 every file is valid; 1 some file is not; 2 usage.
)";

constexpr int kExitInvalid = 1;

int UsageError(const std::string& message) {
  std::fprintf(stderr, "cmkwatch config: %s (see --help)\n", message.c_str());
  return kExitUsage;
}

enum class Kind { kUnknown, kAnalyzer, kCollector };

// The daemon a file is for, from its top-level keys.
Kind Guess(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  static const std::regex kTopKey(R"(^([A-Za-z_]+)\s*:)");
  static const std::set<std::string> kCollector = {"spool", "sources", "connect", "follow", "send",
                                                   "exit_when_drained", "spool_max_bytes"};
  // Keys both daemons have (http, http_allow_non_loopback, link, curve,
  // log) tell nothing.
  static const std::set<std::string> kAnalyzer = {"db", "bind", "retention_days", "timeline", "rules", "alerts"};
  bool collector = false, analyzer = false;
  for (size_t n = 0; n < 10000 && std::getline(in, line); ++n) {
    std::smatch m;
    if (!std::regex_search(line, m, kTopKey)) continue;
    collector = collector || kCollector.count(m[1]) > 0;
    analyzer = analyzer || kAnalyzer.count(m[1]) > 0;
  }
  if (collector == analyzer) return Kind::kUnknown;
  return collector ? Kind::kCollector : Kind::kAnalyzer;
}

// Prints the problems of one file; true when there were none.
bool CheckAnalyzer(const std::string& path, bool secrets) {
  std::optional<alerts::AlertsConfig> alerts_config;
  auto loaded = analyzer::LoadAnalyzerConfig(path, alerts::AlertsSectionReader(&alerts_config));
  if (!loaded.ok()) {
    std::fprintf(stderr, "%s\n", ForTerminal(loaded.status().message()).c_str());
    return false;
  }
  const bool defaults = !alerts_config.has_value();
  if (defaults) alerts_config = alerts::DefaultAlertsConfig(loaded->analyzer.db_path);
  bool ok = true;
  std::string names;
  for (const alerts::SinkConfig& sc : alerts_config->sinks) {
    names += (names.empty() ? "" : ", ") + sc.name + " (" + sc.type + ")";
    if (!secrets) continue;
    // Building the sink is what the analyzer does first at start: it reads
    // the secrets and compiles the templates, and opens nothing.
    if (auto sink = alerts::MakeSink(sc); !sink.ok()) {
      std::fprintf(stderr, "%s: %s\n", path.c_str(), ForTerminal(sink.status().message()).c_str());
      ok = false;
    }
  }
  if (ok) {
    std::printf("%s: valid analyzer configuration; db %s; alert sinks: %s%s%s\n", path.c_str(),
                loaded->analyzer.db_path.c_str(), names.empty() ? "none" : names.c_str(),
                defaults ? " (the defaults: no alerts: section)" : "",
                secrets ? "" : "; secrets not read (--no-secrets)");
  }
  return ok;
}

// A file the collector opens at start (a certificate, a key, a CA bundle):
// "" when it can be read.
std::string Unreadable(const std::string& file, const std::string& what) {
  if (file.empty()) return "";
  std::ifstream in(file, std::ios::binary);
  if (!in) return what + " " + file + ": " + std::strerror(errno);
  return "";
}

// What a collector's sources read at start: their secrets (present, private,
// within size: config::ReadSecret, as the sources call it) and the TLS
// files they load. Problems are printed; false when there were any.
bool CheckCollectorSecrets(const std::string& path, const collector::CollectorOptions& c) {
  std::vector<std::string> problems;
  auto secret = [&](const config::SecretSource& source, const std::string& what) {
    if (auto v = config::ReadSecret(source, what); !v.ok()) problems.push_back(v.status().message());
  };
  auto file = [&](const std::string& f, const std::string& what) {
    if (std::string p = Unreadable(f, what); !p.empty()) problems.push_back(p);
  };
  for (const collector::SourceConfig& sc : c.sources) {
    if (sc.type == collector::SourceType::kEventGrid) {
      const auto& o = sc.eventgrid;
      const std::string name = "eventgrid source " + o.name;
      secret(o.secret, name + " secret");
      file(o.tls_cert_file, name + " certificate");
      file(o.tls_key_file, name + " key");
    } else if (sc.type == collector::SourceType::kKafka) {
      const auto& o = sc.kafka;
      const std::string name = "kafka source " + o.name;
      switch (o.security) {
        case collector::KafkaSecurity::kConnectionString:
          secret(o.connection_string, name + " connection string");
          break;
        case collector::KafkaSecurity::kSaslPlain:
          secret(o.sasl_password, name + " sasl password");
          break;
        case collector::KafkaSecurity::kOAuthBearer:
          secret(o.oauth.client_secret, name + " oauth client secret");
          break;
        case collector::KafkaSecurity::kPlaintext:
        case collector::KafkaSecurity::kSsl:
          break;
      }
      file(o.ca_file, name + " CA file");
      file(o.client_cert_file, name + " client certificate");
      file(o.client_key_file, name + " client key");
    }
  }
  for (const std::string& p : problems) std::fprintf(stderr, "%s: %s\n", path.c_str(), ForTerminal(p).c_str());
  return problems.empty();
}

bool CheckCollector(const std::string& path, bool secrets) {
  auto loaded = collector::LoadCollectorConfig(path);
  if (!loaded.ok()) {
    std::fprintf(stderr, "%s\n", ForTerminal(loaded.status().message()).c_str());
    return false;
  }
  if (secrets && !CheckCollectorSecrets(path, loaded->collector)) return false;
  std::printf("%s: valid collector configuration; id %s, %zu source(s), spool %s%s\n", path.c_str(),
              loaded->collector.id.c_str(), loaded->collector.sources.size(),
              loaded->collector.spool_path.c_str(), secrets ? "" : "; secrets not read (--no-secrets)");
  return true;
}

}  // namespace

int Config(const std::vector<std::string_view>& args) {
  if (args.empty() || args[0] == "-h" || args[0] == "--help") {
    std::fputs(kConfigHelp, args.empty() ? stderr : stdout);
    return args.empty() ? kExitUsage : kExitOk;
  }
  if (args[0] != "check") return UsageError("unknown subcommand '" + ForTerminal(args[0]) + "'; try: config check FILE");
  Kind forced = Kind::kUnknown;
  bool secrets = true;
  std::vector<std::string> files;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kConfigHelp, stdout);
      return kExitOk;
    }
    if (a == "--analyzer") {
      forced = Kind::kAnalyzer;
    } else if (a == "--collector") {
      forced = Kind::kCollector;
    } else if (a == "--no-secrets") {
      secrets = false;
    } else if (a.size() > 1 && a[0] == '-') {
      return UsageError("unknown option '" + ForTerminal(a) + "'");
    } else {
      files.emplace_back(a);
    }
  }
  if (files.empty()) return UsageError("name at least one configuration file");
  bool all_ok = true;
  for (const std::string& f : files) {
    if (std::ifstream probe(f); !probe) {
      std::fprintf(stderr, "%s: cannot be read\n", ForTerminal(f).c_str());
      all_ok = false;
      continue;
    }
    const Kind kind = forced != Kind::kUnknown ? forced : Guess(f);
    if (kind == Kind::kUnknown) {
      std::fprintf(stderr,
                   "%s: cannot tell whether this is an analyzer or a collector configuration; "
                   "say --analyzer or --collector\n",
                   ForTerminal(f).c_str());
      all_ok = false;
      continue;
    }
    all_ok = (kind == Kind::kAnalyzer ? CheckAnalyzer(f, secrets) : CheckCollector(f, secrets)) && all_ok;
  }
  return all_ok ? kExitOk : kExitInvalid;
}

}  // namespace cmkwatch::cli
