// STUB: to be written.
#include "parsers.h"

namespace cmkwatch::collector::internal {

Result<Event> ParseEventGridDoc(od::document&, std::string_view, const ParseLimits&) {
  return Status::Unsupported("parser not written yet");
}

}  // namespace cmkwatch::collector::internal
