#include "cmkwatch/common/status.h"

namespace cmkwatch {

std::string_view CodeName(Status::Code code) {
  switch (code) {
    case Status::Code::kOk: return "OK";
    case Status::Code::kInvalidArgument: return "Invalid argument";
    case Status::Code::kNotFound: return "Not found";
    case Status::Code::kIoError: return "I/O error";
    case Status::Code::kCorruption: return "Corruption";
    case Status::Code::kLimitExceeded: return "Limit exceeded";
    case Status::Code::kUnsupported: return "Unsupported";
    case Status::Code::kInternal: return "Internal";
  }
  return "Unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out(CodeName(code_));
  out += ": ";
  out += message_;
  return out;
}

}  // namespace cmkwatch
