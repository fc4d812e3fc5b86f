// cmkwatch rules: the built-in rule catalogue, as the analyzer applies it.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "cmkwatch/analyzer/rules.h"
#include "commands.h"

namespace cmkwatch::cli {
namespace {

constexpr char kRulesHelp[] = R"(usage: cmkwatch rules [--json]

Lists the built-in rules (CMK001 .. CMK019): what each detects, its severity
when the vault or key is bound to an AI resource and when it is not ("-":
no alert), why it matters and what to do. --json prints one JSON object per
rule instead of the table.

Rules are turned off, re-graded or suppressed in the analyzer's
configuration (the `rules:` section of analyzer.yaml).

Exit status: 0; 2 usage.
)";

}  // namespace

int Rules(const std::vector<std::string_view>& args) {
  bool as_json = false;
  for (std::string_view a : args) {
    if (a == "-h" || a == "--help") {
      std::fputs(kRulesHelp, stdout);
      return kExitOk;
    }
    if (a != "--json") {
      std::fprintf(stderr, "cmkwatch rules: unknown argument '%s'\n\n%s", ForTerminal(a).c_str(), kRulesHelp);
      return kExitUsage;
    }
    as_json = true;
  }
  for (const analyzer::RuleInfo& r : analyzer::RuleCatalogue()) {
    const std::string bound(analyzer::ToString(r.bound));
    const std::string unbound = r.unbound ? std::string(analyzer::ToString(*r.unbound)) : "-";
    if (as_json) {
      nlohmann::json j = {{"id", r.id},   {"what", r.what}, {"severity_bound", bound},
                          {"why", r.why}, {"remediation", r.remediation}};
      j["severity_unbound"] = r.unbound ? nlohmann::json(unbound) : nlohmann::json(nullptr);
      std::printf("%s\n", j.dump().c_str());
    } else {
      std::printf("%.*s  %-8s %-8s %.*s\n", static_cast<int>(r.id.size()), r.id.data(), bound.c_str(),
                  unbound.c_str(), static_cast<int>(r.what.size()), r.what.data());
    }
  }
  return kExitOk;
}

}  // namespace cmkwatch::cli
