// Upgrading a deployed timeline, as an operator does it: a timeline written
// by the cmkwatch of schema 1 (tests/upgrade/timeline-v1) is refused by the
// reading commands, migrated by `cmkwatch migrate` or by the analyzer when
// it starts, and then shows exactly what the old version showed.
#include <gtest/gtest.h>
#include <signal.h>
#include <zlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include "process.h"
#include "test_support.h"

namespace cmkwatch {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const fs::path kFixture = fs::path(CMKWATCH_SOURCE_DIR) / "tests/upgrade/timeline-v1";

std::string Gunzip(const fs::path& gz) {
  std::string out;
  gzFile in = gzopen(gz.c_str(), "rb");
  EXPECT_NE(in, nullptr) << gz;
  if (in == nullptr) return out;
  char buf[1 << 16];
  int n = 0;
  while ((n = gzread(in, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  gzclose(in);
  return out;
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class MigrateCli : public ::testing::Test {
 protected:
  void SetUp() override { std::ofstream(db_, std::ios::binary) << Gunzip(kFixture / "timeline-v1.db.gz"); }
  test::CommandResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), CMKWATCH_CLI);
    return test::RunCommand(args);
  }
  // What the schema-1 cmkwatch printed of the file must be what this one
  // prints of it once migrated: every event, every field, in order.
  void ExpectTheOldVersionsTimeline() {
    const auto shown = Cli({"timeline", "--db", db_.string(), "--json", "--limit", "1000000"});
    ASSERT_EQ(shown.exit_code, 0) << shown.err;
    EXPECT_TRUE(shown.out == Gunzip(kFixture / "timeline-v1.jsonl.gz"))
        << "the migrated timeline prints differently:\n" << shown.out.substr(0, 2000);
    const auto verified = Cli({"verify", "--db", db_.string()});
    EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
    EXPECT_NE(verified.out.find("intact: 150 events in 6 resource chains"), std::string::npos) << verified.out;
  }

  test::TestDir dir_{"migrate"};
  fs::path db_ = dir_ / "timeline.db";
};

TEST_F(MigrateCli, ReadingCommandsRefuseAnOlderFileAndMigrateBringsItForward) {
  const std::string before = ReadAll(db_);
  for (const char* command : {"timeline", "verify"}) {
    const auto refused = Cli({command, "--db", db_.string()});
    EXPECT_EQ(refused.exit_code, 1) << command;
    EXPECT_NE(refused.err.find("schema version 1, older"), std::string::npos) << command << ": " << refused.err;
    EXPECT_NE(refused.err.find("cmkwatch migrate --db"), std::string::npos) << command << ": " << refused.err;
    EXPECT_TRUE(refused.out.empty()) << refused.out;
  }
  EXPECT_TRUE(ReadAll(db_) == before) << "a reading command changed the file";

  const auto migrated = Cli({"migrate", "--db", db_.string()});
  EXPECT_EQ(migrated.exit_code, 0) << migrated.err;
  EXPECT_NE(migrated.out.find("from timeline schema 1 to 2: 150 events"), std::string::npos) << migrated.out;
  ExpectTheOldVersionsTimeline();

  const auto again = Cli({"migrate", "--db", db_.string()});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("already"), std::string::npos) << again.out;

  const auto missing = Cli({"migrate", "--db", (dir_ / "nothing-here.db").string()});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_FALSE(fs::exists(dir_ / "nothing-here.db")) << "a mistyped path must not become an empty timeline";
}

// The package upgrade path: the new analyzer starts on the old file,
// migrates it, says so in its log, and serves.
TEST_F(MigrateCli, TheAnalyzerMigratesAnOlderTimelineWhenItStarts) {
  const fs::path log = dir_ / "analyzer.log";
  {
    test::Process analyzer({CMKWATCH_ANALYZER_BIN, "--db", db_.string(), "--bind",
                            "ipc://" + (dir_ / "analyzer.sock").string(), "--http", ""},
                           log);
    std::string text;
    for (int i = 0; i < 200 && text.find("analyzer listening") == std::string::npos; ++i) {
      std::this_thread::sleep_for(50ms);
      text = ReadAll(log);
    }
    EXPECT_NE(text.find("msg=\"timeline migrated\""), std::string::npos) << text;
    EXPECT_NE(text.find("from_schema=1 to_schema=2 events=150"), std::string::npos) << text;
    EXPECT_NE(text.find("analyzer listening"), std::string::npos) << text;
    analyzer.Signal(SIGTERM);
    EXPECT_EQ(analyzer.Wait(), 0) << ReadAll(log);
  }
  ExpectTheOldVersionsTimeline();
}

}  // namespace
}  // namespace cmkwatch
