// cmkwatch: the operator CLI. Subcommands are looked up in a name → function
// table; each parses its own flags.
#include <cstdio>
#include <exception>
#include <string_view>
#include <vector>

#include "commands.h"

namespace {

struct Command {
  std::string_view name;
  int (*run)(const std::vector<std::string_view>&);
  std::string_view summary;
};

constexpr Command kCommands[] = {
    {"alerts", cmkwatch::cli::Alerts, "print the alerts the rules raised (table or JSON Lines)"},
    {"backup", cmkwatch::cli::Backup, "copy a timeline database while the analyzer runs (SQLite online backup)"},
    {"config", cmkwatch::cli::Config, "check an analyzer or collector configuration file (config check FILE)"},
    {"inspect", cmkwatch::cli::Inspect, "parse Azure log files and print normalized events as JSON Lines"},
    {"inventory", cmkwatch::cli::Inventory, "import ARM snapshots (az ... show) so the rules know the estate"},
    {"keygen", cmkwatch::cli::Keygen, "write a CURVE key pair for the encrypted collector → analyzer link"},
    {"migrate", cmkwatch::cli::Migrate, "bring a timeline written by an earlier cmkwatch to this one's schema"},
    {"replay", cmkwatch::cli::Replay, "replay archived logs in event-time order: alerts, a JSON and an HTML report"},
    {"rules", cmkwatch::cli::Rules, "list the built-in CMK rules, their severities and what to do"},
    {"test-sink", cmkwatch::cli::TestSink, "send a sample alert through one configured sink; print its answer"},
    {"timeline", cmkwatch::cli::TimelineCommand, "print a resource's stored events in time order (table or JSON Lines)"},
    {"verify", cmkwatch::cli::Verify, "re-walk the timeline's hash chains; exit 4 naming the first broken one"},
};

void PrintUsage(std::FILE* out) {
  std::fprintf(out,
               "cmkwatch %s - watches the customer-managed keys of Azure AI Foundry resources\n\n"
               "usage: cmkwatch COMMAND [ARGS...]\n\ncommands:\n",
               CMKWATCH_VERSION);
  for (const auto& c : kCommands) {
    std::fprintf(out, "  %-10.*s %.*s\n", static_cast<int>(c.name.size()), c.name.data(),
                 static_cast<int>(c.summary.size()), c.summary.data());
  }
  std::fprintf(out, "\n'cmkwatch COMMAND --help' describes a command.\n");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2) {
      PrintUsage(stderr);
      return cmkwatch::cli::kExitUsage;
    }
    const std::string_view name = argv[1];
    if (name == "--help" || name == "-h" || name == "help") {
      PrintUsage(stdout);
      return cmkwatch::cli::kExitOk;
    }
    if (name == "--version") {
      std::printf("cmkwatch %s\n", CMKWATCH_VERSION);
      return cmkwatch::cli::kExitOk;
    }
    std::vector<std::string_view> args(argv + 2, argv + argc);
    for (const auto& c : kCommands) {
      if (c.name == name) return c.run(args);
    }
    std::fprintf(stderr, "cmkwatch: unknown command '%s'\n\n", argv[1]);
    PrintUsage(stderr);
    return cmkwatch::cli::kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cmkwatch: internal error: %s\n", e.what());
    return cmkwatch::cli::kExitIoError;
  }
}
