// UTC timestamps as int64 nanoseconds since the Unix epoch.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cmkwatch {

// Parses an RFC 3339 / ISO 8601 timestamp as Azure writes them:
//   2016-01-05T01:32:01.2691226Z      (0-9 fractional digits)
//   2023-05-01T10:00:00+00:00         (numeric offset, converted to UTC)
//   2023-05-01 10:00:00.123           (space separator; no offset means UTC)
// Years 1678..2261 (the int64 nanosecond range). Returns nullopt when the text
// is not such a timestamp or names an impossible date.
std::optional<int64_t> ParseTimestamp(std::string_view text);

// RFC 3339 in UTC with 'Z'; the fraction keeps the significant digits only
// ("2016-01-05T01:32:01.2691226Z", "2016-01-05T01:32:01Z").
std::string FormatTimestamp(int64_t ns_since_epoch);

// The wall clock (system_clock) in ns since the Unix epoch, UTC.
int64_t WallClockNs();

constexpr int64_t kNanosPerSecond = 1'000'000'000;

}  // namespace cmkwatch
