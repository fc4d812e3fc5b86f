// The collector's YAML configuration (schema in the header).
#include "cmkwatch/collector/config.h"

#include <map>

#include "cmkwatch/common/config.h"

namespace cmkwatch::collector {
namespace {

using config::MapReader;
using config::Need;
using config::Node;

constexpr int64_t kMaxMillis = 3'600'000;  // one hour: longer intervals are a mistake, not a setting
constexpr size_t kMaxSources = 1024;

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
