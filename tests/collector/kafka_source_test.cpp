// The Kafka source's parts that a user relies on without a cluster: which
// offsets may be committed as acks arrive, what a configuration means to
// librdkafka (and that secrets stay out of it), the configuration file's
// kafka entries, and OAuth tokens fetched from a real HTTP(S) endpoint on
// loopback — once directly, once by the source itself against a mock
// cluster in this process. End-to-end behaviour is in
// tests/pipeline/kafka_test.cpp.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "cmkwatch/collector/config.h"
#include "cmkwatch/collector/kafka_source.h"
#include "kafka_internal.h"
#include "oauth_token.h"
#include "receivers.h"
#include "test_support.h"

namespace cmkwatch::collector {
namespace {

namespace fs = std::filesystem;
using internal::OffsetTracker;
using internal::TopicPartition;
using namespace std::chrono_literals;

const TopicPartition kP0{"hub", 0}, kP1{"hub", 1};

// --- which offsets may be committed ------------------------------------------

TEST(OffsetTrackerTest, CommitsOnlyTheAcknowledgedPrefixWhateverOrderAcksArriveIn) {
  OffsetTracker t;
  t.Spooled(1, {{kP0, 10}});
  t.Spooled(2, {{kP0, 20}, {kP1, 5}});
  t.Spooled(3, {{kP0, 30}});
  t.Acknowledged(3);
  t.Acknowledged(2);
  // Batch 1 is not in the timeline yet: nothing of partition 0 may be
  // committed, though partition 1's only batch is.
  EXPECT_EQ(t.Committable(kP0), -1);
  EXPECT_EQ(t.Committable(kP1), 5);
  auto first = t.TakeCommittable();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0], std::make_pair(kP1, int64_t{5}));
  t.Acknowledged(1);
  EXPECT_EQ(t.Committable(kP0), 30);
  auto second = t.TakeCommittable();
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0], std::make_pair(kP0, int64_t{30}));
  EXPECT_TRUE(t.TakeCommittable().empty()) << "nothing new: nothing requested twice";
  EXPECT_EQ(t.waiting_batches(), 0u);
  EXPECT_EQ(t.entries(kP0), 0u);
}

TEST(OffsetTrackerTest, MessagesWithNothingToSendCommitOnlyBehindEverythingBeforeThem) {
  OffsetTracker t;
  t.Settled(kP0, 3);  // alone: committable at once
  EXPECT_EQ(t.Committable(kP0), 3);
  t.Spooled(7, {{kP0, 8}});
  t.Settled(kP0, 9);  // behind an unacknowledged batch: waits for it
  EXPECT_EQ(t.Committable(kP0), 3);
  t.Acknowledged(7);
  EXPECT_EQ(t.Committable(kP0), 9);
}

TEST(OffsetTrackerTest, AFailedCommitIsRequestedAgainAndAConfirmedOneIsKept) {
  OffsetTracker t;
  t.Spooled(1, {{kP0, 10}});
  t.Acknowledged(1);
  ASSERT_EQ(t.TakeCommittable().size(), 1u);
  EXPECT_TRUE(t.TakeCommittable().empty());
  t.CommitFailed(kP0, 10);
  auto again = t.TakeCommittable();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].second, 10);
  t.CommitSucceeded(kP0, 10);
  EXPECT_EQ(t.Confirmed(kP0), 10);
  t.CommitFailed(kP0, 4);  // a stale failure changes nothing
  EXPECT_TRUE(t.TakeCommittable().empty());
}

// A commit request that fails as a whole names no offsets: every partition
// still unconfirmed is requested again, or the last commit of a partition
// that receives nothing more would never be made.
TEST(OffsetTrackerTest, AWholeRequestFailureRequestsEveryUnconfirmedOffsetAgain) {
  OffsetTracker t;
  t.Spooled(1, {{kP0, 10}, {kP1, 4}});
  t.Acknowledged(1);
  ASSERT_EQ(t.TakeCommittable().size(), 2u);
  t.CommitSucceeded(kP1, 4);
  EXPECT_TRUE(t.TakeCommittable().empty()) << "both requested";
  t.RetryUnconfirmed();
  auto again = t.TakeCommittable();
  ASSERT_EQ(again.size(), 1u) << "only the unconfirmed one";
  EXPECT_EQ(again[0].first, kP0);
  EXPECT_EQ(again[0].second, 10);
}

// Kafka keeps whichever commit it processes last. A second commit of a
// partition sent while the first is unanswered (librdkafka may be retrying or
// deferring it) could be overtaken by it and leave the group behind for
// good: it waits for the answer instead.
TEST(OffsetTrackerTest, APartitionsNextCommitWaitsForTheAnswerToTheOneInFlight) {
  OffsetTracker t;
  t.Spooled(1, {{kP0, 10}, {kP1, 3}});
  t.Acknowledged(1);
  ASSERT_EQ(t.TakeCommittable().size(), 2u);
  EXPECT_TRUE(t.any_in_flight());
  t.Spooled(2, {{kP0, 20}});
  t.Acknowledged(2);
  EXPECT_EQ(t.Committable(kP0), 20);
  EXPECT_TRUE(t.TakeCommittable().empty()) << "offset 10 is still in flight";
  t.CommitSucceeded(kP0, 4);  // an answer to nothing in flight
  EXPECT_TRUE(t.TakeCommittable().empty());
  t.CommitSucceeded(kP0, 10);
  auto next = t.TakeCommittable();
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0], std::make_pair(kP0, int64_t{20}));
  // A revocation commits the newest offset at once, in flight or not.
  t.Spooled(3, {{kP0, 30}});
  t.Acknowledged(3);
  EXPECT_EQ(t.TakeCommittable(kP0), std::optional<int64_t>(30));
  EXPECT_EQ(t.TakeCommittable(kP0), std::nullopt) << "30 is in flight";
  t.CommitSucceeded(kP1, 3);
  t.CommitSucceeded(kP0, 30);
  EXPECT_FALSE(t.any_in_flight());
  EXPECT_EQ(t.Confirmed(kP0), 30);
}

TEST(OffsetTrackerTest, ARevokedPartitionIsForgottenAndStartsAfreshWhenRegained) {
  OffsetTracker t;
  t.Spooled(1, {{kP0, 10}, {kP1, 4}});
  t.Forget(kP0);
  t.Acknowledged(1);
  EXPECT_EQ(t.Committable(kP0), -1) << "not this member's to commit any more";
  EXPECT_EQ(t.Committable(kP1), 4);
  t.Spooled(2, {{kP0, 12}});
  t.Acknowledged(2);
  EXPECT_EQ(t.Committable(kP0), 12);
  t.Acknowledged(99);  // another source's batch
  EXPECT_EQ(t.Committable(kP0), 12);
}

// --- what a configuration means to librdkafka ----------------------------------

class KafkaConfigTest : public ::testing::Test {
 protected:
  fs::path Secret(const std::string& name, const std::string& value, fs::perms perms = fs::perms::owner_read |
                                                                                          fs::perms::owner_write) {
    const fs::path p = dir_ / name;
    std::ofstream(p) << value << "\n";
    fs::permissions(p, perms);
    return p;
  }
  static std::map<std::string, internal::KafkaProperty> ByName(const std::vector<internal::KafkaProperty>& props) {
    std::map<std::string, internal::KafkaProperty> out;
    for (const auto& p : props) out[p.name] = p;
    return out;
  }
  test::TestDir test_dir_{"kafkaconf"};
  const fs::path dir_ = test_dir_.path();
};

constexpr const char* kConnectionString =
    "Endpoint=sb://contoso-logs.servicebus.windows.net/;SharedAccessKeyName=cmkwatch-listen;"
    "SharedAccessKey=bm90LWEtcmVhbC1rZXktYnV0LWEtc2VjcmV0LWFsbC10aGUtc2FtZQ==";

TEST_F(KafkaConfigTest, AConnectionStringBecomesEventHubsSaslPlainAndIsMarkedSecret) {
  KafkaSourceOptions o;
  o.name = "hub";
  o.bootstrap_servers = {"contoso-logs.servicebus.windows.net:9093"};
  o.topics = {"insights-logs-auditevent"};
  o.security = KafkaSecurity::kConnectionString;
  o.connection_string.file = Secret("cs", kConnectionString).string();
  o.properties = {{"session.timeout.ms", "30000"}};
  auto props = internal::KafkaProperties(o);
  ASSERT_TRUE(props.ok()) << props.status().ToString();
  auto p = ByName(*props);
  EXPECT_EQ(p["bootstrap.servers"].value, "contoso-logs.servicebus.windows.net:9093");
  EXPECT_EQ(p["security.protocol"].value, "sasl_ssl");
  EXPECT_EQ(p["sasl.mechanism"].value, "PLAIN");
  EXPECT_EQ(p["sasl.username"].value, "$ConnectionString");
  EXPECT_EQ(p["sasl.password"].value, kConnectionString);
  EXPECT_TRUE(p["sasl.password"].secret);
  EXPECT_EQ(p["enable.auto.commit"].value, "false") << "offsets wait for the analyzer, never for a timer";
  EXPECT_EQ(p["auto.offset.reset"].value, "earliest");
  EXPECT_EQ(p["session.timeout.ms"].value, "30000");
  for (const auto& [name, prop] : p) {
    if (name != "sasl.password") {
      EXPECT_FALSE(prop.secret) << name;
    }
  }
  // librdkafka takes every one of them.
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (const auto& prop : *props) {
    EXPECT_EQ(rd_kafka_conf_set(conf, prop.name.c_str(), prop.value.c_str(), err, sizeof err), RD_KAFKA_CONF_OK)
        << prop.name << ": " << err;
  }
  rd_kafka_conf_destroy(conf);
}

TEST_F(KafkaConfigTest, SecretProblemsNameTheirSourceNeverTheValue) {
  KafkaSourceOptions o;
  o.name = "hub";
  o.bootstrap_servers = {"b:9093"};
  o.topics = {"t"};
  o.security = KafkaSecurity::kConnectionString;
  o.connection_string.file = Secret("loose", kConnectionString, fs::perms::owner_read | fs::perms::group_read).string();
  auto loose = internal::KafkaProperties(o);
  ASSERT_FALSE(loose.ok());
  EXPECT_NE(loose.status().message().find("readable by group or others"), std::string::npos);
  EXPECT_EQ(loose.status().message().find("SharedAccessKey"), std::string::npos);

  o.connection_string.file = Secret("wrong", "SharedAccessKey=abc;not-an-endpoint").string();
  auto wrong = internal::KafkaProperties(o);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("does not look like an Event Hubs"), std::string::npos);
  EXPECT_EQ(wrong.status().message().find("abc"), std::string::npos);

  o.connection_string = {.env = "CMKWATCH_TEST_UNSET_VARIABLE", .file = ""};
  auto unset = internal::KafkaProperties(o);
  ASSERT_FALSE(unset.ok());
  EXPECT_TRUE(unset.status().IsNotFound());
  EXPECT_NE(unset.status().message().find("CMKWATCH_TEST_UNSET_VARIABLE"), std::string::npos);
}

TEST_F(KafkaConfigTest, PassthroughPropertiesCannotOverrideTheSourceOrHoldSecrets) {
  for (const char* owned : {"group.id", "enable.auto.commit", "bootstrap.servers", "security.protocol",
                            "sasl.password", "sasl.oauthbearer.client.secret", "ssl.key.password",
                            "ssl.keystore.password", "ssl.key.pem", "plugin.library.paths", "Session.Timeout.Ms"}) {
    EXPECT_FALSE(KafkaPropertyProblem(owned).empty()) << owned;
  }
  for (const char* fine : {"session.timeout.ms", "partition.assignment.strategy", "fetch.max.bytes", "debug",
                           "ssl.endpoint.identification.algorithm"}) {
    EXPECT_EQ(KafkaPropertyProblem(fine), "") << fine;
  }
}

constexpr std::string_view kHead = "id: kv-1\nspool: /s.spool\nsources:\n";

std::string ErrorOf(std::string_view sources) {
  auto r = ParseCollectorConfig(std::string(kHead) + std::string(sources), "c.yaml");
  EXPECT_FALSE(r.ok());
  return r.ok() ? "" : r.status().message();
}

TEST_F(KafkaConfigTest, TheShippedEventHubsSampleLoads) {
  auto c = LoadCollectorConfig(CMKWATCH_SOURCE_DIR "/deploy/config/collector-eventhubs.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->collector.sources.size(), 2u);
  const SourceConfig& s = c->collector.sources[0];
  ASSERT_EQ(s.type, SourceType::kKafka);
  EXPECT_EQ(s.kafka.security, KafkaSecurity::kConnectionString);
  EXPECT_EQ(s.kafka.bootstrap_servers, std::vector<std::string>{"contoso-logs-weu.servicebus.windows.net:9093"});
  EXPECT_EQ(s.kafka.topics, (std::vector<std::string>{"insights-logs-auditevent", "insights-activity-logs"}));
  EXPECT_EQ(s.kafka.group_id, "cmkwatch");
  EXPECT_EQ(s.kafka.connection_string.file, "/etc/cmkwatch/eventhubs-weu.connstr");
  const SourceConfig& o = c->collector.sources[1];
  ASSERT_EQ(o.type, SourceType::kKafka);
  EXPECT_EQ(o.kafka.security, KafkaSecurity::kOAuthBearer);
  EXPECT_EQ(o.kafka.oauth.scope, "https://contoso-logs-neu.servicebus.windows.net/.default");
  EXPECT_EQ(o.kafka.oauth.client_secret.env, "CMKWATCH_EVENTHUBS_CLIENT_SECRET");
  EXPECT_NE(s.kafka.name, o.kafka.name);
}

TEST_F(KafkaConfigTest, EachSecurityModeNeedsItsOwnKeysAndNoOthers) {
  const std::string base =
      "  - type: kafka\n    bootstrap_servers: [b.servicebus.windows.net:9093]\n    topics: [hub]\n";
  EXPECT_NE(ErrorOf(base).find("missing required key 'security'"), std::string::npos) << ErrorOf(base);
  EXPECT_NE(ErrorOf(base + "    security: connection_string\n").find("needs 'connection_string_file'"),
            std::string::npos);
  EXPECT_NE(ErrorOf(base + "    security: plaintext\n    connection_string_env: EH\n")
                .find("only used with security: connection_string"),
            std::string::npos);
  EXPECT_NE(ErrorOf(base + "    security: oauthbearer\n").find("needs 'oauth'"), std::string::npos);
  EXPECT_NE(ErrorOf(base + "    security: oauthbearer\n    oauth: { token_endpoint: "
                           "\"http://login.example.com/t\", client_id: a, scope: s, client_secret_env: S }\n")
                .find("only to a loopback host"),
            std::string::npos);
  EXPECT_NE(ErrorOf(base + "    security: ssl\n    client_cert_file: /c.pem\n").find("give both or neither"),
            std::string::npos);
  EXPECT_NE(ErrorOf(base + "    security: sasl_plain\n    sasl_password_file: /p\n").find("needs 'sasl_username'"),
            std::string::npos);
  EXPECT_NE(ErrorOf(base + "    security: plaintext\n    properties: { sasl.password: x }\n")
                .find("set by the source's 'security' mode"),
            std::string::npos);
  EXPECT_NE(ErrorOf(base + "    security: plaintext\n    propertys: {}\n").find("properties"), std::string::npos)
      << "a typo names the valid keys";
}

TEST_F(KafkaConfigTest, TopicsServersAndNamesAreChecked) {
  EXPECT_NE(ErrorOf("  - { type: kafka, bootstrap_servers: [nohost], topics: [hub], security: plaintext }\n")
                .find("'nohost' is not host:port"),
            std::string::npos);
  EXPECT_NE(ErrorOf("  - { type: kafka, bootstrap_servers: [\"b:1\"], topics: [\"a b\"], security: plaintext }\n")
                .find("is not a topic name"),
            std::string::npos);
  EXPECT_NE(ErrorOf("  - { type: kafka, bootstrap_servers: [\"b:1\"], topics: [hub], security: plaintext }\n"
                    "  - { type: kafka, bootstrap_servers: [\"c:1\"], topics: [hub], security: plaintext }\n")
                .find("a second kafka source named 'kafka:hub'"),
            std::string::npos);
  EXPECT_NE(ErrorOf("  - { type: kafkaa, path: /x }\n").find("expected one of: files, eventgrid, kafka"), std::string::npos);
  auto ok = ParseCollectorConfig(std::string(kHead) +
                                     "  - { type: kafka, bootstrap_servers: [\"b:1\"], topics: [hub], security: plaintext,"
                                     " max_batch_events: 100, commit_interval_ms: 0 }\n  - /data\n",
                                 "c.yaml");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  ASSERT_EQ(ok->collector.sources.size(), 2u);
  EXPECT_EQ(ok->collector.sources[0].kafka.max_batch_events, 100u);
  EXPECT_EQ(ok->collector.sources[0].kafka.commit_interval_ms, 0);
  EXPECT_EQ(ok->collector.sources[1].type, SourceType::kPath);
}

// --- OAuth tokens -----------------------------------------------------------

TEST(OAuthTokenTest, AnswersAreReadAsRfc6749Says) {
  auto t = internal::ParseTokenAnswer(R"({"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ0eXAi.eyJhdWQi.sig"})");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->access_token, "eyJ0eXAi.eyJhdWQi.sig");
  EXPECT_EQ(t->expires_in_s, 3599);
  auto s = internal::ParseTokenAnswer(R"({"token_type":"bearer","expires_in":"3600","access_token":"a"})");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->expires_in_s, 3600);

  auto refused = internal::ParseTokenAnswer(
      "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: Invalid client secret.\\r\\nTrace ID: x\"}");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("invalid_client"), std::string::npos);
  EXPECT_EQ(refused.status().message().find('\n'), std::string::npos) << "an answer cannot forge a log line";
  EXPECT_FALSE(internal::ParseTokenAnswer(R"({"token_type":"Bearer","expires_in":3600})").ok());
  EXPECT_FALSE(internal::ParseTokenAnswer(R"({"token_type":"mac","expires_in":3600,"access_token":"a"})").ok());
  EXPECT_FALSE(internal::ParseTokenAnswer(R"({"expires_in":0,"access_token":"a"})").ok());
  EXPECT_FALSE(internal::ParseTokenAnswer(R"({"expires_in":60,"access_token":"a b"})").ok());
  EXPECT_FALSE(internal::ParseTokenAnswer("not json").ok());
  EXPECT_TRUE(internal::ParseTokenAnswer(std::string(70'000, ' ')).status().IsLimitExceeded());
}

TEST(OAuthTokenTest, TheClientSecretTravelsOnlyOverTlsOrToLoopback) {
  EXPECT_EQ(internal::TokenEndpointProblem("https://login.microsoftonline.com/tenant/oauth2/v2.0/token"), "");
  EXPECT_EQ(internal::TokenEndpointProblem("http://127.0.0.1:8080/token"), "");
  EXPECT_EQ(internal::TokenEndpointProblem("http://[::1]:8080/token"), "");
  EXPECT_NE(internal::TokenEndpointProblem("http://login.microsoftonline.com/t"), "");
  EXPECT_NE(internal::TokenEndpointProblem("http://127.0.0.1.evil.example/t"), "");
  EXPECT_NE(internal::TokenEndpointProblem("ftp://x/"), "");
}

class OAuthEndpointTest : public ::testing::Test {
 protected:
  test::TestDir test_dir_{"oauth"};
  const fs::path dir_ = test_dir_.path();
};

// A client-credentials request as Entra ID expects it, over HTTPS to a real
// server that trusts nothing but its test CA.
TEST_F(OAuthEndpointTest, ATokenIsFetchedWithAClientCredentialsGrant) {
  auto server = test::HttpReceiver::Start(dir_, {.tls = true});
  ASSERT_TRUE(server);
  server->Script({{.status = 200,
                   .headers = {{"Content-Type", "application/json"}},
                   .body = R"({"token_type":"Bearer","expires_in":3599,"access_token":"tok-123"})"},
                  {.status = 401,
                   .headers = {{"Content-Type", "application/json"}},
                   .body = R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."})"}});
  internal::TokenRequest req;
  req.endpoint = server->Url("/tenant/oauth2/v2.0/token");
  req.client_id = "6f1c0d2e-1111-4222-8333-444455556666";
  req.client_secret = "s3cr=t&value";
  req.scope = "https://contoso-logs.servicebus.windows.net/.default";
  req.ca_file = server->ca_file();
  auto token = internal::FetchToken(req);
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  EXPECT_EQ(token->access_token, "tok-123");
  auto refused = internal::FetchToken(req);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("HTTP 401"), std::string::npos) << refused.status().message();
  EXPECT_NE(refused.status().message().find("invalid_client"), std::string::npos);
  EXPECT_EQ(refused.status().message().find("s3cr"), std::string::npos);

  const auto requests = server->Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].path, "/tenant/oauth2/v2.0/token");
  EXPECT_EQ(requests[0].Header("Content-Type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(requests[0].body,
            "grant_type=client_credentials&client_id=6f1c0d2e-1111-4222-8333-444455556666"
            "&client_secret=s3cr%3Dt%26value&scope=https%3A%2F%2Fcontoso-logs.servicebus.windows.net%2F.default");

  req.ca_file.clear();  // the system's trust store does not know the test CA
  EXPECT_FALSE(internal::FetchToken(req).ok());
}

// A sink for a source that must never deliver (nothing is produced).
class NoBatches final : public SequencedSink {
 public:
  Result<uint64_t> OnSequencedBatch(std::vector<Event>&&, std::vector<QuarantineEntry>&&) override {
    ADD_FAILURE() << "no batch expected";
    return Status::Internal("unexpected");
  }
};

// The source with security oauthbearer asks the token endpoint for a token
// by itself (librdkafka's refresh callback) before it talks SASL to the
// brokers: here a mock cluster in this process.
TEST_F(OAuthEndpointTest, TheSourceFetchesItsOwnTokensForOauthbearer) {
  auto server = test::HttpReceiver::Start(dir_);
  ASSERT_TRUE(server);
  server->Script({{.status = 200, .body = R"({"token_type":"Bearer","expires_in":3599,"access_token":"tok"})"}});
  char err[256];
  rd_kafka_conf_t* quiet = rd_kafka_conf_new();
  // The mock cluster complains (rightly) of the TLS bytes it gets: not news.
  rd_kafka_conf_set(quiet, "log_level", "0", err, sizeof err);
  rd_kafka_t* owner = rd_kafka_new(RD_KAFKA_PRODUCER, quiet, err, sizeof err);
  ASSERT_NE(owner, nullptr) << err;
  rd_kafka_mock_cluster_t* mock = rd_kafka_mock_cluster_new(owner, 1);
  ASSERT_NE(mock, nullptr);
  {
    const fs::path secret = dir_ / "client.secret";
    std::ofstream(secret) << "the-client-secret\n";
    fs::permissions(secret, fs::perms::owner_read | fs::perms::owner_write);
    KafkaSourceOptions o;
    o.bootstrap_servers = {rd_kafka_mock_cluster_bootstraps(mock)};
    o.topics = {"hub"};
    o.security = KafkaSecurity::kOAuthBearer;
    o.oauth = {.token_endpoint = server->Url("/tenant/oauth2/v2.0/token"),
               .client_id = "app-id",
               .scope = "https://ns.servicebus.windows.net/.default",
               .client_secret = {.env = "", .file = secret.string()}};
    NoBatches sink;
    log::Logger logger(log::Format::kKeyValue, log::Level::kError, ::open("/dev/null", O_WRONLY | O_CLOEXEC));
    KafkaSource source(o, sink, logger);
    const Status setup = source.Setup();
    ASSERT_TRUE(setup.ok()) << setup.ToString();
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (server->Requests().empty() && std::chrono::steady_clock::now() < deadline) (void)source.RunOnce(100);
    const auto requests = server->Requests();
    ASSERT_FALSE(requests.empty()) << "no token request";
    EXPECT_NE(requests[0].body.find("client_secret=the-client-secret"), std::string::npos);
    EXPECT_NE(requests[0].body.find("client_id=app-id"), std::string::npos);
  }
  rd_kafka_mock_cluster_destroy(mock);
  rd_kafka_destroy(owner);
}

}  // namespace
}  // namespace cmkwatch::collector
