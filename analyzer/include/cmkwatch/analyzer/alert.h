// Alerts: what a rule raises, and the lifecycle changes the alert sinks are
// told about (issue 4, ../shared/RULES.md).
//
// An alert is about one resource (a key, a vault, an AI resource) and, for
// rules about an identity, one principal (`subject`). While its condition
// holds, further evidence updates it (count, last seen); a return to
// compliance resolves it, naming the resolving event. A later breach opens a
// new alert with a new id: each id is one incident.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cmkwatch/common/event.h"
#include "cmkwatch/common/status.h"

namespace cmkwatch::analyzer {

enum class Severity : uint8_t { kInfo, kLow, kMedium, kHigh, kCritical };
enum class AlertStatus : uint8_t { kOpen, kResolved, kSuppressed };

std::string_view ToString(Severity s);     // "info", "low", "medium", "high", "critical"
std::string_view ToString(AlertStatus s);  // "open", "resolved", "suppressed"
std::optional<Severity> ParseSeverity(std::string_view text);  // case-insensitive

// At most this many evidence ids are kept per alert: the first ones, and
// the newest in the last slot (count says how many there were).
inline constexpr size_t kMaxEvidence = 32;

struct Alert {
  std::string id;       // "<rule>-<16 hex>": stable for the same logs replayed
  std::string rule;     // "CMK001"
  std::string title;    // one line, names the resource
  Severity severity = Severity::kInfo;
  AlertStatus status = AlertStatus::kOpen;
  std::string resource_id;  // what the alert is about (canonical ARM id)
  std::string subject;      // principal object id for identity rules, else ""
  std::vector<std::string> affected;  // AI resource ids (blast radius), sorted
  // What happened: the latest evidence event.
  std::string operation;
  Actor actor;
  int64_t time = 0;  // event time of the latest evidence, ns
  std::string why;          // the seed's consequence, in plain words
  std::string remediation;  // what to do
  std::vector<std::string> evidence;  // event ids, see kMaxEvidence
  int64_t first_seen = 0;  // event time of the first evidence
  int64_t last_seen = 0;   // event time of the latest evidence
  uint64_t count = 0;      // evidence events seen
  std::string suppression;  // the matching suppression's reason when suppressed
  int64_t resolved_at = 0;  // event time of the resolving event
  std::string resolved_by;  // its id
  bool operator==(const Alert&) const = default;
};

struct AlertChange {
  enum class Kind : uint8_t { kOpened, kUpdated, kResolved };
  Kind kind = Kind::kOpened;
  Alert alert;  // the alert after the change
};

std::string_view ToString(AlertChange::Kind k);  // "opened", "updated", "resolved"

// One JSON object on one line, the form `cmkwatch alerts` prints, the
// database stores and the sinks send. Fields: id, rule, title, severity,
// status, resource_id, subject?, affected[], operation, actor{object_id?,
// app_id?, upn?, ip?}, time, first_seen, last_seen (RFC 3339 UTC), count,
// evidence[], why, remediation, suppression?, resolved_at?, resolved_by?.
std::string AlertToJson(const Alert& alert);
// The inverse, for what AlertToJson wrote (InvalidArgument otherwise).
Result<Alert> AlertFromJson(std::string_view json);

}  // namespace cmkwatch::analyzer
