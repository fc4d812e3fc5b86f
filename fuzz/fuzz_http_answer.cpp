// What an alert endpoint answers (status line digits, Retry-After, body),
// which whoever runs or intercepts the endpoint controls: Retry-After never
// yields a negative or unbounded delay, the outcome follows the status, and
// the detail that reaches logs is bounded and free of control characters.
//
// Input: "<status>\n<retry-after>\n<body>".
#include <string>

#include "fuzz_util.h"
#include "transport.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cmkwatch::alerts;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const size_t nl1 = text.find('\n');
  if (nl1 == std::string_view::npos) return 0;
  const size_t nl2 = text.find('\n', nl1 + 1);
  if (nl2 == std::string_view::npos) return 0;
  internal::HttpAnswer a;
  int status = 0;
  for (char c : text.substr(0, std::min<size_t>(nl1, 3))) {
    if (c < '0' || c > '9') return 0;
    status = status * 10 + (c - '0');
  }
  a.status = status;
  a.retry_after = std::string(text.substr(nl1 + 1, nl2 - nl1 - 1));
  a.body = std::string(text.substr(nl2 + 1, 4096));
  if (status == 0) a.error = a.body;

  constexpr int64_t kNow = 1'764'600'000'000'000'000;
  if (auto d = internal::ParseRetryAfter(a.retry_after, kNow)) {
    CMK_FUZZ_CHECK(*d >= 0);
    CMK_FUZZ_CHECK(*d <= int64_t{999'999'999} * 1'000'000'000);
  }
  const SendResult r = internal::ClassifyHttp(a, kNow);
  CMK_FUZZ_CHECK(r.retry_after_ns >= 0);
  if (status >= 200 && status < 300) CMK_FUZZ_CHECK(r.outcome == SendResult::Outcome::kDelivered);
  if (status == 429 || status >= 500) CMK_FUZZ_CHECK(r.outcome == SendResult::Outcome::kRetry);
  if (r.outcome != SendResult::Outcome::kRetry) CMK_FUZZ_CHECK(r.retry_after_ns == 0);
  CMK_FUZZ_CHECK(r.detail.size() <= 230);
  for (unsigned char c : r.detail) CMK_FUZZ_CHECK(c >= 0x20 && c != 0x7f);
  return 0;
}
