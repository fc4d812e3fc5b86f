// The collector's YAML configuration (schema in the header).
#include "cmkwatch/collector/config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <map>
#include <optional>

#include "cmkwatch/common/config.h"
#include "cmkwatch/common/net.h"

namespace cmkwatch::collector {
namespace {

using config::MapReader;
using config::Need;
using config::Node;

constexpr int64_t kMaxMillis = 3'600'000;  // one hour: longer intervals are a mistake, not a setting
constexpr size_t kMaxSources = 1024;

std::optional<SourceType> SourceTypeFromName(std::string_view name) {
  if (name == "files") return SourceType::kPath;
  if (name == "eventgrid") return SourceType::kEventGrid;
  return std::nullopt;
}

bool IsToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

// "host:port" as a listen address; "" when fine, else what is wrong. No DNS
// lookup here: a host name is resolved when the source starts.
std::string ListenProblem(std::string_view listen) {
  if (!config::EndpointProblem("tcp://" + std::string(listen)).empty() || listen.empty() || listen.back() == '*') {
    return "expected host:port (e.g. 0.0.0.0:8443 or [::]:8443)";
  }
  return "";
}

// Whether a listen address is a literal (or "localhost") that is not
// loopback; host names are judged at start-up.
bool LiteralNonLoopback(const std::string& listen) {
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned char buf[16];
  if (host != "localhost" && inet_pton(AF_INET, host.c_str(), buf) != 1 && inet_pton(AF_INET6, host.c_str(), buf) != 1) {
    return false;
  }
  auto resolved = net::ResolveListenAddress(listen);
  return resolved.ok() && !net::IsLoopback(*resolved);
}

void ReadEventGridSource(MapReader& r, EventGridSourceOptions* e) {
  const std::string what = "'type: eventgrid' source";
  if (r.String("name", &e->name) && !config::IsValidId(e->name)) {
    r.Problem(*r.Value("name"), "'name': expected 1..128 of [A-Za-z0-9._-], got " + MapReader::Shown(*r.Value("name")));
  }
  if (r.String("listen", &e->listen, Need::kRequired)) {
    if (std::string why = ListenProblem(e->listen); !why.empty()) {
      r.Problem(*r.Value("listen"), "'listen': " + why + ", got " + MapReader::Shown(*r.Value("listen")));
    }
  }
  if (r.String("url_path", &e->url_path) &&
      (e->url_path.empty() || e->url_path.front() != '/' || e->url_path.find_first_of("?# ") != std::string::npos)) {
    r.Problem(*r.Value("url_path"), "'url_path': expected a path starting with '/' (no query), got " +
                                        MapReader::Shown(*r.Value("url_path")));
  }
  if (const Node* tls = r.Mapping("tls")) {
    MapReader t(*tls, r.problems(), "tls");
    t.Path("cert_file", &e->tls_cert_file, Need::kRequired);
    t.Path("key_file", &e->tls_key_file, Need::kRequired);
    t.Finish();
  } else if (!e->listen.empty() && ListenProblem(e->listen).empty() && LiteralNonLoopback(e->listen)) {
    r.Problem(*r.Value("listen"), "'listen': plain HTTP is served only on loopback; " + e->listen +
                                      " is not: add tls: { cert_file: ..., key_file: ... }");
  }
  config::ReadSecretSource(r, "secret", &e->secret, Need::kRequired);
  r.String("secret_query_parameter", &e->secret_query_parameter);
  if (r.String("secret_header", &e->secret_header) && !e->secret_header.empty() && !IsToken(e->secret_header)) {
    r.Problem(*r.Value("secret_header"), "'secret_header': expected a header name, got " +
                                             MapReader::Shown(*r.Value("secret_header")));
  }
  if (e->secret_query_parameter.empty() && e->secret_header.empty()) {
    r.Problem(r.node(), what + ": the secret must be accepted somewhere: set secret_query_parameter or secret_header");
  }
  r.Size("max_body_bytes", &e->max_body_bytes, int64_t{1} << 10, int64_t{64} << 20);
  r.Integer("max_connections", &e->max_connections, 1, 4096);
  r.Integer("request_timeout_ms", &e->request_timeout_ms, 100, 600'000);
  r.Integer("idle_timeout_ms", &e->idle_timeout_ms, 100, 600'000);
  r.Integer("backpressure_hold_ms", &e->backpressure_hold_ms, 0, 25'000);
  r.Integer("retry_after_s", &e->retry_after_s, 1, 3600);
  if (r.StringList("allowed_origins", &e->allowed_origins)) {
    for (const std::string& o : e->allowed_origins) {
      if (o.empty() || o.size() > 253) r.Problem(*r.Value("allowed_origins"), "'allowed_origins': expected DNS names");
    }
  }
  if (r.String("allowed_rate", &e->allowed_rate)) {
    const bool number = !e->allowed_rate.empty() && e->allowed_rate.size() <= 9 && e->allowed_rate != "0" &&
                        std::all_of(e->allowed_rate.begin(), e->allowed_rate.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (e->allowed_rate != "*" && !number) {
      r.Problem(*r.Value("allowed_rate"), "'allowed_rate': expected \"*\" or requests per minute (a positive "
                                          "number), got " + MapReader::Shown(*r.Value("allowed_rate")));
    }
  }
}

void ReadSources(MapReader& top, std::vector<SourceConfig>* sources) {
  const Node* list = top.Sequence("sources", Need::kRequired);
  if (list == nullptr) return;
  if (list->children.empty()) {
    top.Problem(*list, "'sources': at least one source is needed (a directory, a file, or \"-\" for stdin)");
    return;
  }
  if (list->children.size() > kMaxSources) {
    top.Problem(*list, "'sources': more than " + std::to_string(kMaxSources) + " sources");
    return;
  }
  std::map<std::string, size_t> seen;  // resolved path → line
  for (const Node& item : list->children) {
    SourceConfig source;
    const Node* path_node = &item;
    if (item.IsScalar() && !item.IsNull()) {
      // "- /data/insights-logs-auditevent": the shorthand for { path: ... }.
      if (item.value.empty()) {
        top.Problem(item, "'sources': expected a path, got an empty string");
        continue;
      }
      source.path = item.value == "-" ? item.value : config::ResolvePath(top.problems().file_name(), item.value);
    } else {
      MapReader r(item, top.problems(), "a source");
      if (r.Enum("type", &source.type, SourceTypeFromName, "files, eventgrid") &&
          source.type == SourceType::kEventGrid) {
        ReadEventGridSource(r, &source.eventgrid);
        r.Finish();
        // Two endpoints of one name would mix their metrics and locations.
        const std::string key = "eventgrid:" + source.eventgrid.name;
        const Node* at = r.Value("name") != nullptr ? r.Value("name") : &item;
        if (auto [it, inserted] = seen.emplace(key, at->mark.line); !inserted) {
          top.Problem(*at, "'sources': a second eventgrid source named '" + source.eventgrid.name +
                               "' (first at line " + std::to_string(it->second) + "); give each a name");
          continue;
        }
        sources->push_back(std::move(source));
        continue;
      }
      std::string raw;
      bool ok = r.String("path", &raw, Need::kRequired);
      path_node = r.Value("path");
      if (ok && raw.empty()) {
        r.Problem(*path_node, "'path': expected a path (or \"-\" for stdin), got an empty string");
        ok = false;
      }
      if (ok) source.path = raw == "-" ? raw : config::ResolvePath(top.problems().file_name(), raw);
      ok = r.Enum("format", &source.format, FormatFromName, "auto, activity, kvaudit, azurediagnostics, eventgrid, arm") ||
           ok;
      r.Finish();
      if (source.path.empty()) continue;
    }
    // Two followers of one tree would read every record twice.
    if (auto [it, inserted] = seen.emplace(source.path, path_node->mark.line); !inserted) {
      top.Problem(*path_node, "'sources': " + source.path + " is listed twice (first at line " +
                                  std::to_string(it->second) + ")");
      continue;
    }
    sources->push_back(std::move(source));
  }
}

void ReadFollow(MapReader& top, DirectorySourceOptions* f) {
  const Node* section = top.Mapping("follow");
  if (section == nullptr) return;
  MapReader r(*section, top.problems(), "follow");
  r.Integer("poll_interval_ms", &f->poll_interval_ms, 10, kMaxMillis);
  r.Integer("rescan_interval_ms", &f->rescan_interval_ms, 100, 24 * kMaxMillis);
  r.Bool("force_polling", &f->force_polling);
  // wire::kMaxItems (100 000) is what one batch may carry.
  r.Integer("max_batch_events", &f->max_batch_events, 1, 100'000);
  r.Size("max_batch_bytes", &f->max_batch_bytes, int64_t{64} << 10, int64_t{128} << 20);
  r.Integer("max_open_files", &f->max_open_files, 1, 65'536);
  r.Finish();
}

void ReadSend(MapReader& top, CollectorOptions* c) {
  const Node* section = top.Mapping("send");
  if (section == nullptr) return;
  MapReader r(*section, top.problems(), "send");
  r.Integer("resend_after_ms", &c->resend_after_ms, 100, kMaxMillis);
  r.Integer("max_inflight_batches", &c->max_inflight_batches, 1, 10'000);
  r.Finish();
}

void ReadCurve(MapReader& top, transport::LinkOptions* link) {
  const Node* section = top.Mapping("curve");
  if (section == nullptr) return;
  MapReader r(*section, top.problems(), "curve");
  transport::ClientCurve curve;
  std::string path;
  bool ok = config::ReadKeyFileEntry(r, "server_public_key_file", false, &path, &curve.server_public_key);
  ok = config::ReadKeyFileEntry(r, "public_key_file", false, &path, &curve.client.public_key) && ok;
  ok = config::ReadKeyFileEntry(r, "secret_key_file", true, &path, &curve.client.secret_key) && ok;
  if (ok && curve.server_public_key == curve.client.public_key) {
    r.Problem(*r.Value("public_key_file"),
              "'public_key_file': holds the analyzer's own public key; the collector needs its own key pair "
              "(cmkwatch keygen)");
    ok = false;
  }
  r.Finish();
  if (ok) link->client_curve = std::move(curve);
}

}  // namespace

Result<CollectorConfig> ParseCollectorConfig(std::string_view text, std::string_view file_name) {
  auto doc = config::ParseYaml(text, file_name);
  if (!doc.ok()) return doc.status();
  config::Problems problems{std::string(file_name)};
  CollectorConfig out;
  CollectorOptions& c = out.collector;
  MapReader top(*doc, problems, "the collector configuration");
  if (top.String("id", &c.id, Need::kRequired) && !config::IsValidId(c.id)) {
    const Node* n = top.Value("id");
    top.Problem(*n, "'id': a collector id is 1 to 128 of A-Z a-z 0-9 . _ -, got " + MapReader::Shown(*n));
  }
  if (top.String("connect", &c.connect)) {
    const Node* n = top.Value("connect");
    if (std::string why = config::EndpointProblem(c.connect); !why.empty()) {
      top.Problem(*n, "'connect': " + why + ", got " + MapReader::Shown(*n));
    }
  }
  top.Path("spool", &c.spool_path, Need::kRequired);
  top.Size("spool_max_bytes", &c.spool_max_bytes, int64_t{1} << 20, int64_t{1} << 50);
  ReadSources(top, &c.sources);
  ReadFollow(top, &c.source_defaults);
  ReadSend(top, &c);
  top.Bool("exit_when_drained", &c.exit_when_drained);
  if (top.String("http", &c.http) && !c.http.empty() && !ListenProblem(c.http).empty()) {
    top.Problem(*top.Value("http"), "'http': expected host:port (e.g. 127.0.0.1:9465) or \"\" for none, got " +
                                        MapReader::Shown(*top.Value("http")));
  }
  top.Bool("http_allow_non_loopback", &c.http_allow_non_loopback);
  config::ReadLinkSection(top, &c.link, false);
  ReadCurve(top, &c.link);
  config::ReadLogSection(top, &out.log_level, &out.log_format);
  top.Finish();
  if (!problems.empty()) return problems.ToStatus();
  return out;
}

Result<CollectorConfig> LoadCollectorConfig(const std::string& path) {
  auto text = config::ReadConfigFile(path);
  if (!text.ok()) return text.status();
  return ParseCollectorConfig(*text, path);
}

}  // namespace cmkwatch::collector
