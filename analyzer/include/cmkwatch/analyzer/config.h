// The analyzer's configuration file (YAML), read into AnalyzerOptions.
//
// Schema (every key optional except db; deploy/config/analyzer.yaml
// documents each one with its default):
//   db: PATH                            the timeline file
//   bind: ENDPOINT                      tcp://host:port | ipc://path | inproc://name
//   http: HOST:PORT | ""                /healthz and /metrics; "" disables
//   http_allow_non_loopback: BOOL
//   retention_days: INT                 0 keeps everything
//   retention_interval_s: INT
//   timeline: { compress: BOOL, compression_level: 1..9, busy_timeout_ms: INT, max_event_bytes: SIZE,
//               helper_thread: BOOL }
//   link: { heartbeat_ivl_ms: INT, heartbeat_timeout_ms: INT, max_message_bytes: SIZE,
//           send_high_water_mark: INT }
//   curve:                              present = CURVE encryption + allowlist
//     public_key_file: PATH
//     secret_key_file: PATH             must not be readable by group or others
//     clients: [ { id: ID, public_key_file: PATH }, ... ]   at least one
//   log: { level: debug|info|warning|error, format: kv|json }
//   rules:
//     silence_window: DURATION          CMK016: 5m .. 30d, e.g. 6h
//     settings: { CMKnnn: { enabled: BOOL, severity: info|low|medium|high|critical } }
//     suppressions: [ { rule: CMKnnn|"*", resources: GLOB, reason: TEXT, expires: DATE|TIME } ]
//   alerts: { retry: {...}, sinks: [...] }   read by the alerts component
//                                      (cmkwatch/alerts/config.h)
//
// Relative paths are resolved against the config file's directory. Key
// files are read here (so a bad key fails at start, naming the config line
// and the path, never the key). Two clients with the same id or the same
// key are refused. Every problem of the file is reported at once, one per
// line, "file:line:col: message" (config.h in common).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "cmkwatch/analyzer/analyzer.h"
#include "cmkwatch/common/config.h"
#include "cmkwatch/common/log.h"
#include "cmkwatch/common/status.h"

namespace cmkwatch::analyzer {

struct AnalyzerConfig {
  AnalyzerOptions analyzer;
  log::Level log_level = log::Level::kInfo;
  log::Format log_format = log::Format::kKeyValue;
};

// Sections other components read from the same file (the daemon passes
// alerts::ReadAlertsSection for `alerts:`): called with the top-level
// reader before unknown keys are reported, so their problems are listed
// with the rest and their keys are not "unknown".
using SectionReader = std::function<void(config::MapReader&)>;

// Reads and parses the file at `path` (at most 1 MiB).
Result<AnalyzerConfig> LoadAnalyzerConfig(const std::string& path, const SectionReader& more = {});
// Parses `text`; `file_name` names it in messages and anchors relative paths.
Result<AnalyzerConfig> ParseAnalyzerConfig(std::string_view text, std::string_view file_name,
                                           const SectionReader& more = {});

}  // namespace cmkwatch::analyzer
