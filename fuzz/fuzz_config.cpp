// Configuration parsing on arbitrary bytes: the YAML layer and the whole
// collector configuration never crash, never throw, and hold their limits.
// Properties beyond "no crash":
//  * an accepted tree respects the depth and node caps, marks lie inside
//    the input, and every mapping's keys are unique;
//  * parsing is deterministic;
//  * every problem a configuration reports carries "file:line:col".
// (The analyzer's loader is not here: fuzz targets link only the collector
// and common libraries, and both loaders share common's reader.)
#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cmkwatch/alerts/config.h"
#include "cmkwatch/alerts/sink.h"
#include "cmkwatch/analyzer/config.h"
#include "cmkwatch/collector/config.h"
#include "cmkwatch/common/config.h"
#include "fuzz_util.h"

namespace {

constexpr std::string_view kFile = "fuzz.yaml";

void CheckTree(const cmkwatch::config::Node& root, std::string_view text) {
  using cmkwatch::config::Node;
  // An upper bound on the lines YAML sees: CR, LF, NEL, LS and PS all break
  // lines (the input is UTF-8 only).
  size_t lines = 1;
  for (size_t i = 0; i < text.size(); ++i) {
    const std::string_view rest = text.substr(i);
    if (rest[0] == '\n' || rest[0] == '\r' || rest.rfind("\xc2\x85", 0) == 0 || rest.rfind("\xe2\x80\xa8", 0) == 0 ||
        rest.rfind("\xe2\x80\xa9", 0) == 0) {
      ++lines;
    }
  }
  // Iterative walk: (node, depth of the collections around it).
  std::vector<std::pair<const Node*, size_t>> todo{{&root, 0}};
  size_t nodes = 0;
  while (!todo.empty()) {
    auto [n, depth] = todo.back();
    todo.pop_back();
    ++nodes;
    CMK_FUZZ_CHECK(n->mark.line >= 1 && n->mark.line <= lines + 1);
    CMK_FUZZ_CHECK(n->mark.column >= 1);
    if (n->IsScalar()) {
      CMK_FUZZ_CHECK(n->children.empty());
      CMK_FUZZ_CHECK(n->value.size() <= cmkwatch::config::kMaxScalarBytes);
      continue;
    }
    CMK_FUZZ_CHECK(depth + 1 <= cmkwatch::config::kMaxDepth);
    std::set<std::string_view> keys;
    for (const Node& c : n->children) {
      if (n->IsMapping()) CMK_FUZZ_CHECK(keys.insert(c.key).second);
      todo.emplace_back(&c, depth + 1);
    }
  }
  CMK_FUZZ_CHECK(nodes <= cmkwatch::config::kMaxNodes);
}

void CheckMessage(const cmkwatch::Status& st) {
  CMK_FUZZ_CHECK(!st.ok());
  const std::string& m = st.message();
  const std::string prefix = std::string(kFile) + ":";
  size_t start = 0;
  while (start <= m.size()) {
    size_t end = m.find('\n', start);
    if (end == std::string::npos) end = m.size();
    const std::string_view line(m.data() + start, end - start);
    // "fuzz.yaml:L:C: ..." on every line, except the count of problems left
    // off and the whole-file limits that have no position.
    if (line.rfind("... and ", 0) != 0 && line.find(": out of memory") == std::string_view::npos &&
        line.find(": larger than") == std::string_view::npos) {
      CMK_FUZZ_CHECK(line.rfind(prefix, 0) == 0);
      size_t i = prefix.size();
      size_t digits = 0;
      while (i < line.size() && line[i] >= '0' && line[i] <= '9') {
        ++i;
        ++digits;
      }
      CMK_FUZZ_CHECK(digits > 0 && i < line.size() && line[i] == ':');
    }
    start = end + 1;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto tree = cmkwatch::config::ParseYaml(text, kFile);
  auto again = cmkwatch::config::ParseYaml(text, kFile);
  CMK_FUZZ_CHECK(tree.ok() == again.ok());
  if (tree.ok()) {
    CheckTree(*tree, text);
  } else {
    CMK_FUZZ_CHECK(tree.status().message() == again.status().message());
    CheckMessage(tree.status());
  }
  auto config = cmkwatch::collector::ParseCollectorConfig(text, kFile);
  if (config.ok()) {
    // What the schema promises a caller.
    CMK_FUZZ_CHECK(tree.ok());
    CMK_FUZZ_CHECK(!config->collector.id.empty() && !config->collector.spool_path.empty());
    CMK_FUZZ_CHECK(!config->collector.sources.empty());
    for (const auto& src : config->collector.sources) {
      if (src.type == cmkwatch::collector::SourceType::kPath) CMK_FUZZ_CHECK(!src.path.empty());
      if (src.type != cmkwatch::collector::SourceType::kKafka) continue;
      // What the Kafka source relies on: somewhere to connect, something to
      // read, a name, and no passthrough property that overrides it or
      // holds a secret inline.
      const auto& k = src.kafka;
      CMK_FUZZ_CHECK(!k.name.empty() && !k.bootstrap_servers.empty() && !k.topics.empty() && !k.group_id.empty());
      CMK_FUZZ_CHECK(k.max_batch_events >= 1 && k.max_message_bytes >= 1024);
      for (const auto& [name, value] : k.properties) CMK_FUZZ_CHECK(cmkwatch::collector::KafkaPropertyProblem(name).empty());
      if (k.security == cmkwatch::collector::KafkaSecurity::kConnectionString) CMK_FUZZ_CHECK(!k.connection_string.empty());
      if (k.security == cmkwatch::collector::KafkaSecurity::kOAuthBearer) CMK_FUZZ_CHECK(!k.oauth.client_secret.empty());
    }
  } else {
    CheckMessage(config.status());
  }
  // The analyzer's schema too (its rules section: durations, dates, globs;
  // the alerts component's sinks).
  std::optional<cmkwatch::alerts::AlertsConfig> alerts;
  auto analyzer = cmkwatch::analyzer::ParseAnalyzerConfig(text, kFile, cmkwatch::alerts::AlertsSectionReader(&alerts));
  if (analyzer.ok()) {
    CMK_FUZZ_CHECK(tree.ok());
    CMK_FUZZ_CHECK(!analyzer->analyzer.db_path.empty());
    for (const auto& s : analyzer->analyzer.rules.suppressions) CMK_FUZZ_CHECK(!s.reason.empty());
    if (alerts) {
      std::set<std::string> names;
      for (const auto& sink : alerts->sinks) {
        // What the sinks rely on: a unique valid name, a known type, and
        // every secret named by a source, never inline.
        CMK_FUZZ_CHECK(cmkwatch::config::IsValidId(sink.name) && names.insert(sink.name).second);
        const auto types = cmkwatch::alerts::SinkTypes();
        CMK_FUZZ_CHECK(std::find(types.begin(), types.end(), sink.type) != types.end());
        if (sink.type == "slack" || sink.type == "teams" || sink.type == "webhook") {
          CMK_FUZZ_CHECK(!sink.url_secret.empty());
        }
        if (sink.type == "email") CMK_FUZZ_CHECK(!sink.to.empty() && !sink.from.empty());
      }
      CMK_FUZZ_CHECK(alerts->retry.initial_ns <= alerts->retry.max_ns);
    }
  } else {
    CheckMessage(analyzer.status());
  }
  return 0;
}
