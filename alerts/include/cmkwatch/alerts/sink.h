// Alert sinks: where alert lifecycle changes go (issue 5).
//
// One small interface; each kind of sink (console, file, slack, teams,
// pagerduty, webhook, email, syslog) is a factory in a name → factory map
// (sinks.cpp), so adding one is one class and one map entry.
//
// A sink only sends. Retrying, ordering, routing and remembering what was
// delivered belong to the Dispatcher (dispatcher.h), which tells a sink's
// failures apart by the SendResult it returns:
//   kDelivered  the endpoint took it (HTTP 2xx, SMTP 250, bytes written);
//   kRetry      try again later: no answer, a timeout, 5xx, 408, 429 (with
//               the endpoint's Retry-After when it sent one);
//   kPermanent  the endpoint refused this message and would refuse it
//               again (other 4xx, a mailbox that does not exist): it is
//               dead-lettered, not retried.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cmkwatch/alerts/config.h"
#include "cmkwatch/alerts/message.h"
#include "cmkwatch/common/status.h"

namespace cmkwatch::alerts {

struct SendResult {
  enum class Outcome : uint8_t { kDelivered, kRetry, kPermanent };
  Outcome outcome = Outcome::kRetry;
  // HTTP status or SMTP reply code; 0 when there was no answer.
  int code = 0;
  // What happened, for logs and `cmkwatch test-sink`: the endpoint's answer
  // (its first 200 bytes, control characters escaped) or the transport
  // error. Never contains a secret (URLs are not echoed).
  std::string detail;
  // From a Retry-After header; 0 = use the backoff.
  int64_t retry_after_ns = 0;
};

std::string_view ToString(SendResult::Outcome o);  // "delivered", "retry", "permanent"

class Sink {
 public:
  virtual ~Sink() = default;
  // Sends `messages` (exactly one, unless the sink batches: see
  // max_batch()). Blocks for at most the sink's timeout. Called from one
  // thread at a time.
  virtual SendResult Send(std::span<const Message> messages) = 0;
  // More than 1 for a sink that sends a burst as one (email digests).
  virtual size_t max_batch() const { return 1; }
  // How long a batching sink waits for a burst to gather after its first
  // change before sending; 0 = send at once.
  virtual int64_t batch_window_ns() const { return 0; }
};

// Builds the sink a configuration entry describes: the secrets named in it
// (environment variables, files) are read now, so a missing one fails at
// start and names the variable or path, never the value.
Result<std::unique_ptr<Sink>> MakeSink(const SinkConfig& config);

// The sink types MakeSink knows, sorted.
std::vector<std::string> SinkTypes();

}  // namespace cmkwatch::alerts
