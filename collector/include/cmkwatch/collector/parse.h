// Parsers: pure functions from one record's bytes to a normalized Event.
//
// A "record" is one JSON value the framing layer (framing.h) cut out of a
// file or stream: one Activity Log entry, one Key Vault AuditEvent, one Log
// Analytics row, one Event Grid event, or one ARM resource. Parsers do no
// I/O, never throw, never crash on any input, and enforce the limits below.
// A record they cannot use comes back as a Status whose message says why in
// words an operator understands; the caller quarantines it and goes on.
//
// Formats and where each comes from:
//   kActivityLog       Activity Log, export schema (Storage PT1H.json, Event
//                      Hubs: time, operationName string, resultType) and REST
//                      schema (az monitor activity-log list: eventTimestamp,
//                      operationName.value, status.value).
//   kKeyVaultAudit     Key Vault AuditEvent as exported (category AuditEvent)
//                      and Log Analytics AZKVAuditLogs rows.
//   kAzureDiagnostics  Log Analytics AzureDiagnostics rows for Key Vault
//                      (flattened *_s, *_g, *_d, *_b columns).
//   kEventGrid         Event Grid schema and CloudEvents 1.0, Key Vault and
//                      Microsoft.Resources events, subscription validation.
//   kArm               ARM resource JSON (az ... show, Resource Graph rows,
//                      data-plane key bundles) for inventory snapshots.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include "cmkwatch/common/event.h"
#include "cmkwatch/common/status.h"

namespace cmkwatch::collector {

enum class Format : uint8_t { kAuto, kActivityLog, kKeyVaultAudit, kAzureDiagnostics, kEventGrid, kArm };

// "auto", "activity", "kvaudit", "azurediagnostics", "eventgrid", "arm".
std::string_view FormatName(Format format);
std::optional<Format> FormatFromName(std::string_view name);

struct ParseLimits {
  size_t max_record_bytes = size_t{4} << 20;  // a larger record is refused whole
  size_t max_depth = 64;                      // JSON nesting, also inside JSON-in-string bodies
  size_t max_string_bytes = size_t{1} << 20;  // one string value (e.g. a request body)
};

// Bytes that are followed by at least kPadding readable bytes, so simdjson
// can read ahead without a copy. The framer hands records out in this form.
inline constexpr size_t kPadding = 64;
struct PaddedRecord {
  std::string_view bytes;
  // The framer saw no whitespace outside strings, so the bytes are already
  // in the canonical form event ids are computed from (no minify needed).
  bool compact = false;
};

// Which parser fits a record, from its top-level field names. Unsupported
// when none does (the message names what was seen).
Result<Format> DetectFormat(std::string_view record, const ParseLimits& limits = {});

// Detects (for kAuto) and parses. This is what readers call.
Result<Event> ParseRecord(PaddedRecord record, Format format = Format::kAuto, const ParseLimits& limits = {});
// Same, for bytes without padding (copies them once). Also checks the
// nesting depth, which the framer checks for records it hands out.
Result<Event> ParseRecord(std::string_view record, Format format = Format::kAuto, const ParseLimits& limits = {});

// One parser per format; each accepts only its own format.
Result<Event> ParseActivityLog(PaddedRecord record, const ParseLimits& limits = {});
Result<Event> ParseKeyVaultAudit(PaddedRecord record, const ParseLimits& limits = {});
Result<Event> ParseAzureDiagnostics(PaddedRecord record, const ParseLimits& limits = {});
Result<Event> ParseEventGrid(PaddedRecord record, const ParseLimits& limits = {});
Result<Event> ParseArm(PaddedRecord record, const ParseLimits& limits = {});

}  // namespace cmkwatch::collector
