// What a sink is given to send: one committed alert lifecycle change.
#pragma once

#include <cstdint>

#include "cmkwatch/analyzer/alert.h"

namespace cmkwatch::alerts {

using analyzer::Alert;
using analyzer::AlertChange;
using analyzer::AlertStatus;
using analyzer::Severity;

struct Message {
  // The change's row in the analyzer's alert_changes table: unique and
  // stable, so every retry of one change carries the same delivery id
  // (webhook-id, Message-ID) and a receiver can drop a duplicate.
  int64_t seq = 0;
  AlertChange::Kind kind = AlertChange::Kind::kOpened;
  Alert alert;  // the alert after the change
  int64_t committed_ns = 0;  // when the analyzer committed it (wall clock)
};

}  // namespace cmkwatch::alerts
