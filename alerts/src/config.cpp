// The `alerts:` section (schema in config.h).
#include "cmkwatch/alerts/config.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>

#include "cmkwatch/alerts/sink.h"

namespace cmkwatch::alerts {
namespace {

using config::MapReader;
using config::Need;
using config::Node;
using config::ReadSecretSource;

constexpr int64_t kSecond = 1'000'000'000;

void ReadRules(MapReader& r, std::string_view key, std::vector<std::string>* out) {
  if (!r.StringList(key, out)) return;
  for (const std::string& rule : *out) {
    const bool ok = rule.size() >= 4 && rule.size() <= 16 &&
                    std::all_of(rule.begin(), rule.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)); });
    if (!ok) r.Problem(*r.Value(key), "'" + std::string(key) + "': '" + rule + "' is not a rule id (e.g. CMK003)");
  }
}

SinkConfig ReadSink(const Node& item, config::Problems& problems, std::set<std::string>& names) {
  SinkConfig s;
  MapReader r(item, problems, "sink");
  r.String("name", &s.name, Need::kRequired);
  if (const Node* n = r.Value("name"); n != nullptr && n->IsScalar()) {
    if (!config::IsValidId(s.name)) {
      r.Problem(*n, "'name': expected 1..128 of [A-Za-z0-9._-], got " + MapReader::Shown(*n));
    } else if (!names.insert(s.name).second) {
      r.Problem(*n, "'name': a second sink named '" + s.name + "'");
    }
  }
  const std::vector<std::string> types = SinkTypes();
  std::string choices;
  for (const std::string& t : types) choices += (choices.empty() ? "" : ", ") + t;
  r.Enum(
      "type", &s.type,
      [&](std::string_view v) -> std::optional<std::string> {
        if (std::find(types.begin(), types.end(), v) == types.end()) return std::nullopt;
        return std::string(v);
      },
      choices, Need::kRequired);

  // Chat, paging and mail want an alert once and its resolution; the
  // machine-facing sinks want every change.
  s.route.send_updates = s.type == "console" || s.type == "file" || s.type == "webhook" || s.type == "syslog";
  r.Enum("min_severity", &s.route.min_severity, analyzer::ParseSeverity, "info, low, medium, high, critical");
  ReadRules(r, "rules", &s.route.rules);
  ReadRules(r, "exclude_rules", &s.route.exclude_rules);
  r.Bool("send_updates", &s.route.send_updates);
  r.Bool("send_resolved", &s.route.send_resolved);
  if (const Node* t = r.Mapping("templates")) {
    MapReader tr(*t, problems, "templates");
    tr.String("title", &s.title_template);
    tr.String("title_resolved", &s.title_resolved_template);
    tr.String("text", &s.text_template);
    tr.Finish();
  }
  r.Duration("timeout", &s.timeout_ns, kSecond, 300 * kSecond);
  r.Path("ca_file", &s.ca_file);

  const std::string& type = s.type;
  auto need = [&](bool used) { return used ? Need::kRequired : Need::kOptional; };
  // Keys of other types are left unread, so Finish() reports them as
  // unknown for this type instead of silently ignoring them.
  if (type == "console") {
    r.Enum(
        "format", &s.format,
        [](std::string_view v) -> std::optional<std::string> {
          if (v == "text" || v == "json") return std::string(v);
          return std::nullopt;
        },
        "text, json");
  }
  if (type == "file") r.Path("path", &s.path, Need::kRequired);
  if (type == "slack" || type == "teams" || type == "webhook") ReadSecretSource(r, "url", &s.url_secret, Need::kRequired);
  if (type == "pagerduty") {
    s.url = "https://events.pagerduty.com/v2/enqueue";
    r.String("url", &s.url);
    ReadSecretSource(r, "routing_key", &s.routing_key, Need::kRequired);
  }
  if (type == "webhook") {
    ReadSecretSource(r, "secret", &s.hmac_secret, Need::kOptional);
    if (const Node* h = r.Mapping("headers")) {
      for (const Node& header : h->children) {
        const bool name_ok = !header.key.empty() && header.key.size() <= 100 &&
                             std::all_of(header.key.begin(), header.key.end(), [](char c) {
                               return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
                             });
        const bool value_ok = header.IsScalar() && header.value.size() <= 4096 &&
                              std::none_of(header.value.begin(), header.value.end(),
                                           [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
        if (!name_ok || !value_ok) {
          problems.Add(header.key_mark, "'headers': '" + header.key + "' needs a token name and a one-line value");
          continue;
        }
        s.headers.emplace_back(header.key, header.value);
      }
    }
    const bool cert = r.Path("client_cert", &s.client_cert);
    const bool key = r.Path("client_key", &s.client_key);
    if (cert != key) r.Problem(item, "'client_cert' and 'client_key' go together (mutual TLS)");
  }
  if (type == "email") {
    r.String("smtp_url", &s.smtp_url, Need::kRequired);
    if (const Node* n = r.Value("smtp_url"); n != nullptr && n->IsScalar()) {
      if (!s.smtp_url.starts_with("smtp://") && !s.smtp_url.starts_with("smtps://")) {
        r.Problem(*n, "'smtp_url': expected smtp://host:port (STARTTLS required) or smtps://host:port, got " +
                          MapReader::Shown(*n));
      }
    }
    r.String("username", &s.username);
    ReadSecretSource(r, "password", &s.password, need(!s.username.empty()));
    r.String("from", &s.from, Need::kRequired);
    r.StringList("to", &s.to, Need::kRequired);
    if (const Node* n = r.Value("to"); n != nullptr && n->IsSequence() && n->children.empty()) {
      r.Problem(*n, "'to': at least one address");
    }
    for (const std::string& a : s.to) {
      if (a.find('@') == std::string::npos || a.find_first_of("<>\r\n ,") != std::string::npos) {
        r.Problem(*r.Value("to"), "'to': '" + a + "' is not a bare address (user@host)");
      }
    }
    r.Duration("digest_window", &s.digest_window_ns, 0, 3600 * kSecond);
    r.Integer("digest_max", &s.digest_max, 1, 1000);
  }
  if (type == "syslog") {
    r.String("address", &s.address, Need::kRequired);
    if (const Node* n = r.Value("address"); n != nullptr && n->IsScalar()) {
      if (!config::EndpointProblem("tcp://" + s.address).empty() || s.address.back() == '*') {
        r.Problem(*n, "'address': expected host:port of a syslog TCP listener, got " + MapReader::Shown(*n));
      }
    }
    r.Integer("facility", &s.facility, 0, 23);
  }
  r.Finish();
  return s;
}

}  // namespace

bool Routes(const Route& route, const Message& m) {
  const Alert& a = m.alert;
  // Self-alerts about one sink's failures are for the others: the rule id
  // is CMKW001 and the subject names the failing sink (checked by the
  // dispatcher, which knows the sink's name).
  if (a.severity < route.min_severity) return false;
  if (!route.rules.empty() && std::find(route.rules.begin(), route.rules.end(), a.rule) == route.rules.end()) {
    return false;
  }
  if (std::find(route.exclude_rules.begin(), route.exclude_rules.end(), a.rule) != route.exclude_rules.end()) {
    return false;
  }
  if (m.kind == AlertChange::Kind::kUpdated && !route.send_updates) return false;
  if (m.kind == AlertChange::Kind::kResolved && !route.send_resolved) return false;
  // A suppressed alert was judged not worth a page; its changes stay in the
  // database and `cmkwatch alerts`, not in anyone's chat.
  if (a.status == AlertStatus::kSuppressed) return false;
  return true;
}

AlertsConfig DefaultAlertsConfig(const std::string& db_path) {
  AlertsConfig c;
  SinkConfig console;
  console.name = "console";
  console.type = "console";
  console.route.send_updates = true;
  c.sinks.push_back(console);
  SinkConfig file = console;
  file.name = "file";
  file.type = "file";
  file.path = (std::filesystem::path(db_path).parent_path() / "alerts.jsonl").string();
  c.sinks.push_back(std::move(file));
  return c;
}

std::function<void(MapReader&)> AlertsSectionReader(std::optional<AlertsConfig>* out) {
  return [out](MapReader& top) {
    if (top.node().Find("alerts") == nullptr) return;
    out->emplace();
    ReadAlertsSection(top, &**out);
  };
}

void ReadAlertsSection(MapReader& parent, AlertsConfig* out) {
  const Node* section = parent.Mapping("alerts");
  if (section == nullptr) return;
  MapReader r(*section, parent.problems(), "alerts");
  if (const Node* retry = r.Mapping("retry")) {
    MapReader rr(*retry, parent.problems(), "retry");
    rr.Duration("initial", &out->retry.initial_ns, kSecond, 3600 * kSecond);
    rr.Duration("max", &out->retry.max_ns, kSecond, 24 * 3600 * kSecond);
    rr.Duration("give_up_after", &out->retry.give_up_after_ns, 0, 30 * 24 * 3600 * kSecond);
    rr.Finish();
    if (out->retry.max_ns < out->retry.initial_ns) rr.Problem(*retry, "'max' is shorter than 'initial'");
  }
  if (const Node* sinks = r.Sequence("sinks")) {
    std::set<std::string> names;
    std::vector<SinkConfig> read;
    for (const Node& item : sinks->children) read.push_back(ReadSink(item, parent.problems(), names));
    out->sinks = std::move(read);
  } else if (r.Value("sinks") != nullptr) {
    out->sinks.clear();  // `sinks:` with nothing: alerts only in the database
  }
  r.Finish();
}

}  // namespace cmkwatch::alerts
