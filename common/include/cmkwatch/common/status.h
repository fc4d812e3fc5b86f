// Status and Result<T>: the error types that cross component boundaries.
//
// Nothing in cmkwatch throws across a component boundary. Parsers, decoders
// and loaders return a Status (or a Result<T> carrying a value or a Status);
// exceptions from third-party libraries are caught in the adapter that wraps
// them. A Status is cheap when ok (no allocation) and carries a code a caller
// can branch on plus a message a human can read.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace cmkwatch {

class [[nodiscard]] Status {
 public:
  enum class Code {
    kOk = 0,
    kInvalidArgument,  // the caller passed something unusable (usage errors)
    kNotFound,
    kIoError,          // the file system or a socket failed
    kCorruption,       // outside input is malformed: quarantine it
    kLimitExceeded,    // outside input breaks a hard size/depth limit
    kUnsupported,      // well-formed input we do not handle (unknown format)
    kInternal,
  };

  Status() = default;
  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) { return {Code::kInvalidArgument, std::move(msg)}; }
  static Status NotFound(std::string msg) { return {Code::kNotFound, std::move(msg)}; }
  static Status IoError(std::string msg) { return {Code::kIoError, std::move(msg)}; }
  static Status Corruption(std::string msg) { return {Code::kCorruption, std::move(msg)}; }
  static Status LimitExceeded(std::string msg) { return {Code::kLimitExceeded, std::move(msg)}; }
  static Status Unsupported(std::string msg) { return {Code::kUnsupported, std::move(msg)}; }
  static Status Internal(std::string msg) { return {Code::kInternal, std::move(msg)}; }

  bool ok() const { return code_ == Code::kOk; }
  bool IsInvalidArgument() const { return code_ == Code::kInvalidArgument; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsIoError() const { return code_ == Code::kIoError; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }
  bool IsLimitExceeded() const { return code_ == Code::kLimitExceeded; }
  bool IsUnsupported() const { return code_ == Code::kUnsupported; }

  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "Corruption: <message>", or "OK".
  std::string ToString() const;
  // The same code with `context` put before the message ("source x: ..."),
  // for a caller that knows where the failure happened. Ok stays Ok.
  Status WithContext(std::string_view context) const {
    return ok() ? *this : Status(code_, std::string(context) + message_);
  }

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

std::string_view CodeName(Status::Code code);

// A value of T, or the Status that explains why there is none.
// Constructing from an ok Status is a programming error (asserted).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).ok());
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  // The error, or an ok Status when a value is held.
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace cmkwatch

// Early return of a failed Status from a function returning Status or
// Result<T>: the one spelling of the pattern, for every component.
#define CMK_RETURN_IF_ERROR(expr)        \
  do {                                   \
    ::cmkwatch::Status cmk_s_ = (expr);  \
    if (!cmk_s_.ok()) return cmk_s_;     \
  } while (0)
