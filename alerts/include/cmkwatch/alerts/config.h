// Alert delivery configuration: the `alerts:` section of the analyzer's
// YAML file (deploy/config/analyzer.yaml documents every key).
//
//   alerts:
//     retry: { initial: 2s, max: 10m, give_up_after: 0s }   0s = never
//     sinks:
//       - name: ID                 unique, [A-Za-z0-9._-]
//         type: console|file|slack|teams|pagerduty|webhook|email|syslog
//         min_severity: info|low|medium|high|critical      default low
//         rules: [CMKnnn, ...]     only these (default: all)
//         exclude_rules: [CMKnnn, ...]
//         send_updates: BOOL       repeats of an open alert (default: true
//                                  for console, file, webhook, syslog)
//         send_resolved: BOOL      default true
//         templates: { title: T, title_resolved: T, text: T }   format.h
//         timeout: 10s             HTTP and SMTP sinks
//         ca_file: PATH            TLS trust anchors (default: the system's)
//         # per type:
//         path: PATH                                   file
//         format: text|json                            console (default text)
//         url_env: VAR | url_file: PATH                slack, teams, webhook
//         url: URL                                     pagerduty (default
//                                                      https://events.pagerduty.com/v2/enqueue)
//         routing_key_env: VAR | routing_key_file: PATH   pagerduty
//         secret_env: VAR | secret_file: PATH          webhook (whsec_…; optional)
//         headers: { Name: value }                     webhook
//         client_cert: PATH, client_key: PATH          webhook, mutual TLS
//         smtp_url: smtp://host:587 | smtps://host:465  email (smtp:// requires STARTTLS)
//         username: NAME, password_env: VAR | password_file: PATH   email
//         from: ADDRESS, to: [ADDRESS, ...]            email
//         digest_window: 0s, digest_max: 50            email
//         address: HOST:PORT, facility: 0..23          syslog (TCP)
//
// Secrets are never inline: a webhook URL (Slack's and Teams' carry their
// credential), a routing key, an HMAC secret or a password is named by an
// environment variable or a file, read when the sink is built. Files holding
// secrets must not be readable by group or others.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cmkwatch/alerts/message.h"
#include "cmkwatch/common/config.h"
#include "cmkwatch/common/status.h"

namespace cmkwatch::alerts {

// Where a secret comes from, and reading it: common's (config.h), shared
// with the collector's Event Grid endpoint.
using config::ReadSecret;
using config::SecretSource;

struct Route {
  Severity min_severity = Severity::kLow;
  std::vector<std::string> rules;          // empty = every rule
  std::vector<std::string> exclude_rules;
  bool send_updates = false;
  bool send_resolved = true;
};
// Whether `m` goes to a sink with this route. Resolutions of alerts below
// min_severity are not sent either (their opening was not).
bool Routes(const Route& route, const Message& m);

struct SinkConfig {
  std::string name;
  std::string type;
  Route route;
  std::string title_template, title_resolved_template, text_template;  // "" = default
  int64_t timeout_ns = int64_t{10} * 1'000'000'000;
  std::string ca_file;
  // console / file
  std::string path;
  std::string format = "text";
  // HTTP
  std::string url;  // pagerduty only (not a secret)
  SecretSource url_secret;
  SecretSource routing_key;
  SecretSource hmac_secret;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string client_cert, client_key;
  // email
  std::string smtp_url;
  std::string username;
  SecretSource password;
  std::string from;
  std::vector<std::string> to;
  int64_t digest_window_ns = 0;
  size_t digest_max = 50;
  // syslog
  std::string address;
  int facility = 10;
};

struct RetryPolicy {
  int64_t initial_ns = int64_t{2} * 1'000'000'000;
  int64_t max_ns = int64_t{600} * 1'000'000'000;
  int64_t give_up_after_ns = 0;  // 0 = retry until delivered
};

struct AlertsConfig {
  RetryPolicy retry;
  std::vector<SinkConfig> sinks;
};

// What a daemon started without an `alerts:` section uses, so alerts are
// never silent: the console (stdout, one line per change) and the file
// alerts.jsonl beside the database (`db_path`'s directory), every change.
AlertsConfig DefaultAlertsConfig(const std::string& db_path);

// Reads `alerts:` under `parent` (into *out, which keeps its defaults when
// the section is absent), adding every problem to the parent's Problems.
void ReadAlertsSection(config::MapReader& parent, AlertsConfig* out);

// The reader to give analyzer::LoadAnalyzerConfig / ParseAnalyzerConfig
// (their `more`): when the file has an `alerts:` section, *out is set from
// it; without one it stays empty, and the caller picks the defaults.
// `out` must outlive the parse.
std::function<void(config::MapReader&)> AlertsSectionReader(std::optional<AlertsConfig>* out);

}  // namespace cmkwatch::alerts
