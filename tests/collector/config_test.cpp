// The collector's configuration file: the shipped sample, what an operator
// sees for a wrong file, relative paths and CURVE key files on disk.
#include "cmkwatch/collector/config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "cmkwatch/common/transport.h"
#include "test_support.h"

namespace cmkwatch::collector {
namespace {

namespace fs = std::filesystem;

class CollectorConfigTest : public ::testing::Test {
 protected:
  // A fresh key pair written as dir_/<prefix>.key and .key_secret (0600).
  transport::KeyPair Keys(const std::string& prefix) { return test::WriteKeyPairOrFail(dir_ / prefix); }

  std::string Write(const std::string& text) {
    const std::string path = (dir_ / "collector.yaml").string();
    std::ofstream(path) << text;
    return path;
  }

  test::TestDir test_dir_{"cconfig"};
  const fs::path dir_ = test_dir_.path();
};

constexpr std::string_view kMinimal = "id: kv-1\nspool: /var/lib/cmkwatch/kv-1.spool\nsources: [/data]\n";

std::string ErrorOf(std::string_view text) {
  auto r = ParseCollectorConfig(text, "c.yaml");
  EXPECT_FALSE(r.ok());
  return r.ok() ? "" : r.status().message();
}

TEST_F(CollectorConfigTest, ShippedSampleLoadsWithTheDocumentedDefaults) {
  auto c = LoadCollectorConfig(CMKWATCH_SOURCE_DIR "/deploy/config/collector.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const CollectorOptions defaults;
  const CollectorOptions& o = c->collector;
  EXPECT_EQ(o.id, "kv-prod");
  EXPECT_EQ(o.connect, defaults.connect);
  EXPECT_EQ(o.spool_path, "/var/lib/cmkwatch/kv-prod.spool");
  EXPECT_EQ(o.spool_max_bytes, defaults.spool_max_bytes);
  ASSERT_EQ(o.sources.size(), 2u);
  EXPECT_EQ(o.sources[0].path, "/data/insights-logs-auditevent");
  EXPECT_EQ(o.sources[0].format, Format::kAuto);
  EXPECT_EQ(o.sources[1].path, "/data/insights-activity-logs");
  EXPECT_EQ(o.source_defaults.poll_interval_ms, defaults.source_defaults.poll_interval_ms);
  EXPECT_EQ(o.source_defaults.rescan_interval_ms, defaults.source_defaults.rescan_interval_ms);
  EXPECT_EQ(o.source_defaults.force_polling, defaults.source_defaults.force_polling);
  EXPECT_EQ(o.source_defaults.max_batch_events, defaults.source_defaults.max_batch_events);
  EXPECT_EQ(o.source_defaults.max_batch_bytes, defaults.source_defaults.max_batch_bytes);
  EXPECT_EQ(o.source_defaults.max_open_files, defaults.source_defaults.max_open_files);
  EXPECT_EQ(o.resend_after_ms, defaults.resend_after_ms);
  EXPECT_EQ(o.max_inflight_batches, defaults.max_inflight_batches);
  EXPECT_EQ(o.exit_when_drained, defaults.exit_when_drained);
  EXPECT_EQ(o.link.heartbeat_ivl_ms, defaults.link.heartbeat_ivl_ms);
  EXPECT_EQ(o.link.heartbeat_timeout_ms, defaults.link.heartbeat_timeout_ms);
  EXPECT_EQ(o.link.send_high_water_mark, defaults.link.send_high_water_mark);
  EXPECT_FALSE(o.link.client_curve.has_value());  // commented out in the sample
  EXPECT_EQ(c->log_level, log::Level::kInfo);
  EXPECT_EQ(c->log_format, log::Format::kKeyValue);
}

TEST_F(CollectorConfigTest, ValuesOverrideDefaults) {
  auto c = ParseCollectorConfig(
      "id: kv-prod.eu_1\n"
      "connect: tcp://10.0.0.5:5570\n"
      "spool: /s.spool\n"
      "spool_max_bytes: 64MiB\n"
      "sources:\n"
      "  - { path: /a, format: kvaudit }\n"
      "  - { path: /b, format: activity }\n"
      "  - \"-\"\n"
      "follow: { poll_interval_ms: 250, force_polling: yes, max_batch_events: 1000 }\n"
      "send: { resend_after_ms: 10000, max_inflight_batches: 8 }\n"
      "exit_when_drained: true\n"
      "log: { level: debug }\n",
      "/etc/c.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const CollectorOptions& o = c->collector;
  EXPECT_EQ(o.id, "kv-prod.eu_1");
  EXPECT_EQ(o.connect, "tcp://10.0.0.5:5570");
  EXPECT_EQ(o.spool_max_bytes, uint64_t{64} << 20);
  ASSERT_EQ(o.sources.size(), 3u);
  EXPECT_EQ(o.sources[0].format, Format::kKeyVaultAudit);
  EXPECT_EQ(o.sources[1].format, Format::kActivityLog);
  EXPECT_EQ(o.sources[2].path, "-");  // stdin is not a path to resolve
  EXPECT_EQ(o.source_defaults.poll_interval_ms, 250);
  EXPECT_TRUE(o.source_defaults.force_polling);
  EXPECT_EQ(o.source_defaults.max_batch_events, 1000u);
  EXPECT_EQ(o.resend_after_ms, 10000);
  EXPECT_EQ(o.max_inflight_batches, 8u);
  EXPECT_TRUE(o.exit_when_drained);
  EXPECT_EQ(c->log_level, log::Level::kDebug);
}

TEST_F(CollectorConfigTest, TypoedKeyFailsNamingLineAndValidKeys) {
  const std::string e = ErrorOf(std::string(kMinimal) + "follow:\n  poll_intervall_ms: 5\n");
  EXPECT_NE(e.find("c.yaml:5:3: unknown key 'poll_intervall_ms' in follow (did you mean 'poll_interval_ms'?); "
                   "valid keys: poll_interval_ms, rescan_interval_ms, force_polling"),
            std::string::npos)
      << e;
  const std::string top = ErrorOf(std::string(kMinimal) + "exit_when_drainde: true\n");
  EXPECT_NE(top.find("c.yaml:4:1: unknown key 'exit_when_drainde'"), std::string::npos) << top;
  EXPECT_NE(top.find("valid keys: id, connect, spool, spool_max_bytes, sources"), std::string::npos) << top;
}

TEST_F(CollectorConfigTest, WrongTypeFailsNamingTheLine) {
  const std::string e = ErrorOf(std::string(kMinimal) + "spool_max_bytes: lots\n");
  EXPECT_NE(e.find("c.yaml:4:18: 'spool_max_bytes': expected a size"), std::string::npos) << e;
  EXPECT_NE(e.find("got 'lots'"), std::string::npos) << e;
  const std::string format = ErrorOf("id: a\nspool: /s\nsources:\n  - { path: /a, format: xml }\n");
  EXPECT_NE(format.find("c.yaml:4:25: 'format': expected one of: auto, activity, kvaudit, azurediagnostics, "
                        "eventgrid, arm, got 'xml'"),
            std::string::npos)
      << format;
  const std::string drained = ErrorOf(std::string(kMinimal) + "exit_when_drained: maybe\n");
  EXPECT_NE(drained.find("c.yaml:4:20: 'exit_when_drained': expected true or false, got 'maybe'"),
            std::string::npos)
      << drained;
}

TEST_F(CollectorConfigTest, MissingRequiredKeysAreAllReported) {
  const std::string e = ErrorOf("connect: tcp://127.0.0.1:5570\n");
  EXPECT_NE(e.find("c.yaml:1:1: missing required key 'id'"), std::string::npos) << e;
  EXPECT_NE(e.find("c.yaml:1:1: missing required key 'spool'"), std::string::npos) << e;
  EXPECT_NE(e.find("c.yaml:1:1: missing required key 'sources'"), std::string::npos) << e;
  const std::string empty = ErrorOf("id: a\nspool: /s\nsources: []\n");
  EXPECT_NE(empty.find("c.yaml:3:10: 'sources': at least one source"), std::string::npos) << empty;
  const std::string no_path = ErrorOf("id: a\nspool: /s\nsources:\n  - { format: arm }\n");
  EXPECT_NE(no_path.find("c.yaml:4:5: missing required key 'path' in a source"), std::string::npos) << no_path;
  const std::string bad_id = ErrorOf("id: kv prod\nspool: /s\nsources: [/a]\n");
  EXPECT_NE(bad_id.find("c.yaml:1:5: 'id': a collector id is"), std::string::npos) << bad_id;
  const std::string dup = ErrorOf("id: a\nspool: /s\nsources: [/a, { path: /a }]\n");
  EXPECT_NE(dup.find("c.yaml:3:23: 'sources': /a is listed twice (first at line 3)"), std::string::npos) << dup;
}

TEST_F(CollectorConfigTest, RelativePathsResolveAgainstTheConfigDirectory) {
  const auto server = Keys("keys/analyzer");
  const auto mine = Keys("keys/kv-prod");
  const std::string path = Write(
      "id: kv-prod\n"
      "spool: spool/kv-prod.spool\n"
      "sources: [logs/audit, { path: ../activity }, \"-\"]\n"
      "curve:\n"
      "  server_public_key_file: keys/analyzer.key\n"
      "  public_key_file: keys/kv-prod.key\n"
      "  secret_key_file: keys/kv-prod.key_secret\n");
  auto c = LoadCollectorConfig(path);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const CollectorOptions& o = c->collector;
  EXPECT_EQ(o.spool_path, (dir_ / "spool/kv-prod.spool").string());
  ASSERT_EQ(o.sources.size(), 3u);
  EXPECT_EQ(o.sources[0].path, (dir_ / "logs/audit").string());
  EXPECT_EQ(o.sources[1].path, (dir_.parent_path() / "activity").string());
  EXPECT_EQ(o.sources[2].path, "-");
  ASSERT_TRUE(o.link.client_curve.has_value());
  EXPECT_EQ(o.link.client_curve->server_public_key, server.public_key);
  EXPECT_EQ(o.link.client_curve->client.public_key, mine.public_key);
  EXPECT_EQ(o.link.client_curve->client.secret_key, mine.secret_key);
}

TEST_F(CollectorConfigTest, WorldReadableSecretKeyIsRefusedWithoutShowingIt) {
  Keys("analyzer");
  const auto mine = Keys("kv-prod");
  ASSERT_EQ(::chmod((dir_ / "kv-prod.key_secret").c_str(), 0644), 0);
  const std::string path = Write(std::string(kMinimal) +
                                 "curve:\n"
                                 "  server_public_key_file: analyzer.key\n"
                                 "  public_key_file: kv-prod.key\n"
                                 "  secret_key_file: kv-prod.key_secret\n");
  auto c = LoadCollectorConfig(path);
  ASSERT_FALSE(c.ok());
  const std::string e = c.status().message();
  EXPECT_NE(e.find(path + ":7:20: 'secret_key_file': " + (dir_ / "kv-prod.key_secret").string() +
                   ": secret key is readable by group or others"),
            std::string::npos)
      << e;
  EXPECT_EQ(e.find(mine.secret_key), std::string::npos);
}

TEST_F(CollectorConfigTest, KeyFileThatIsNotARegularFileIsRefused) {
  // A directory (or a FIFO) named as a key file must fail fast, not block.
  Keys("kv-prod");
  fs::create_directories(dir_ / "analyzer.key");
  const std::string path = Write(std::string(kMinimal) +
                                 "curve:\n"
                                 "  server_public_key_file: analyzer.key\n"
                                 "  public_key_file: kv-prod.key\n"
                                 "  secret_key_file: kv-prod.key_secret\n");
  const std::string e = LoadCollectorConfig(path).status().message();
  EXPECT_NE(e.find(path + ":5:27: 'server_public_key_file': key file " + (dir_ / "analyzer.key").string() +
                   " is not a regular file"),
            std::string::npos)
      << e;
}

TEST_F(CollectorConfigTest, EventGridSourceWithEveryKey) {
  auto c = ParseCollectorConfig(
      "id: kv-1\n"
      "spool: kv-1.spool\n"
      "http: 127.0.0.1:9465\n"
      "sources:\n"
      "  - /data\n"
      "  - type: eventgrid\n"
      "    name: kv-events\n"
      "    listen: 0.0.0.0:8443\n"
      "    url_path: /api/eg\n"
      "    tls: { cert_file: eg.pem, key_file: /k/eg.key }\n"
      "    secret_file: eg.secret\n"
      "    secret_query_parameter: code\n"
      "    secret_header: Authorization\n"
      "    max_body_bytes: 2MiB\n"
      "    max_connections: 8\n"
      "    request_timeout_ms: 5000\n"
      "    idle_timeout_ms: 1000\n"
      "    backpressure_hold_ms: 0\n"
      "    retry_after_s: 30\n"
      "    allowed_origins: [eventgrid.azure.net]\n"
      "    allowed_rate: \"120\"\n"
      "  - { type: eventgrid, listen: \"[::1]:8080\", secret_env: EG_SECRET }\n",
      "/etc/cmkwatch/c.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const CollectorOptions& o = c->collector;
  EXPECT_EQ(o.http, "127.0.0.1:9465");
  ASSERT_EQ(o.sources.size(), 3u);
  EXPECT_EQ(o.sources[0].type, SourceType::kPath);
  const EventGridSourceOptions& e = o.sources[1].eventgrid;
  EXPECT_EQ(o.sources[1].type, SourceType::kEventGrid);
  EXPECT_EQ(e.name, "kv-events");
  EXPECT_EQ(e.listen, "0.0.0.0:8443");
  EXPECT_EQ(e.url_path, "/api/eg");
  EXPECT_EQ(e.tls_cert_file, "/etc/cmkwatch/eg.pem");
  EXPECT_EQ(e.tls_key_file, "/k/eg.key");
  EXPECT_EQ(e.secret.file, "/etc/cmkwatch/eg.secret");
  EXPECT_EQ(e.secret_query_parameter, "code");
  EXPECT_EQ(e.secret_header, "Authorization");
  EXPECT_EQ(e.max_body_bytes, size_t{2} << 20);
  EXPECT_EQ(e.max_connections, 8);
  EXPECT_EQ(e.request_timeout_ms, 5000);
  EXPECT_EQ(e.idle_timeout_ms, 1000);
  EXPECT_EQ(e.backpressure_hold_ms, 0);
  EXPECT_EQ(e.retry_after_s, 30);
  EXPECT_EQ(e.allowed_origins, std::vector<std::string>{"eventgrid.azure.net"});
  EXPECT_EQ(e.allowed_rate, "120");
  // Plain HTTP on loopback, with the defaults.
  const EventGridSourceOptions defaults;
  const EventGridSourceOptions& f = o.sources[2].eventgrid;
  EXPECT_EQ(f.name, defaults.name);
  EXPECT_EQ(f.listen, "[::1]:8080");
  EXPECT_TRUE(f.tls_cert_file.empty());
  EXPECT_EQ(f.secret.env, "EG_SECRET");
  EXPECT_EQ(f.url_path, defaults.url_path);
  EXPECT_EQ(f.secret_query_parameter, defaults.secret_query_parameter);
  EXPECT_EQ(f.max_body_bytes, defaults.max_body_bytes);
  EXPECT_EQ(f.backpressure_hold_ms, defaults.backpressure_hold_ms);
}

TEST_F(CollectorConfigTest, EventGridSourceProblemsNameTheirLines) {
  const std::string e = ErrorOf(
      "id: kv-1\n"
      "spool: s\n"
      "sources:\n"
      "  - type: eventgrid\n"                       // 4: no secret
      "    listen: 10.0.0.4:8443\n"                 // 5: plain HTTP off loopback
      "    format: eventgrid\n"                     // 6: a files-only key
      "  - type: eventgrid\n"                       // 7: same default name
      "    listen: 127.0.0.1:1\n"
      "    secret_env: X\n"
      "    secret_file: y\n"                        // 10: both
      "    allowed_rate: fast\n"                    // 11
      "    secret_query_parameter: \"\"\n"        // (with the header off too)
      "  - { type: kinesis, path: /x }\n");         // 13: unknown type
  EXPECT_NE(e.find("c.yaml:5:13: 'listen': plain HTTP is served only on loopback; 10.0.0.4:8443 is not"),
            std::string::npos) << e;
  EXPECT_NE(e.find("c.yaml:4:5: 'secret_env' or 'secret_file' is required"), std::string::npos) << e;
  EXPECT_NE(e.find("c.yaml:6:5: unknown key 'format'"), std::string::npos) << e;
  EXPECT_NE(e.find("c.yaml:10:18: 'secret_env' and 'secret_file': give one of them, not both"), std::string::npos) << e;
  EXPECT_NE(e.find("c.yaml:11:19: 'allowed_rate': expected \"*\" or requests per minute"), std::string::npos) << e;
  EXPECT_NE(e.find("the secret must be accepted somewhere"), std::string::npos) << e;
  EXPECT_NE(e.find("a second eventgrid source named 'eventgrid'"), std::string::npos) << e;
  EXPECT_NE(e.find("c.yaml:13:13: 'type': expected one of: files, eventgrid, kafka"), std::string::npos) << e;
}

}  // namespace
}  // namespace cmkwatch::collector
