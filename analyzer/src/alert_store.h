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

  // Inside the caller's transaction.
  Status Write(const std::vector<AlertChange>& changes, int64_t committed_ns);

  // Alerts by first seen (then id), optionally only one status; at most
  // `limit`.
  Result<std::vector<Alert>> Read(std::optional<AlertStatus> status, size_t limit);

 private:
  sqlite::Statement upsert_, append_, select_all_, select_status_;
};

}  // namespace cmkwatch::analyzer::internal
