// Alerts in the timeline database (private to the analyzer).
//
// Two tables beside the events:
//   alerts         one row per alert (its latest state, as AlertToJson),
//                  what `cmkwatch alerts` reads;
//   alert_changes  every lifecycle change in commit order: the outbox the
//                  alert sinks are fed from (issue 5), never rewritten.
// Written inside the transaction that stores the events that caused the
// changes, so an alert and its evidence commit (or roll back) together.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "cmkwatch/analyzer/alert.h"
#include "cmkwatch/common/status.h"
#include "sqlite/sqlite.h"

namespace cmkwatch::analyzer::internal {

class AlertStore {
 public:
  // Creates the tables when missing and prepares the statements. `db`
  // must outlive the store.
  Status Open(sqlite::Db& db);

  // Inside the caller's transaction. The alerts table always gets each
  // alert's latest state. The outbox gets fewer rows than `changes` when an
  // alert merely repeats: a run of updates of one alert in one call is one
  // update, and an update that changes nothing but the count, last seen and
  // evidence is not queued within kUpdateInterval of the alert's previous
  // queued change (by committed_ns). An update that changes the severity,
  // status or blast radius, an opening and a resolution always are. A key
  // failing a thousand unwraps a second is one alert, not a thousand
  // messages.
  Status Write(const std::vector<AlertChange>& changes, int64_t committed_ns);

  static constexpr int64_t kUpdateInterval = int64_t{60} * 1'000'000'000;

  // Alerts by first seen (then id), optionally only one status; at most
  // `limit`.
  Result<std::vector<Alert>> Read(std::optional<AlertStatus> status, size_t limit);

 private:
  struct Queued {
    int64_t at = 0;
    Severity severity = Severity::kInfo;
    AlertStatus status = AlertStatus::kOpen;
    std::vector<std::string> affected;
  };
  bool Throttled(const AlertChange& c, int64_t committed_ns) const;

  sqlite::Statement upsert_, append_, select_all_, select_status_;
  // The last queued change of each alert not resolved (bounded by the open
  // alerts).
  std::unordered_map<std::string, Queued> queued_;
};

}  // namespace cmkwatch::analyzer::internal
