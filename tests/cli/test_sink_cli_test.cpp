// `cmkwatch test-sink` as an operator runs it: a real analyzer config, a
// real HTTP receiver, the process's exit code and what it prints.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "receivers.h"
#include "test_support.h"

namespace cmkwatch {
namespace {

namespace fs = std::filesystem;

class TestSinkCli : public ::testing::Test {
 protected:
  void SetUp() override {
    hook_ = test::HttpReceiver::Start(dir_.path());
    ASSERT_TRUE(hook_);
    const fs::path url = dir_ / "hook.url";
    std::ofstream(url) << hook_->Url("/hooks/soar") << "\n";
    fs::permissions(url, fs::perms::owner_read | fs::perms::owner_write);
    std::ofstream(dir_ / "analyzer.yaml") << "db: timeline.db\n"
                                          << "alerts:\n  sinks:\n"
                                          << "    - { name: soar, type: webhook, url_file: hook.url, timeout: 2s }\n"
                                          << "    - { name: pd, type: pagerduty, routing_key_env: "
                                             "CMKWATCH_TEST_UNSET_KEY }\n";
  }
  test::CommandResult TestSink(const std::string& name) {
    return test::RunCommand({CMKWATCH_CLI, "test-sink", "--config", (dir_ / "analyzer.yaml").string(), name});
  }

  test::TestDir dir_{"testsink"};
  std::unique_ptr<test::HttpReceiver> hook_;
};

TEST_F(TestSinkCli, SendsOneMarkedSampleAndSaysTheEndpointTookIt) {
  const auto r = TestSink("soar");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("sink soar (webhook): delivered"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("HTTP 200"), std::string::npos) << r.out;
  ASSERT_TRUE(hook_->WaitForRequests(1, std::chrono::milliseconds(5000)));
  const auto reqs = hook_->Requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_NE(reqs[0].body.find("TEST from cmkwatch test-sink"), std::string::npos) << reqs[0].body;
  EXPECT_FALSE(fs::exists(dir_ / "timeline.db")) << "a test sends, it stores nothing";
}

TEST_F(TestSinkCli, ARefusalIsPrintedWithTheAnswerAndExitsFive) {
  hook_->Script({{.status = 403, .body = "{\"error\":\"invalid token\"}"}});
  const auto r = TestSink("soar");
  EXPECT_EQ(r.exit_code, 5) << r.out << r.err;
  EXPECT_NE(r.out.find("permanent"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("HTTP 403"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("invalid token"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("/hooks/soar"), std::string::npos) << "the URL is a secret: " << r.out;
}

TEST_F(TestSinkCli, AnUnknownSinkOrAMissingSecretIsAUsageError) {
  const auto unknown = TestSink("slack");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("no sink named 'slack'"), std::string::npos) << unknown.err;
  EXPECT_NE(unknown.err.find("soar, pd"), std::string::npos) << unknown.err;
  const auto missing = TestSink("pd");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("CMKWATCH_TEST_UNSET_KEY is not set"), std::string::npos) << missing.err;
  EXPECT_TRUE(hook_->Requests().empty());
}

}  // namespace
}  // namespace cmkwatch
