// The `alerts:` section of the analyzer's file, read the way the daemon
// reads it (the analyzer's parser with the alerts component's section).
#include "cmkwatch/alerts/config.h"

#include <gtest/gtest.h>

#include <optional>

#include "cmkwatch/analyzer/config.h"

namespace cmkwatch::alerts {
namespace {

struct Parsed {
  bool ok = false;
  std::string error;
  std::optional<AlertsConfig> alerts;
};

Parsed Parse(const std::string& text) {
  Parsed p;
  std::optional<AlertsConfig> cfg;
  auto r = analyzer::ParseAnalyzerConfig("db: /var/lib/cmkwatch/t.db\n" + text, "/etc/cmkwatch/analyzer.yaml",
                                         AlertsSectionReader(&cfg));
  p.ok = r.ok();
  if (!r.ok()) p.error = r.status().message();
  p.alerts = std::move(cfg);
  return p;
}

TEST(AlertsConfigTest, TheShippedSampleHasTheConsoleAndFileSinks) {
  std::optional<AlertsConfig> cfg;
  auto r = analyzer::LoadAnalyzerConfig(CMKWATCH_SOURCE_DIR "/deploy/config/analyzer.yaml", AlertsSectionReader(&cfg));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(cfg);
  ASSERT_EQ(cfg->sinks.size(), 2u);
  EXPECT_EQ(cfg->sinks[0].type, "console");
  EXPECT_EQ(cfg->sinks[1].type, "file");
  EXPECT_EQ(cfg->sinks[1].path, "/var/lib/cmkwatch/alerts.jsonl");
  EXPECT_EQ(cfg->retry.initial_ns, int64_t{2'000'000'000});
  EXPECT_EQ(cfg->retry.max_ns, int64_t{600'000'000'000});
}

TEST(AlertsConfigTest, WithoutTheSectionAlertsGoToTheConsoleAndAFileBesideTheDatabase) {
  const AlertsConfig d = DefaultAlertsConfig("/srv/cmkwatch/timeline.db");
  ASSERT_EQ(d.sinks.size(), 2u);
  EXPECT_EQ(d.sinks[0].type, "console");
  EXPECT_EQ(d.sinks[1].path, "/srv/cmkwatch/alerts.jsonl");
  EXPECT_TRUE(d.sinks[1].route.send_updates);
}

TEST(AlertsConfigTest, EverySinkTypeReadsItsKeys) {
  Parsed p = Parse(R"(alerts:
  retry: { initial: 1s, max: 5m, give_up_after: 1d }
  sinks:
    - { name: s, type: slack, url_file: slack.url, min_severity: high, rules: [CMK001, CMK003] }
    - { name: t, type: teams, url_env: TEAMS_URL, send_resolved: false }
    - { name: p, type: pagerduty, routing_key_env: PD_KEY, exclude_rules: [CMK016] }
    - name: w
      type: webhook
      url_file: /etc/w.url
      secret_file: w.secret
      headers: { X-Source: cmkwatch }
      client_cert: c.pem
      client_key: c.key
      timeout: 30s
    - name: m
      type: email
      smtp_url: smtps://smtp.contoso.com:465
      username: u
      password_env: SMTP_PASSWORD
      from: "cmkwatch <c@contoso.com>"
      to: [a@contoso.com, b@contoso.com]
      digest_window: 2m
      templates: { title: "{{severity}}: {{title}}" }
    - { name: y, type: syslog, address: "siem.contoso.com:6514", facility: 4 }
)");
  ASSERT_TRUE(p.ok) << p.error;
  const AlertsConfig& c = *p.alerts;
  EXPECT_EQ(c.retry.give_up_after_ns, int64_t{86'400} * 1'000'000'000);
  ASSERT_EQ(c.sinks.size(), 6u);
  EXPECT_EQ(c.sinks[0].url_secret.file, "/etc/cmkwatch/slack.url");
  EXPECT_EQ(c.sinks[0].route.min_severity, Severity::kHigh);
  EXPECT_EQ(c.sinks[0].route.rules, (std::vector<std::string>{"CMK001", "CMK003"}));
  EXPECT_FALSE(c.sinks[0].route.send_updates) << "chat takes openings and resolutions only, by default";
  EXPECT_FALSE(c.sinks[1].route.send_resolved);
  EXPECT_EQ(c.sinks[2].url, "https://events.pagerduty.com/v2/enqueue");
  EXPECT_EQ(c.sinks[2].routing_key.env, "PD_KEY");
  EXPECT_TRUE(c.sinks[3].route.send_updates);
  EXPECT_EQ(c.sinks[3].hmac_secret.file, "/etc/cmkwatch/w.secret");
  EXPECT_EQ(c.sinks[3].headers, (std::vector<std::pair<std::string, std::string>>{{"X-Source", "cmkwatch"}}));
  EXPECT_EQ(c.sinks[3].timeout_ns, int64_t{30'000'000'000});
  EXPECT_EQ(c.sinks[4].to.size(), 2u);
  EXPECT_EQ(c.sinks[4].digest_window_ns, int64_t{120'000'000'000});
  EXPECT_EQ(c.sinks[4].title_template, "{{severity}}: {{title}}");
  EXPECT_EQ(c.sinks[5].facility, 4);
}

TEST(AlertsConfigTest, MistakesAreReportedTogetherWithTheirLines) {
  Parsed p = Parse(R"(alerts:
  sinks:
    - { name: a, type: slack, url: "https://hooks.slack.com/services/T/B/X" }
    - { name: a, type: webhook, url_env: A, url_file: a.url }
    - { name: m, type: email, smtp_url: "http://x", from: c@x, to: [] }
    - { name: y, type: syslog, address: nowhere, path: /tmp/x }
    - { name: z, type: carrier-pigeon }
)");
  ASSERT_FALSE(p.ok);
  const std::string& e = p.error;
  EXPECT_NE(e.find(":4:"), std::string::npos) << e;
  EXPECT_NE(e.find("'url'"), std::string::npos) << "a Slack URL is a secret, not an inline value: " << e;
  EXPECT_NE(e.find("'url_env' or 'url_file' is required"), std::string::npos) << e;
  EXPECT_NE(e.find("a second sink named 'a'"), std::string::npos) << e;
  EXPECT_NE(e.find("not both"), std::string::npos) << e;
  EXPECT_NE(e.find("'smtp_url'"), std::string::npos) << e;
  EXPECT_NE(e.find("'to': at least one address"), std::string::npos) << e;
  EXPECT_NE(e.find("'address'"), std::string::npos) << e;
  EXPECT_NE(e.find("'path'"), std::string::npos) << "a key of another sink type is unknown here: " << e;
  EXPECT_NE(e.find("carrier-pigeon"), std::string::npos) << e;
  EXPECT_EQ(e.find("hooks.slack.com/services/T/B/X\""), std::string::npos) << "no echo of the inline URL in full";
}

TEST(AlertsConfigTest, RoutesTakeWhatTheirSettingsSay) {
  Route r;
  r.min_severity = Severity::kHigh;
  r.exclude_rules = {"CMK016"};
  Message m;
  m.alert.rule = "CMK001";
  m.alert.severity = Severity::kCritical;
  EXPECT_TRUE(Routes(r, m));
  m.alert.severity = Severity::kMedium;
  EXPECT_FALSE(Routes(r, m));
  m.alert.severity = Severity::kHigh;
  m.alert.rule = "CMK016";
  EXPECT_FALSE(Routes(r, m));
  m.alert.rule = "CMK002";
  m.kind = AlertChange::Kind::kUpdated;
  EXPECT_FALSE(Routes(r, m));
  r.send_updates = true;
  EXPECT_TRUE(Routes(r, m));
  m.kind = AlertChange::Kind::kResolved;
  r.send_resolved = false;
  EXPECT_FALSE(Routes(r, m));
  m.kind = AlertChange::Kind::kOpened;
  m.alert.status = AlertStatus::kSuppressed;
  EXPECT_FALSE(Routes(r, m));
}

}  // namespace
}  // namespace cmkwatch::alerts
