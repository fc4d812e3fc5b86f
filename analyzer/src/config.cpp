// The analyzer's YAML configuration (schema in the header).
#include "cmkwatch/analyzer/config.h"

#include <cctype>
#include <map>

#include "cmkwatch/analyzer/rules.h"
#include "cmkwatch/common/config.h"
#include "cmkwatch/common/resource_id.h"
#include "cmkwatch/common/time.h"

namespace cmkwatch::analyzer {
namespace {

using config::MapReader;
using config::Need;
using config::Node;

constexpr int64_t kMaxMillis = 3'600'000;  // one hour: longer intervals are a mistake, not a setting

void CheckEndpoint(MapReader& r, std::string_view key) {
  if (const Node* n = r.Value(key); n != nullptr && n->IsScalar()) {
    if (std::string why = config::EndpointProblem(n->value); !why.empty()) {
      r.Problem(*n, "'" + std::string(key) + "': " + why + ", got " + MapReader::Shown(*n));
    }
  }
}

// "host:port" with a port 0..65535; the analyzer decides what host may be.
void CheckHttp(MapReader& r, const std::string& http) {
  if (http.empty()) return;
  const Node* n = r.Value("http");
  if (config::EndpointProblem("tcp://" + http).empty() && http.back() != '*') return;
  r.Problem(*n, "'http': expected host:port (e.g. 127.0.0.1:9464) or \"\" to disable, got " + MapReader::Shown(*n));
}

void ReadTimeline(MapReader& top, TimelineOptions* t) {
  const Node* section = top.Mapping("timeline");
  if (section == nullptr) return;
  MapReader r(*section, top.problems(), "timeline");
  r.Bool("compress", &t->compress);
  r.Integer("compression_level", &t->compression_level, 1, 9);
  r.Integer("busy_timeout_ms", &t->busy_timeout_ms, 0, kMaxMillis);
  r.Size("max_event_bytes", &t->max_event_bytes, int64_t{64} << 10, int64_t{256} << 20);
  r.Bool("helper_thread", &t->helper_thread);
  r.Finish();
}

void ReadCurve(MapReader& top, transport::LinkOptions* link) {
  const Node* section = top.Mapping("curve");
  if (section == nullptr) return;
  MapReader r(*section, top.problems(), "curve");
  transport::ServerCurve curve;
  std::string path;
  bool ok = config::ReadKeyFileEntry(r, "public_key_file", false, &path, &curve.server.public_key);
  ok = config::ReadKeyFileEntry(r, "secret_key_file", true, &path, &curve.server.secret_key) && ok;

  struct Seen {
    size_t line;
    std::string id;
  };
  std::map<std::string, Seen> ids;   // id → where
  std::map<std::string, Seen> keys;  // key → where and whose
  const Node* clients = r.Sequence("clients", Need::kRequired);
  if (clients != nullptr && clients->children.empty()) {
    r.Problem(*clients, "'clients': at least one collector must be allowed (an empty allowlist admits none)");
    ok = false;
  }
  if (clients == nullptr) ok = false;
  static const std::vector<Node> kNone;
  for (const Node& item : clients != nullptr ? clients->children : kNone) {
    MapReader c(item, top.problems(), "a client");
    std::string id;
    std::string key;
    bool item_ok = c.String("id", &id, Need::kRequired);
    if (item_ok && !config::IsValidId(id)) {
      c.Problem(*c.Value("id"), "'id': a collector id is 1 to 128 of A-Z a-z 0-9 . _ -, got " +
                                    MapReader::Shown(*c.Value("id")));
      item_ok = false;
    }
    item_ok = config::ReadKeyFileEntry(c, "public_key_file", false, &path, &key) && item_ok;
    c.Finish();
    if (!item_ok) {
      ok = false;
      continue;
    }
    if (auto it = ids.find(id); it != ids.end()) {
      c.Problem(*c.Value("id"), "'id': client '" + id + "' is listed twice (first at line " +
                                    std::to_string(it->second.line) + ")");
      ok = false;
      continue;
    }
    ids.emplace(id, Seen{item.mark.line, id});
    if (auto it = keys.find(key); it != keys.end()) {
      // Name the other client and its line, never the key itself.
      c.Problem(*c.Value("public_key_file"), "'public_key_file': " + path + " holds the same key as client '" +
                                                 it->second.id + "' (line " + std::to_string(it->second.line) +
                                                 "): each collector needs its own key");
      ok = false;
      continue;
    }
    keys.emplace(key, Seen{item.mark.line, id});
    curve.allowed_clients.emplace(std::move(key), std::move(id));
  }
  r.Finish();
  if (ok) link->server_curve = std::move(curve);
}

bool KnownRule(std::string_view id) {
  for (const RuleInfo& r : RuleCatalogue()) {
    if (r.id == id) return true;
  }
  return false;
}

void ReadRules(MapReader& top, RulesConfig* rules) {
  const Node* section = top.Mapping("rules");
  if (section == nullptr) return;
  MapReader r(*section, top.problems(), "rules");
  if (const Node* n = r.Value("silence_window"); n != nullptr) {
    auto d = n->IsScalar() ? config::ParseDuration(n->value) : std::nullopt;
    constexpr int64_t kMinute = int64_t{60} * 1'000'000'000;
    if (!d || *d < 5 * kMinute || *d > 30 * 24 * 60 * kMinute) {
      r.Problem(*n, "'silence_window': expected a duration from 5m to 30d (e.g. 6h), got " + MapReader::Shown(*n));
    } else {
      rules->silence_window_ns = *d;
    }
  }
  if (const Node* settings = r.Mapping("settings")) {
    for (const Node& item : settings->children) {
      if (!KnownRule(item.key)) {
        top.problems().Add(item.key_mark, "'" + item.key + "': no such rule (CMK001 .. CMK019)");
        continue;
      }
      MapReader s(item, top.problems(), item.key);
      RuleSetting setting;
      s.Bool("enabled", &setting.enabled);
      Severity severity{};
      if (s.Enum("severity", &severity, ParseSeverity, "info, low, medium, high, critical")) {
        setting.severity = severity;
      }
      s.Finish();
      rules->rules[item.key] = setting;
    }
  }
  if (const Node* list = r.Sequence("suppressions")) {
    for (const Node& item : list->children) {
      MapReader s(item, top.problems(), "a suppression");
      Suppression sup;
      bool ok = s.String("rule", &sup.rule, config::Need::kRequired);
      if (ok && sup.rule != "*" && !KnownRule(sup.rule)) {
        s.Problem(*s.Value("rule"), "'rule': no such rule (CMK001 .. CMK019, or \"*\"), got " +
                                        MapReader::Shown(*s.Value("rule")));
        ok = false;
      }
      ok = s.String("resources", &sup.resource_pattern, config::Need::kRequired) && ok;
      // A suppression without a reason or an end is how alerts get lost:
      // both are required.
      ok = s.String("reason", &sup.reason, config::Need::kRequired) && ok;
      std::string expires;
      if (s.String("expires", &expires, config::Need::kRequired)) {
        std::string stamp = expires.size() == 10 ? expires + "T00:00:00Z" : expires;
        if (auto t = ParseTimestamp(stamp)) {
          sup.expires = *t;
        } else {
          s.Problem(*s.Value("expires"), "'expires': expected a date (2027-03-31) or an RFC 3339 time, got " +
                                             MapReader::Shown(*s.Value("expires")));
          ok = false;
        }
      } else {
        ok = false;
      }
      if (ok && sup.reason.empty()) {
        s.Problem(*s.Value("reason"), "'reason': say why these alerts are suppressed");
        ok = false;
      }
      // Resource ids are canonical (lower case); so are the patterns.
      sup.resource_pattern = AsciiLower(sup.resource_pattern);
      s.Finish();
      if (ok) rules->suppressions.push_back(std::move(sup));
    }
  }
  r.Finish();
}

}  // namespace

Result<AnalyzerConfig> ParseAnalyzerConfig(std::string_view text, std::string_view file_name, const SectionReader& more) {
  auto doc = config::ParseYaml(text, file_name);
  if (!doc.ok()) return doc.status();
  config::Problems problems{std::string(file_name)};
  AnalyzerConfig out;
  AnalyzerOptions& a = out.analyzer;
  MapReader top(*doc, problems, "the analyzer configuration");
  top.Path("db", &a.db_path, Need::kRequired);
  if (top.String("bind", &a.bind)) CheckEndpoint(top, "bind");
  if (top.String("http", &a.http)) CheckHttp(top, a.http);
  top.Bool("http_allow_non_loopback", &a.http_allow_non_loopback);
  top.Integer("retention_days", &a.retention_days, 0, 36'500);
  top.Integer("retention_interval_s", &a.retention_interval_s, 1, 7 * 86'400);
  ReadTimeline(top, &a.timeline);
  config::ReadLinkSection(top, &a.link, true);
  ReadCurve(top, &a.link);
  config::ReadLogSection(top, &out.log_level, &out.log_format);
  ReadRules(top, &a.rules);
  if (more) {
    more(top);
  } else {
    (void)top.Value("alerts");  // accepted unread: the alerts component's (config.h)
  }
  top.Finish();
  if (!problems.empty()) return problems.ToStatus();
  return out;
}

Result<AnalyzerConfig> LoadAnalyzerConfig(const std::string& path, const SectionReader& more) {
  auto text = config::ReadConfigFile(path);
  if (!text.ok()) return text.status();
  return ParseAnalyzerConfig(*text, path, more);
}

}  // namespace cmkwatch::analyzer
