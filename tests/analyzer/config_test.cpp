// The analyzer's configuration file: the shipped sample, what an operator
// sees for a wrong file, and CURVE key files read from real files.
#include "cmkwatch/analyzer/config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "cmkwatch/common/time.h"
#include "cmkwatch/common/transport.h"
#include "test_support.h"

namespace cmkwatch::analyzer {
namespace {

namespace fs = std::filesystem;

class AnalyzerConfigTest : public ::testing::Test {
 protected:
  // A fresh key pair written as dir_/<prefix>.key and .key_secret (0600).
  transport::KeyPair Keys(const std::string& prefix) { return test::WriteKeyPairOrFail(dir_ / prefix); }

  std::string Write(const std::string& text) {
    const std::string path = (dir_ / "analyzer.yaml").string();
    std::ofstream(path) << text;
    return path;
  }

  test::TestDir test_dir_{"aconfig"};
  const fs::path dir_ = test_dir_.path();
};

std::string ErrorOf(std::string_view text) {
  auto r = ParseAnalyzerConfig(text, "/etc/cmkwatch/analyzer.yaml");
  EXPECT_FALSE(r.ok());
  return r.ok() ? "" : r.status().message();
}

TEST_F(AnalyzerConfigTest, ShippedSampleLoadsWithTheDocumentedDefaults) {
  auto c = LoadAnalyzerConfig(CMKWATCH_SOURCE_DIR "/deploy/config/analyzer.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const AnalyzerOptions defaults;
  const AnalyzerOptions& a = c->analyzer;
  EXPECT_EQ(a.db_path, "/var/lib/cmkwatch/timeline.db");
  EXPECT_EQ(a.bind, defaults.bind);
  EXPECT_EQ(a.http, defaults.http);
  EXPECT_EQ(a.http_allow_non_loopback, defaults.http_allow_non_loopback);
  EXPECT_EQ(a.retention_days, defaults.retention_days);
  EXPECT_EQ(a.retention_interval_s, defaults.retention_interval_s);
  EXPECT_EQ(a.timeline.compress, defaults.timeline.compress);
  EXPECT_EQ(a.timeline.compression_level, defaults.timeline.compression_level);
  EXPECT_EQ(a.timeline.busy_timeout_ms, defaults.timeline.busy_timeout_ms);
  EXPECT_EQ(a.timeline.max_event_bytes, defaults.timeline.max_event_bytes);
  EXPECT_EQ(a.timeline.helper_thread, defaults.timeline.helper_thread);
  EXPECT_EQ(a.link.heartbeat_ivl_ms, defaults.link.heartbeat_ivl_ms);
  EXPECT_EQ(a.link.heartbeat_timeout_ms, defaults.link.heartbeat_timeout_ms);
  EXPECT_EQ(a.link.max_message_bytes, defaults.link.max_message_bytes);
  EXPECT_EQ(a.link.send_high_water_mark, defaults.link.send_high_water_mark);
  EXPECT_FALSE(a.link.server_curve.has_value());  // commented out in the sample
  EXPECT_EQ(c->log_level, log::Level::kInfo);
  EXPECT_EQ(c->log_format, log::Format::kKeyValue);
}

TEST_F(AnalyzerConfigTest, ValuesOverrideDefaults) {
  auto c = ParseAnalyzerConfig(
      "db: /srv/t.db\n"
      "bind: ipc:///run/cmkwatch/analyzer.sock\n"
      "http: \"\"\n"
      "retention_days: 400\n"
      "timeline: { compress: false, compression_level: 6, helper_thread: false }\n"
      "link: { heartbeat_ivl_ms: 2000, heartbeat_timeout_ms: 10000, max_message_bytes: 64MiB }\n"
      "log: { level: warning, format: json }\n",
      "a.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->analyzer.bind, "ipc:///run/cmkwatch/analyzer.sock");
  EXPECT_EQ(c->analyzer.http, "");  // disabled
  EXPECT_EQ(c->analyzer.retention_days, 400);
  EXPECT_FALSE(c->analyzer.timeline.compress);
  EXPECT_EQ(c->analyzer.timeline.compression_level, 6);
  EXPECT_FALSE(c->analyzer.timeline.helper_thread);
  EXPECT_EQ(c->analyzer.link.heartbeat_ivl_ms, 2000);
  EXPECT_EQ(c->analyzer.link.max_message_bytes, int64_t{64} << 20);
  EXPECT_EQ(c->log_level, log::Level::kWarning);
  EXPECT_EQ(c->log_format, log::Format::kJson);
}

TEST_F(AnalyzerConfigTest, TypoedKeyFailsNamingLineAndValidKeys) {
  const std::string e = ErrorOf("db: /srv/t.db\nretention_dayz: 30\n");
  EXPECT_NE(e.find("/etc/cmkwatch/analyzer.yaml:2:1: unknown key 'retention_dayz'"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'retention_days'?"), std::string::npos) << e;
  EXPECT_NE(e.find("valid keys: db, bind, http, http_allow_non_loopback, retention_days"), std::string::npos) << e;
  // In a nested section too, naming that section's keys.
  const std::string nested = ErrorOf("db: /srv/t.db\ntimeline:\n  compres: false\n");
  EXPECT_NE(nested.find("analyzer.yaml:3:3: unknown key 'compres' in timeline (did you mean 'compress'?)"),
            std::string::npos)
      << nested;
  EXPECT_NE(nested.find("valid keys: compress, compression_level, busy_timeout_ms, max_event_bytes"),
            std::string::npos)
      << nested;
}

TEST_F(AnalyzerConfigTest, WrongTypeFailsNamingTheLine) {
  const std::string e = ErrorOf("db: /srv/t.db\n\nretention_days: abc\n");
  EXPECT_EQ(e, "/etc/cmkwatch/analyzer.yaml:3:17: 'retention_days': expected an integer, got 'abc'");
  const std::string level = ErrorOf("db: /srv/t.db\nlog:\n  level: chatty\n");
  EXPECT_NE(level.find("analyzer.yaml:3:10: 'level': expected one of: debug, info, warning, error, got 'chatty'"),
            std::string::npos)
      << level;
}

TEST_F(AnalyzerConfigTest, MissingDbAndOtherProblemsAreReportedTogether) {
  const std::string e = ErrorOf(
      "bind: 127.0.0.1:5570\n"                       // 1: not an endpoint
      "timeline: { compression_level: 12 }\n"       // 2: out of range
      "link: { heartbeat_ivl_ms: 5000, heartbeat_timeout_ms: 1000 }\n");  // 3: timeout below interval
  EXPECT_NE(e.find("analyzer.yaml:1:1: missing required key 'db'"), std::string::npos) << e;
  EXPECT_NE(e.find("analyzer.yaml:1:7: 'bind': expected tcp://host:port"), std::string::npos) << e;
  EXPECT_NE(e.find("analyzer.yaml:2:32: 'compression_level': 12 is out of range 1..9"), std::string::npos) << e;
  EXPECT_NE(e.find("analyzer.yaml:3:55: 'heartbeat_timeout_ms': must be at least heartbeat_ivl_ms"),
            std::string::npos)
      << e;
}

TEST_F(AnalyzerConfigTest, SyntaxErrorsAndMissingFiles) {
  EXPECT_EQ(ErrorOf("db: a\ndb: b\n"), "/etc/cmkwatch/analyzer.yaml:2:1: duplicate key 'db'");
  auto missing = LoadAnalyzerConfig((dir_ / "nope.yaml").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(missing.status().IsNotFound());
  EXPECT_NE(missing.status().message().find("nope.yaml"), std::string::npos);
}

TEST_F(AnalyzerConfigTest, RelativeKeyFilesResolveAgainstTheConfigDirectory) {
  const auto server = Keys("keys/analyzer");
  const auto prod = Keys("clients/kv-prod");
  const auto staging = Keys("clients/kv-staging");
  const std::string path = Write(
      "db: data/timeline.db\n"
      "bind: tcp://0.0.0.0:5570\n"
      "curve:\n"
      "  public_key_file: keys/analyzer.key\n"
      "  secret_key_file: keys/analyzer.key_secret\n"
      "  clients:\n"
      "    - { id: kv-prod, public_key_file: clients/kv-prod.key }\n"
      "    - id: kv-staging\n"
      "      public_key_file: clients/kv-staging.key\n");
  // Loaded from another working directory: paths follow the file, not the cwd.
  auto c = LoadAnalyzerConfig(path);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->analyzer.db_path, (dir_ / "data/timeline.db").string());
  ASSERT_TRUE(c->analyzer.link.server_curve.has_value());
  const transport::ServerCurve& curve = *c->analyzer.link.server_curve;
  EXPECT_EQ(curve.server.public_key, server.public_key);
  EXPECT_EQ(curve.server.secret_key, server.secret_key);
  ASSERT_EQ(curve.allowed_clients.size(), 2u);
  EXPECT_EQ(curve.allowed_clients.at(prod.public_key), "kv-prod");
  EXPECT_EQ(curve.allowed_clients.at(staging.public_key), "kv-staging");
}

TEST_F(AnalyzerConfigTest, GroupReadableSecretKeyIsRefusedWithoutShowingIt) {
  const auto server = Keys("analyzer");
  Keys("kv-prod");
  ASSERT_EQ(::chmod((dir_ / "analyzer.key_secret").c_str(), 0644), 0);
  const std::string path = Write(
      "db: t.db\n"
      "curve:\n"
      "  public_key_file: analyzer.key\n"
      "  secret_key_file: analyzer.key_secret\n"
      "  clients: [{ id: kv-prod, public_key_file: kv-prod.key }]\n");
  auto c = LoadAnalyzerConfig(path);
  ASSERT_FALSE(c.ok());
  const std::string e = c.status().message();
  EXPECT_NE(e.find(path + ":4:20: 'secret_key_file': " + (dir_ / "analyzer.key_secret").string()),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("readable by group or others"), std::string::npos) << e;
  EXPECT_EQ(e.find(server.secret_key), std::string::npos);
  EXPECT_EQ(e.find(server.public_key), std::string::npos);
}

TEST_F(AnalyzerConfigTest, MissingOrMalformedKeyFileNamesLineAndPath) {
  Keys("analyzer");
  std::ofstream(dir_ / "bad.key") << "not a key\n";
  const std::string path = Write(
      "db: t.db\n"
      "curve:\n"
      "  public_key_file: analyzer.key\n"
      "  secret_key_file: analyzer.key_secret\n"
      "  clients:\n"
      "    - { id: a, public_key_file: missing.key }\n"
      "    - { id: b, public_key_file: bad.key }\n"
      "    - { id: 'c d', public_key_file: analyzer.key }\n");
  const std::string e = LoadAnalyzerConfig(path).status().message();
  EXPECT_NE(e.find(path + ":6:33: 'public_key_file': key file " + (dir_ / "missing.key").string()),
            std::string::npos)
      << e;
  EXPECT_NE(e.find(path + ":7:33: 'public_key_file': " + (dir_ / "bad.key").string() + ": not a 40-character"),
            std::string::npos)
      << e;
  EXPECT_EQ(e.find("not a key"), std::string::npos) << e;  // the content is never echoed
  EXPECT_NE(e.find(path + ":8:13: 'id': a collector id is"), std::string::npos) << e;
}

TEST_F(AnalyzerConfigTest, DuplicateClientIdOrKeyIsRefused) {
  Keys("analyzer");
  Keys("one");
  Keys("two");
  const std::string ids = Write(
      "db: t.db\n"
      "curve:\n"
      "  public_key_file: analyzer.key\n"
      "  secret_key_file: analyzer.key_secret\n"
      "  clients:\n"
      "    - { id: kv-prod, public_key_file: one.key }\n"
      "    - { id: kv-prod, public_key_file: two.key }\n");
  const std::string e = LoadAnalyzerConfig(ids).status().message();
  EXPECT_NE(e.find(ids + ":7:13: 'id': client 'kv-prod' is listed twice (first at line 6)"), std::string::npos)
      << e;

  const std::string keys = Write(
      "db: t.db\n"
      "curve:\n"
      "  public_key_file: analyzer.key\n"
      "  secret_key_file: analyzer.key_secret\n"
      "  clients:\n"
      "    - { id: kv-prod, public_key_file: one.key }\n"
      "    - { id: kv-test, public_key_file: one.key }\n");
  const std::string k = LoadAnalyzerConfig(keys).status().message();
  EXPECT_NE(k.find(keys + ":7:39: 'public_key_file': " + (dir_ / "one.key").string() +
                   " holds the same key as client 'kv-prod' (line 6)"),
            std::string::npos)
      << k;
}

TEST_F(AnalyzerConfigTest, CurveNeedsClients) {
  Keys("analyzer");
  const std::string path = Write(
      "db: t.db\n"
      "curve:\n"
      "  public_key_file: analyzer.key\n"
      "  secret_key_file: analyzer.key_secret\n");
  const std::string e = LoadAnalyzerConfig(path).status().message();
  EXPECT_NE(e.find(path + ":3:3: missing required key 'clients' in curve"), std::string::npos) << e;
}

// The rules section: what an operator writes to quiet a rule, change a
// severity or suppress a known exception, and what a mistake says.
TEST(AnalyzerRulesConfig, SettingsSuppressionsAndSilenceWindowAreRead) {
  auto r = ParseAnalyzerConfig(R"(db: /var/lib/cmkwatch/t.db
rules:
  silence_window: 2h
  settings:
    CMK018: { enabled: false }
    CMK014: { severity: low }
  suppressions:
    - rule: CMK009
      resources: "*/vaults/KV-LAB-*"
      reason: lab vaults, ticket SEC-12
      expires: 2027-03-31
)",
                               "/etc/cmkwatch/analyzer.yaml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const RulesConfig& rules = r->analyzer.rules;
  EXPECT_EQ(rules.silence_window_ns, int64_t{2} * 3600 * 1'000'000'000);
  ASSERT_EQ(rules.rules.count("CMK018"), 1u);
  EXPECT_FALSE(rules.rules.at("CMK018").enabled);
  EXPECT_EQ(rules.rules.at("CMK014").severity, Severity::kLow);
  ASSERT_EQ(rules.suppressions.size(), 1u);
  EXPECT_EQ(rules.suppressions[0].resource_pattern, "*/vaults/kv-lab-*");  // ids are lower case
  EXPECT_EQ(rules.suppressions[0].reason, "lab vaults, ticket SEC-12");
  EXPECT_EQ(rules.suppressions[0].expires, *ParseTimestamp("2027-03-31T00:00:00Z"));
}

TEST(AnalyzerRulesConfig, MistakesNameTheLineAndWhatIsExpected) {
  const std::string e = ErrorOf(R"(db: /t.db
rules:
  silence_window: 10
  settings:
    CMK099: { enabled: false }
    CMK001: { severity: urgent }
  suppressions:
    - rule: CMK009
      resources: "*"
      expires: 2027-03-31
    - rule: CMK009
      resources: "*"
      reason: forever
)");
  EXPECT_NE(e.find("analyzer.yaml:3:19: 'silence_window': expected a duration"), std::string::npos) << e;
  EXPECT_NE(e.find(":5:5: 'CMK099': no such rule"), std::string::npos) << e;
  EXPECT_NE(e.find("'severity': expected one of: info, low, medium, high, critical, got 'urgent'"), std::string::npos)
      << e;
  EXPECT_NE(e.find("'reason'"), std::string::npos) << e;   // the first suppression has none
  EXPECT_NE(e.find("'expires'"), std::string::npos) << e;  // the second never ends
}

}  // namespace
}  // namespace cmkwatch::analyzer
