// The collector's configuration file (YAML), read into CollectorOptions.
//
// Schema (id, spool and sources required; deploy/config/collector.yaml
// documents each key with its default):
//   id: ID                              1..128 of A-Z a-z 0-9 . _ -
//   connect: ENDPOINT                   tcp://host:port | ipc://path | inproc://name
//   spool: PATH
//   spool_max_bytes: SIZE               e.g. 1073741824 or 1GiB
//   sources:                            at least one; paths unique
//     - { path: PATH | "-", format: auto|activity|kvaudit|azurediagnostics|eventgrid|arm }
//     - PATH                            shorthand for { path: PATH }
//     - type: eventgrid                 an Event Grid push endpoint (names unique)
//       name: ID, listen: HOST:PORT (required), url_path: /PATH
//       tls: { cert_file: PATH, key_file: PATH }   absent = plain HTTP, loopback only
//       secret_env: VAR | secret_file: PATH        required
//       secret_query_parameter: NAME, secret_header: NAME
//       max_body_bytes: SIZE, max_connections: INT, request_timeout_ms: INT,
//       idle_timeout_ms: INT, backpressure_hold_ms: INT, retry_after_s: INT,
//       allowed_origins: [DNS name, ...], allowed_rate: "*" | INT
//     - type: kafka                     Event Hubs / Kafka (kafka_source.h); names unique
//       name: NAME                      default kafka:<first topic>
//       bootstrap_servers: [HOST:PORT, ...]
//       topics: [TOPIC, ...]            Event Hubs: the hub names
//       group_id: ID                    default cmkwatch
//       client_id: ID                   default the collector id
//       security: plaintext|ssl|connection_string|sasl_plain|oauthbearer   required
//       connection_string_file: PATH | connection_string_env: NAME   (connection_string)
//       sasl_username: USER, sasl_password_file: PATH | sasl_password_env: NAME   (sasl_plain)
//       oauth: { token_endpoint: URL, client_id: ID, scope: SCOPE,
//                client_secret_file: PATH | client_secret_env: NAME }   (oauthbearer)
//       ca_file: PATH                   TLS modes
//       client_cert_file: PATH, client_key_file: PATH   (ssl)
//       auto_offset_reset: earliest|latest, format: ..., max_message_bytes: SIZE,
//       max_batch_events: INT, max_batch_bytes: SIZE, batch_linger_ms: INT, commit_interval_ms: INT,
//       properties: { librdkafka.property: VALUE, ... }   not the source's own, no secrets
//   follow: { poll_interval_ms: INT, rescan_interval_ms: INT, force_polling: BOOL,
//             max_batch_events: INT, max_batch_bytes: SIZE, max_open_files: INT }
//   send: { resend_after_ms: INT, max_inflight_batches: INT }
//   exit_when_drained: BOOL
//   http: HOST:PORT                     /metrics and /healthz ("" = none, the default)
//   http_allow_non_loopback: BOOL
//   link: { heartbeat_ivl_ms: INT, heartbeat_timeout_ms: INT, send_high_water_mark: INT }
//   curve:                              present = CURVE encryption
//     server_public_key_file: PATH
//     public_key_file: PATH
//     secret_key_file: PATH             must not be readable by group or others
//   log: { level: debug|info|warning|error, format: kv|json }
//
// Relative paths (spool, sources, key files) are resolved against the
// config file's directory; "-" (stdin) stays as is. Key files are read here;
// a problem names the config line and the path, never the key. Every problem
// of the file is reported at once, "file:line:col: message" per line.
#pragma once

#include <string>
#include <string_view>

#include "cmkwatch/collector/collector.h"
#include "cmkwatch/common/log.h"
#include "cmkwatch/common/status.h"

namespace cmkwatch::collector {

struct CollectorConfig {
  CollectorOptions collector;
  log::Level log_level = log::Level::kInfo;
  log::Format log_format = log::Format::kKeyValue;
};

// Reads and parses the file at `path` (at most 1 MiB).
Result<CollectorConfig> LoadCollectorConfig(const std::string& path);
// Parses `text`; `file_name` names it in messages and anchors relative paths.
// Never throws, whatever the bytes (fuzzed: fuzz/fuzz_config.cpp).
Result<CollectorConfig> ParseCollectorConfig(std::string_view text, std::string_view file_name);

}  // namespace cmkwatch::collector
