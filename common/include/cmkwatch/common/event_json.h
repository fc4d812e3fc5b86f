// Event → JSON text, the form `cmkwatch inspect` prints and reports embed.
#pragma once

#include <string>

#include "cmkwatch/common/event.h"

namespace cmkwatch {

struct EventJsonOptions {
  bool include_raw = false;  // add the original record as "raw" (a string)
};

// One JSON object on one line (no trailing newline). Fields:
//   id, source, time, resource_id, resource_kind, operation, status,
//   http_status?, correlation_id?, caller{object_id?,app_id?,upn?,ip?,...}?,
//   key{vault,name,version}?, changes{vault?,key?,account?,role_assignment?,
//   diagnostic_setting?}, raw?
// Absent values are left out rather than written as null.
std::string EventToJson(const Event& event, const EventJsonOptions& options = {});

}  // namespace cmkwatch
