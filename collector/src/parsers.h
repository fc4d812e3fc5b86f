// Private: each parser's entry on an already opened document, so that
// detection and parsing share one simdjson pass over the record. `raw` is the
// record's bytes (copied into Event::raw and hashed for ids).
#pragma once

#include "cmkwatch/collector/parse.h"
#include "json_access.h"

namespace cmkwatch::collector::internal {

Result<Format> DetectFormatDoc(od::document& doc);

Result<Event> ParseActivityLogDoc(od::document& doc, std::string_view raw, const ParseLimits& limits);
Result<Event> ParseKeyVaultAuditDoc(od::document& doc, std::string_view raw, const ParseLimits& limits);
Result<Event> ParseAzureDiagnosticsDoc(od::document& doc, std::string_view raw, const ParseLimits& limits);
Result<Event> ParseEventGridDoc(od::document& doc, std::string_view raw, const ParseLimits& limits);
Result<Event> ParseArmDoc(od::document& doc, std::string_view raw, const ParseLimits& limits);

}  // namespace cmkwatch::collector::internal
