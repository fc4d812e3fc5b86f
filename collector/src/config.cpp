// The collector's YAML configuration (schema in the header).
#include "cmkwatch/collector/config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <map>
#include <optional>

#include "cmkwatch/common/config.h"
#include "cmkwatch/common/net.h"
#include "oauth_token.h"

namespace cmkwatch::collector {
namespace {

using config::MapReader;
using config::Need;
using config::Node;

constexpr int64_t kMaxMillis = 3'600'000;  // one hour: longer intervals are a mistake, not a setting
constexpr size_t kMaxSources = 1024;

constexpr size_t kMaxTopics = 100;
constexpr size_t kMaxBootstrapServers = 64;
constexpr size_t kMaxProperties = 64;

bool IsTopicName(std::string_view t) {
  // Kafka's own rule (Event Hubs names fit it too).
  return !t.empty() && t.size() <= 249 && t != "." && t != ".." &&
         std::all_of(t.begin(), t.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '_' || c == '-';
         });
}

// host:port, host a name or an address ([v6] in brackets), port 1-65535.
bool IsHostPort(std::string_view hp) {
  const size_t colon = hp.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 >= hp.size() || hp.size() > 255) return false;
  int port = 0;
  for (char c : hp.substr(colon + 1)) {
    if (c < '0' || c > '9') return false;
    port = port * 10 + (c - '0');
    if (port > 65535) return false;
  }
  if (port == 0) return false;
  return std::none_of(hp.begin(), hp.begin() + static_cast<std::ptrdiff_t>(colon),
                      [](char c) { return c == ',' || c == '/' || c == ' ' || static_cast<unsigned char>(c) < 0x21; });
}

bool IsSourceName(std::string_view n) {
  return !n.empty() && n.size() <= 128 && std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-' || c == ':';
  });
}

// A `type: kafka` item of `sources:` (schema in config.h).
void ReadKafkaSource(MapReader& r, SourceConfig* source) {
  source->type = SourceType::kKafka;
  KafkaSourceOptions& k = source->kafka;
  if (r.String("name", &k.name) && !IsSourceName(k.name)) {
    r.Problem(*r.Value("name"), "'name': expected 1..128 of A-Z a-z 0-9 . _ - :, got " + MapReader::Shown(*r.Value("name")));
  }
  if (r.StringList("bootstrap_servers", &k.bootstrap_servers, Need::kRequired)) {
    const Node* n = r.Value("bootstrap_servers");
    if (k.bootstrap_servers.empty() || k.bootstrap_servers.size() > kMaxBootstrapServers) {
      r.Problem(*n, "'bootstrap_servers': expected 1 to " + std::to_string(kMaxBootstrapServers) + " host:port entries");
    }
    for (const auto& hp : k.bootstrap_servers) {
      if (!IsHostPort(hp)) r.Problem(*n, "'bootstrap_servers': '" + hp.substr(0, 80) + "' is not host:port");
    }
  }
  if (r.StringList("topics", &k.topics, Need::kRequired)) {
    const Node* n = r.Value("topics");
    if (k.topics.empty() || k.topics.size() > kMaxTopics) {
      r.Problem(*n, "'topics': expected 1 to " + std::to_string(kMaxTopics) + " topics (Event Hubs: hub names)");
    }
    for (const auto& t : k.topics) {
      if (!IsTopicName(t)) r.Problem(*n, "'topics': '" + t.substr(0, 80) + "' is not a topic name (A-Z a-z 0-9 . _ -)");
    }
  }
  if (r.String("group_id", &k.group_id) && (k.group_id.empty() || k.group_id.size() > 255)) {
    r.Problem(*r.Value("group_id"), "'group_id': expected 1 to 255 bytes");
  }
  if (r.String("client_id", &k.client_id) && !config::IsValidId(k.client_id)) {
    r.Problem(*r.Value("client_id"), "'client_id': expected 1..128 of A-Z a-z 0-9 . _ -");
  }
  r.Enum("format", &k.format, FormatFromName, "auto, activity, kvaudit, azurediagnostics, eventgrid, arm");
  const bool has_security =
      r.Enum("security", &k.security, KafkaSecurityFromName,
             "plaintext, ssl, connection_string (Event Hubs), sasl_plain, oauthbearer (Event Hubs)", Need::kRequired);
  r.Enum("auto_offset_reset", &k.auto_offset_reset,
         [](std::string_view v) -> std::optional<std::string> {
           if (v == "earliest" || v == "latest") return std::string(v);
           return std::nullopt;
         },
         "earliest, latest");

  config::ReadSecretSource(r, "connection_string", &k.connection_string, Need::kOptional);
  r.String("sasl_username", &k.sasl_username);
  config::ReadSecretSource(r, "sasl_password", &k.sasl_password, Need::kOptional);
  r.Path("ca_file", &k.ca_file);
  r.Path("client_cert_file", &k.client_cert_file);
  r.Path("client_key_file", &k.client_key_file);
  bool has_oauth = false;
  if (const Node* o = r.Mapping("oauth")) {
    has_oauth = true;
    MapReader orr(*o, r.problems(), "oauth");
    orr.String("token_endpoint", &k.oauth.token_endpoint, Need::kRequired);
    orr.String("client_id", &k.oauth.client_id, Need::kRequired);
    orr.String("scope", &k.oauth.scope, Need::kRequired);
    config::ReadSecretSource(orr, "client_secret", &k.oauth.client_secret, Need::kRequired);
    orr.Finish();
  }

  // What each security mode needs, and nothing it would ignore.
  if (has_security) {
    const Node& at = *r.Value("security");
    const bool tls = k.security != KafkaSecurity::kPlaintext;
    auto need = [&](bool present, std::string_view key) {
      if (!present) r.Problem(at, "security " + std::string(KafkaSecurityName(k.security)) + " needs '" + std::string(key) + "'");
    };
    auto unused = [&](bool present, std::string_view key, std::string_view mode) {
      if (present) {
        r.Problem(at, "'" + std::string(key) + "' is only used with security: " + std::string(mode) +
                          ", not " + std::string(KafkaSecurityName(k.security)));
      }
    };
    const bool cs = !k.connection_string.empty(), pw = !k.sasl_password.empty();
    if (k.security == KafkaSecurity::kConnectionString) {
      need(cs, "connection_string_file' or 'connection_string_env");
    } else {
      unused(cs, "connection_string_file/_env", "connection_string");
    }
    if (k.security == KafkaSecurity::kSaslPlain) {
      need(!k.sasl_username.empty(), "sasl_username");
      need(pw, "sasl_password_file' or 'sasl_password_env");
    } else {
      unused(!k.sasl_username.empty(), "sasl_username", "sasl_plain");
      unused(pw, "sasl_password_file/_env", "sasl_plain");
    }
    if (k.security == KafkaSecurity::kOAuthBearer) {
      need(has_oauth, "oauth");
    } else {
      unused(has_oauth, "oauth", "oauthbearer");
    }
    if (!tls) unused(!k.ca_file.empty(), "ca_file", "ssl, connection_string, sasl_plain or oauthbearer");
    if (k.security != KafkaSecurity::kSsl) {
      unused(!k.client_cert_file.empty() || !k.client_key_file.empty(), "client_cert_file/client_key_file", "ssl");
    } else if (k.client_cert_file.empty() != k.client_key_file.empty()) {
      r.Problem(at, "'client_cert_file' and 'client_key_file': give both or neither");
    }
  }
  if (has_oauth && !k.oauth.token_endpoint.empty()) {
    if (std::string why = internal::TokenEndpointProblem(k.oauth.token_endpoint); !why.empty()) {
      r.Problem(*r.Value("oauth"), "'oauth': 'token_endpoint': " + why);
    }
  }

  r.Size("max_message_bytes", &k.max_message_bytes, int64_t{1} << 10, int64_t{64} << 20);
  r.Integer("max_batch_events", &k.max_batch_events, 1, static_cast<int64_t>(KafkaSource::kMaxItemsPerMessage));
  r.Size("max_batch_bytes", &k.max_batch_bytes, int64_t{64} << 10, int64_t{128} << 20);
  r.Integer("commit_interval_ms", &k.commit_interval_ms, 0, kMaxMillis);
  r.Integer("batch_linger_ms", &k.batch_linger_ms, 0, 1000);
  if (const Node* props = r.Mapping("properties")) {
    if (props->children.size() > kMaxProperties) {
      r.Problem(*props, "'properties': more than " + std::to_string(kMaxProperties) + " entries");
    }
    for (const Node& p : props->children) {
      if (!p.IsScalar() || p.IsNull()) {
        r.Problem(p, "'properties': '" + p.key.substr(0, 80) + "': expected a scalar value");
        continue;
      }
      if (std::string why = KafkaPropertyProblem(p.key); !why.empty()) {
        r.Problem(p, "'properties': '" + p.key.substr(0, 80) + "' " + why);
        continue;
      }
      if (p.value.size() > 4096 ||
          std::any_of(p.value.begin(), p.value.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; })) {
        r.Problem(p, "'properties': '" + p.key + "': expected a one-line value of at most 4096 bytes");
        continue;
      }
      k.properties.emplace_back(p.key, p.value);
    }
  }
  if (k.name.empty() && !k.topics.empty()) k.name = "kafka:" + k.topics.front();
}

std::optional<SourceType> SourceTypeFromName(std::string_view name) {
  if (name == "files") return SourceType::kPath;
  if (name == "eventgrid") return SourceType::kEventGrid;
  if (name == "kafka") return SourceType::kKafka;
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
  std::map<std::string, size_t> kafka_names;  // kafka source name → line
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
      const bool typed = r.Enum("type", &source.type, SourceTypeFromName, "files, eventgrid, kafka");
      if (typed && source.type == SourceType::kKafka) {
        ReadKafkaSource(r, &source);
        r.Finish();
        if (auto [it, inserted] = kafka_names.emplace(source.kafka.name, item.mark.line); !inserted) {
          top.Problem(item, "'sources': a second kafka source named '" + source.kafka.name + "' (first at line " +
                                std::to_string(it->second) + "); give each its own 'name'");
          continue;
        }
        sources->push_back(std::move(source));
        continue;
      }
      if (typed && source.type == SourceType::kEventGrid) {
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
