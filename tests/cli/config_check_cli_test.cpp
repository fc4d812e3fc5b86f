// `cmkwatch config check` as a deployment pipeline runs it before starting
// or reloading a daemon: the exit code and the file:line of each problem.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "test_support.h"

namespace cmkwatch {
namespace {

namespace fs = std::filesystem;

const fs::path kSamples = fs::path(CMKWATCH_SOURCE_DIR) / "deploy" / "config";

class ConfigCheckCli : public ::testing::Test {
 protected:
  fs::path Write(const std::string& name, const std::string& text) {
    const fs::path p = dir_ / name;
    std::ofstream(p) << text;
    return p;
  }
  test::CommandResult Check(std::vector<std::string> args) {
    args.insert(args.begin(), {CMKWATCH_CLI, "config", "check"});
    return test::RunCommand(args);
  }
  test::TestDir dir_{"configcheck"};
};

// The commented samples that ship in the package are themselves valid.
TEST_F(ConfigCheckCli, TheShippedSamplesAreValid) {
  const auto r = Check({(kSamples / "analyzer.yaml").string(), (kSamples / "collector.yaml").string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("analyzer.yaml: valid analyzer configuration"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("collector.yaml: valid collector configuration"), std::string::npos) << r.out;
}

TEST_F(ConfigCheckCli, ATypoIsAnErrorAtItsLineWithTheLikelyKey) {
  const fs::path f = Write("analyzer.yaml", "db: t.db\nretension_days: 30\n");
  const auto r = Check({f.string()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find(f.string() + ":2:1: unknown key 'retension_days'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("did you mean 'retention_days'"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("valid"), std::string::npos) << r.out;
}

TEST_F(ConfigCheckCli, ASinkSecretThatIsMissingOrReadableByOthersFailsUnlessSecretsAreSkipped) {
  const fs::path f = Write("analyzer.yaml",
                           "db: t.db\nalerts:\n  sinks:\n    - { name: chat, type: slack, url_file: slack.url }\n");
  auto r = Check({f.string()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("slack.url"), std::string::npos) << r.err;

  const fs::path secret = Write("slack.url", "https://hooks.slack.example/services/T0/B0/not-a-real-one\n");
  fs::permissions(secret, fs::perms::owner_read | fs::perms::owner_write | fs::perms::others_read);
  r = Check({f.string()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(r.err.find("not-a-real-one"), std::string::npos) << "the secret itself is never printed: " << r.err;

  fs::permissions(secret, fs::perms::owner_read | fs::perms::owner_write);
  r = Check({f.string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("chat (slack)"), std::string::npos) << r.out;

  fs::remove(secret);
  r = Check({"--no-secrets", f.string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("secrets not read"), std::string::npos) << r.out;
}

TEST_F(ConfigCheckCli, ACollectorFileIsCheckedAsACollectors) {
  const fs::path f = Write("collector.yaml", "id: kv-1\nspool: kv.spool\nsources: []\n");
  const auto r = Check({f.string()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find(f.string() + ":3:"), std::string::npos) << "no sources is an error at its line: " << r.err;
}

// A collector's push and Kafka sources read secrets and TLS files at start:
// the check reads them as the sources would, naming each problem (never a
// secret's value), and skips them with --no-secrets.
TEST_F(ConfigCheckCli, ACollectorsSourceSecretsAndTlsFilesAreReadLikeTheSourcesDo) {
  const fs::path f = Write("collector.yaml",
                           "id: kv-1\nspool: kv.spool\nsources:\n"
                           "  - type: eventgrid\n    name: push\n    listen: 0.0.0.0:8443\n"
                           "    tls: { cert_file: eg.pem, key_file: eg.key }\n    secret_file: eg.secret\n"
                           "  - type: kafka\n    name: hub\n    bootstrap_servers: [ns.servicebus.windows.net:9093]\n"
                           "    topics: [cmk]\n    security: connection_string\n"
                           "    connection_string_env: CMKWATCH_TEST_UNSET_CONNECTION_STRING\n");
  auto r = Check({f.string()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  for (const char* named : {"eg.secret", "eg.pem", "eg.key", "CMKWATCH_TEST_UNSET_CONNECTION_STRING"}) {
    EXPECT_NE(r.err.find(named), std::string::npos) << named << " not named:\n" << r.err;
  }
  EXPECT_EQ(r.out.find("valid"), std::string::npos) << r.out;

  Write("eg.pem", "certificate\n");
  Write("eg.key", "key\n");
  const fs::path secret = Write("eg.secret", "a-shared-secret-never-printed\n");
  fs::permissions(secret, fs::perms::owner_read | fs::perms::owner_write | fs::perms::others_read);
  r = Check({f.string()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(r.err.find("eg.pem"), std::string::npos) << "readable now: " << r.err;
  EXPECT_NE(r.err.find("eg.secret"), std::string::npos) << "readable by others: " << r.err;
  EXPECT_EQ(r.err.find("never-printed"), std::string::npos) << r.err;

  fs::permissions(secret, fs::perms::owner_read | fs::perms::owner_write);
  r = test::RunCommand({"/usr/bin/env", "CMKWATCH_TEST_UNSET_CONNECTION_STRING=Endpoint=sb://ns/;SharedAccessKey=x",
                        CMKWATCH_CLI, "config", "check", f.string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("valid collector configuration"), std::string::npos) << r.out;

  fs::remove(secret);
  r = Check({"--no-secrets", f.string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("secrets not read"), std::string::npos) << r.out;
}

TEST_F(ConfigCheckCli, AFileOfNeitherKindAsksWhichItIs) {
  const fs::path f = Write("what.yaml", "log: {level: info}\n");
  auto r = Check({f.string()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("say --analyzer or --collector"), std::string::npos) << r.err;
  r = Check({"--analyzer", f.string()});
  EXPECT_EQ(r.exit_code, 1) << "an analyzer needs db: " << r.out << r.err;
  r = Check({(dir_ / "absent.yaml").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("cannot be read"), std::string::npos) << r.err;
  r = Check({});
  EXPECT_EQ(r.exit_code, 2);
}

}  // namespace
}  // namespace cmkwatch
