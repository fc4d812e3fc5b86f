// `cmkwatch inspect` as a user runs it: a real process, real files, stdout
// and stderr and the exit status checked.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.h"

namespace cmkwatch {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

struct CliRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs the CLI with arguments (already shell-quoted), stdin from `input`.
CliRun Cli(const std::string& args, const std::string& input = "") {
  const fs::path dir = fs::temp_directory_path() / ("cmkwatch-cli-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "stdin") << input;
  const std::string cmd = std::string(CMKWATCH_CLI) + " " + args + " <" + (dir / "stdin").string() + " >" +
                          (dir / "stdout").string() + " 2>" + (dir / "stderr").string();
  const int status = std::system(cmd.c_str());
  CliRun r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = test::ReadFileOrFail(dir / "stdout");
  r.err = test::ReadFileOrFail(dir / "stderr");
  fs::remove_all(dir);
  return r;
}

CliRun Inspect(const std::string& args, const std::string& input = "") { return Cli("inspect " + args, input); }

std::vector<Json> Lines(const std::string& text) {
  std::vector<Json> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.front() == '{') out.push_back(Json::parse(line));
  }
  return out;
}

TEST(InspectCli, BundledSamplesParseCleanly) {
  const CliRun r = Inspect(std::string(CMKWATCH_SOURCE_DIR) + "/samples");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto events = Lines(r.out);
  ASSERT_EQ(events.size(), 13u);
  for (const auto& e : events) {
    for (const char* field : {"id", "source", "time", "resource_id", "resource_kind", "operation", "status"}) {
      EXPECT_TRUE(e.contains(field)) << field << " missing in " << e.dump();
    }
  }
  // The scenario's decisive moments come out as rules will need them.
  int unwrap_403 = 0, bypass_none = 0;
  for (const auto& e : events) {
    if (e["operation"] == "KeyUnwrap" && e.value("http_status", 0) == 403) {
      ++unwrap_403;
      EXPECT_EQ(e["status"], "failed");
      EXPECT_EQ(e["key"]["name"], "foundry-cmk");
      EXPECT_EQ(e["caller"]["object_id"], "5a0e0c2d-1111-4111-8111-000000000001");
    }
    if (e["operation"] == "microsoft.keyvault/vaults/write") {
      ++bypass_none;
      EXPECT_EQ(e["changes"]["vault"]["network_acls"]["bypass"], "None");
    }
  }
  EXPECT_EQ(unwrap_403, 1);
  EXPECT_EQ(bypass_none, 1);
  EXPECT_NE(r.err.find("13 events, 0 quarantined"), std::string::npos) << r.err;
}

TEST(InspectCli, QuarantineGoesToStderrAndExitsThree) {
  const std::string good =
      R"({"time":"2026-03-01T10:00:00Z","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV","operationName":"KeyGet","category":"AuditEvent","properties":{"httpStatusCode":200}})";
  const CliRun r = Inspect("-", good + "\n{\"what\":\"is this\"}\n" + good + "\n");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(Lines(r.out).size(), 2u);
  const auto errs = Lines(r.err);
  ASSERT_EQ(errs.size(), 1u);
  const Json& q = errs[0]["quarantined"];
  EXPECT_EQ(q["path"], "-");
  EXPECT_EQ(q["line"], 2);
  EXPECT_EQ(q["offset"], good.size() + 1);
  EXPECT_EQ(q["format"], "unknown");
  EXPECT_NE(q["reason"].get<std::string>().find("unrecognized"), std::string::npos);
  EXPECT_NE(r.err.find("2 events, 1 quarantined"), std::string::npos) << r.err;
}

TEST(InspectCli, ForcedFormatNamesItInTheQuarantineEntry) {
  const CliRun r = Inspect("--format eventgrid -", R"({"time":"2026-03-01T10:00:00Z","operationName":"KeyGet","category":"AuditEvent"})");
  EXPECT_EQ(r.exit_code, 3);
  const auto errs = Lines(r.err);
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0]["quarantined"]["format"], "eventgrid");
}

TEST(InspectCli, UsageErrorsExitTwo) {
  EXPECT_EQ(Inspect("").exit_code, 2);
  EXPECT_EQ(Inspect("--format nosuch -").exit_code, 2);
  EXPECT_EQ(Inspect("--bogus -").exit_code, 2);
  EXPECT_EQ(Inspect("--max-record-bytes lots -").exit_code, 2);
  const CliRun r = Inspect("--format");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--format needs a value"), std::string::npos);
}

TEST(InspectCli, UnreadablePathExitsOne) {
  const CliRun r = Inspect("/nonexistent/cmkwatch.json");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("/nonexistent/cmkwatch.json"), std::string::npos);
}

TEST(InspectCli, HelpDocumentsFormatsAndExitCodes) {
  const CliRun r = Inspect("--help");
  EXPECT_EQ(r.exit_code, 0);
  for (const char* word : {"activity", "kvaudit", "azurediagnostics", "eventgrid", "arm", "quarantined", "Exit status",
                           "--max-record-bytes", "gzip"}) {
    EXPECT_NE(r.out.find(word), std::string::npos) << word;
  }
}

}  // namespace
}  // namespace cmkwatch

namespace cmkwatch {
namespace {

TEST(KeygenCli, WritesAPrivateKeyPairAndNeverOverwrites) {
  const fs::path dir = fs::temp_directory_path() / ("cmkwatch-keygen-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string prefix = (dir / "collector-1").string();
  const std::string cmd = std::string(CMKWATCH_CLI) + " keygen " + prefix + " >" + (dir / "out").string() + " 2>&1";
  int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  const std::string secret = test::ReadFileOrFail(prefix + ".key_secret");
  const std::string pub = test::ReadFileOrFail(prefix + ".key");
  EXPECT_EQ(secret.size(), 41u);  // 40 Z85 characters and a newline
  EXPECT_EQ(pub.size(), 41u);
  EXPECT_EQ(fs::status(prefix + ".key_secret").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  const std::string out = test::ReadFileOrFail(dir / "out");
  EXPECT_NE(out.find(pub.substr(0, 40)), std::string::npos);
  EXPECT_EQ(out.find(secret.substr(0, 40)), std::string::npos) << "secret key printed";
  status = std::system(cmd.c_str());
  EXPECT_EQ(WEXITSTATUS(status), 1) << "an existing key pair must not be overwritten";
  EXPECT_EQ(test::ReadFileOrFail(prefix + ".key_secret"), secret);
  fs::remove_all(dir);
}

// `cmkwatch rules`: the catalogue an operator configures against.
TEST(RulesCli, ListsEveryRuleWithItsSeverities) {
  const CliRun r = Cli("rules --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rules = Lines(r.out);
  ASSERT_EQ(rules.size(), 19u);
  EXPECT_EQ(rules[0]["id"], "CMK001");
  EXPECT_EQ(rules[0]["severity_bound"], "critical");
  EXPECT_EQ(rules[0]["severity_unbound"], "low");
  EXPECT_TRUE(rules[5]["severity_unbound"].is_null());  // CMK006: only ever about a bound identity
  EXPECT_EQ(rules[18]["id"], "CMK019");
  const CliRun table = Cli("rules");
  EXPECT_NE(table.out.find("CMK011  critical -        Rotation targets another vault"), std::string::npos) << table.out;
  EXPECT_EQ(Cli("rules --bogus").exit_code, 2);
}

// `cmkwatch inventory import` and `cmkwatch alerts`, as an operator
// seeding a new deployment runs them.
TEST(InventoryCli, ImportStoresEachSnapshotOnceAndAlertsReadsTheDatabase) {
  test::TestDir dir("inventory-cli");
  const std::string db = (dir.path() / "timeline.db").string();
  const std::string inventory = std::string(CMKWATCH_SOURCE_DIR) + "/samples/inventory";
  CliRun r = Cli("inventory import --db " + db + " " + inventory);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("4 resources stored, 0 already there"), std::string::npos) << r.err;
  r = Cli("inventory import --db " + db + " " + inventory);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("0 resources stored, 4 already there"), std::string::npos) << r.err;

  // A snapshot that is not one: named, the others still imported, exit 3.
  std::ofstream(dir.path() / "broken.json") << "{\"id\": ";
  r = Cli("inventory import --db " + db + " " + (dir.path() / "broken.json").string() + " " + inventory);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("broken.json"), std::string::npos) << r.err;

  // The estate as imported breaks no rule: no alert.
  r = Cli("alerts --db " + db + " --status all --json");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Lines(r.out).empty()) << r.out;
  EXPECT_EQ(Cli("alerts --db " + db + " --status maybe").exit_code, 2);
  EXPECT_EQ(Cli("alerts --db " + (dir.path() / "missing.db").string()).exit_code, 1);
  EXPECT_EQ(Cli("inventory import " + inventory).exit_code, 2);  // no --db
}

}  // namespace
}  // namespace cmkwatch
