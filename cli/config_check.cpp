// cmkwatch config check: validates an analyzer or collector configuration
// the way the daemon would at start, without starting anything, so a
// deployment (or a SIGHUP reload) never learns of a typo from a failed
// service. Every problem is reported at once as file:line:col.
#include <cstdio>
#include <fstream>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "cmkwatch/alerts/config.h"
#include "cmkwatch/alerts/sink.h"
#include "cmkwatch/analyzer/config.h"
#include "cmkwatch/collector/config.h"
#include "commands.h"

namespace cmkwatch::cli {
namespace {

constexpr char kConfigHelp[] = R"(usage: cmkwatch config check [--analyzer | --collector] [--no-secrets] FILE...

Checks each FILE as cmkwatch-analyzer or cmkwatch-collector would read it
at start: YAML syntax, every key known (a typo is an error, never ignored),
every value in range, CURVE key files readable and private, and, for an
analyzer, every alert sink buildable: its templates compile and its
secrets (*_file, *_env) are present, private and within size. Nothing is
opened, bound, sent or written. Each problem is printed as
file:line:col: message.

Which daemon a file is for is told by its keys (a collector's has spool:
and sources:); --analyzer or --collector says it outright.
--no-secrets skips reading the sinks' secrets (for checking a file on a
machine that does not hold them).

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

bool CheckCollector(const std::string& path) {
  auto loaded = collector::LoadCollectorConfig(path);
  if (!loaded.ok()) {
    std::fprintf(stderr, "%s\n", ForTerminal(loaded.status().message()).c_str());
    return false;
  }
  std::printf("%s: valid collector configuration; id %s, %zu source(s), spool %s\n", path.c_str(),
              loaded->collector.id.c_str(), loaded->collector.sources.size(),
              loaded->collector.spool_path.c_str());
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
    all_ok = (kind == Kind::kAnalyzer ? CheckAnalyzer(f, secrets) : CheckCollector(f)) && all_ok;
  }
  return all_ok ? kExitOk : kExitInvalid;
}

}  // namespace cmkwatch::cli
