// Dispatch: size checks, one simdjson pass, detection, then the parser.
#include "cmkwatch/collector/parse.h"

#include <simdjson.h>

#include <string>

#include "normalize.h"
#include "parsers.h"

namespace cmkwatch::collector {
namespace {

namespace od = internal::od;

Status CheckSize(std::string_view bytes, const ParseLimits& limits) {
  if (bytes.size() > limits.max_record_bytes) {
    return Status::LimitExceeded("record of " + std::to_string(bytes.size()) + " bytes exceeds the " +
                                 std::to_string(limits.max_record_bytes) + "-byte limit");
  }
  return Status::Ok();
}

Result<Event> DispatchFormat(od::document& doc, Format format, std::string_view raw, const ParseLimits& limits) {
  switch (format) {
    case Format::kActivityLog: return internal::ParseActivityLogDoc(doc, raw, limits);
    case Format::kKeyVaultAudit: return internal::ParseKeyVaultAuditDoc(doc, raw, limits);
    case Format::kAzureDiagnostics: return internal::ParseAzureDiagnosticsDoc(doc, raw, limits);
    case Format::kEventGrid: return internal::ParseEventGridDoc(doc, raw, limits);
    case Format::kArm: return internal::ParseArmDoc(doc, raw, limits);
    case Format::kAuto: break;
  }
  return Status::Internal("no parser for format auto");
}

// Records without an id of their own get one from their bytes, here in one
// place for every format.
Result<Event> WithId(Result<Event> result, PaddedRecord record) {
  if (result.ok() && result->id.empty()) {
    result->id = internal::HashEventId(result->source, record.bytes, record.compact);
  }
  return result;
}

Result<Event> Dispatch(od::document& doc, Format format, PaddedRecord record, const ParseLimits& limits) {
  return WithId(DispatchFormat(doc, format, record.bytes, limits), record);
}

template <typename F>
Result<Event> OpenAndRun(PaddedRecord record, const ParseLimits& limits, F&& run) {
  if (auto st = CheckSize(record.bytes, limits); !st.ok()) return st;
  auto doc = internal::OpenDoc(record.bytes, 0);
  if (!doc.ok()) return doc.status();
  return run(**doc);
}

// Thread-local scratch for callers without padding; grows to the largest
// record seen (bounded by max_record_bytes).
PaddedRecord Pad(std::string_view bytes) {
  thread_local std::string scratch;
  scratch.assign(bytes);
  scratch.append(kPadding, ' ');
  return PaddedRecord{std::string_view(scratch.data(), bytes.size())};
}

}  // namespace

std::string_view FormatName(Format format) {
  switch (format) {
    case Format::kAuto: return "auto";
    case Format::kActivityLog: return "activity";
    case Format::kKeyVaultAudit: return "kvaudit";
    case Format::kAzureDiagnostics: return "azurediagnostics";
    case Format::kEventGrid: return "eventgrid";
    case Format::kArm: return "arm";
  }
  return "unknown";
}

std::optional<Format> FormatFromName(std::string_view name) {
  for (Format f : {Format::kAuto, Format::kActivityLog, Format::kKeyVaultAudit, Format::kAzureDiagnostics,
                   Format::kEventGrid, Format::kArm}) {
    if (FormatName(f) == name) return f;
  }
  return std::nullopt;
}

Result<Format> DetectFormat(std::string_view record, const ParseLimits& limits) {
  if (auto st = CheckSize(record, limits); !st.ok()) return st;
  auto padded = Pad(record);
  auto doc = internal::OpenDoc(padded.bytes, 0);
  if (!doc.ok()) return doc.status();
  return internal::DetectFormatDoc(**doc);
}

Result<Event> ParseRecord(PaddedRecord record, Format format, const ParseLimits& limits) {
  return OpenAndRun(record, limits, [&](od::document& doc) -> Result<Event> {
    Format chosen = format;
    if (chosen == Format::kAuto) {
      auto detected = internal::DetectFormatDoc(doc);
      if (!detected.ok()) return detected.status();
      chosen = *detected;
      doc.rewind();
    }
    return Dispatch(doc, chosen, record, limits);
  });
}

Result<Event> ParseRecord(std::string_view record, Format format, const ParseLimits& limits) {
  if (auto st = CheckSize(record, limits); !st.ok()) return st;
  // Records from files and streams had their depth checked by the framer;
  // bytes handed straight to this entry point have not.
  if (internal::ScanDepth(record, limits.max_depth) > limits.max_depth) {
    return Status::LimitExceeded("record nests deeper than " + std::to_string(limits.max_depth) + " levels");
  }
  return ParseRecord(Pad(record), format, limits);
}

#define CMKWATCH_PUBLIC_PARSER(Name)                                                              \
  Result<Event> Name(PaddedRecord record, const ParseLimits& limits) {                            \
    return OpenAndRun(record, limits,                                                             \
                      [&](od::document& doc) { return WithId(internal::Name##Doc(doc, record.bytes, limits), record); }); \
  }
CMKWATCH_PUBLIC_PARSER(ParseActivityLog)
CMKWATCH_PUBLIC_PARSER(ParseKeyVaultAudit)
CMKWATCH_PUBLIC_PARSER(ParseAzureDiagnostics)
CMKWATCH_PUBLIC_PARSER(ParseEventGrid)
CMKWATCH_PUBLIC_PARSER(ParseArm)
#undef CMKWATCH_PUBLIC_PARSER

}  // namespace cmkwatch::collector
