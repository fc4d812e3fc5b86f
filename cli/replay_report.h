// The replay report (issue 6): what `cmkwatch replay` found, as one JSON
// document (--json-report) and as one self-contained HTML page (--report)
// rendered from that document alone.
//
// JSON schema ("cmkwatch_replay_report": 1). Times are RFC 3339 UTC text;
// ids are canonical (lower-case) ARM ids.
//   {
//     "cmkwatch_replay_report": 1,
//     "version": "0.1.0",                       cmkwatch's version (the rules' version)
//     "input": {
//       "files": [ {"path", "bytes", "sha256"} ],   sorted by path
//       "since": T | null, "until": T | null,      the filters given
//       "first_event": T | null, "last_event": T | null
//     },
//     "counts": {
//       "records", "events", "stored", "duplicates", "quarantined",
//       "by_source": { "activity_log": N, "keyvault_audit": N, ... },
//       "alerts_by_rule": { "CMK001": N, ... },
//       "alerts_by_severity": { "critical": N, ... }
//     },
//     "quarantine": [ {"path", "offset", "line", "format", "reason"} ],  at most 100
//     "rules": [ {"id", "title", "severity_bound", "severity_unbound"} ],
//     "alerts": [ <AlertToJson object: id, rule, title, severity, status,
//                  resource_id, affected[], operation, actor{}, time,
//                  first_seen, last_seen, count, evidence[], why,
//                  remediation, resolved_at?, resolved_by?> ],     by first_seen
//     "bindings": [ {"ai_resource": ID, "vault": ID} ],   which AI resource
//                                                        depends on which vault
//     "resources": [                                     sorted by id
//       { "id": ID, "kind": "vault"|"key"|"ai_account"|"ai_workspace"|
//                           "role_assignment"|"other",
//         "name": last id segment(s) for display,
//         "events_total": N,          every stored event of it in the run
//         "events": [                 the ones that matter (configuration
//                                     changes, key lifecycle, access changes,
//                                     failures), at most 500, by time
//           { "id", "time", "source", "operation", "status", "http_status",
//             "actor": {"upn"?, "object_id"?, "app_id"?, "ip"?},
//             "summary": one line, "raw": the record (cut at 16 KiB) } ],
//         "events_omitted": N }       that mattered but were over the cap
//     ],
//     "run_hash": hex SHA-256 over every resource's chain head (by id) and
//                 every alert (by id): equal for the same input in any order
//   }
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace cmkwatch::cli {

// One self-contained HTML page (inline CSS and script, no network at view
// time) for a report of the schema above: a summary at the top, then a time
// axis with one lane per vault, key and AI resource, events as marks,
// alerts as coloured spans from open to resolve (or to the end), bindings
// drawn between AI resources and their vaults; clicking a mark shows the
// event's fields and raw record. Readable on a laptop, printable. All text
// from the report is escaped (it comes from logs).
std::string RenderReportHtml(const nlohmann::json& report);

}  // namespace cmkwatch::cli
