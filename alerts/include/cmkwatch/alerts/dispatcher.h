// The alert sender: delivers every committed alert change to every sink
// whose route takes it, from the durable outbox in the analyzer's database.
//
// The outbox. The analyzer appends each alert change to the alert_changes
// table in the transaction that commits its evidence (analyzer/src/
// alert_store.h), so a change exists exactly when its cause is stored. The
// dispatcher keeps, per sink, in the same database:
//   sink_cursors  the last change seq the sink is done with (delivered,
//                 not routed to it, or dead-lettered), plus the attempt
//                 count, next attempt time and last error of the change at
//                 its head — so a restart resumes the backoff, not resets it;
//   dead_letters  changes a sink refused for good (what, why, when).
// A sink's cursor only moves after the endpoint accepted (or permanently
// refused) a change, so a crash or SIGKILL at any point loses nothing; the
// worst case is one change sent twice, with the same delivery id
// (webhook-id, Message-ID, PagerDuty dedup_key) so the receiver can tell.
//
// Order and isolation. Each sink has its own thread, its own database
// connection and its own queue position: one slow or broken sink never
// delays another. Within a sink changes go in commit order (an alert's
// resolution never overtakes its opening), so a change that keeps failing
// holds back the changes after it on that sink only.
//
// Failures. kRetry backs off exponentially (RetryPolicy, ±20 % jitter), or
// waits what Retry-After asked (up to an hour, even past the policy's max). kPermanent
// (and a change still failing after give_up_after, when set) is
// dead-lettered: logged, counted, and raised as a CMKW001 alert through
// `raise`, which the remaining sinks deliver; the sink's next successful
// delivery resolves it.
//
// A sink new to the database starts after `start_after_seq` (the changes
// already in the outbox when the analyzer started): adding a sink does not
// resend history.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cmkwatch/alerts/config.h"
#include "cmkwatch/alerts/sink.h"
#include "cmkwatch/common/log.h"
#include "cmkwatch/common/metrics.h"
#include "cmkwatch/common/status.h"

namespace cmkwatch::alerts {

struct DispatcherOptions {
  std::string db_path;  // the analyzer's timeline database
  RetryPolicy retry;
  int64_t start_after_seq = 0;
  // How often a sink looks for new changes when nobody called Notify().
  int64_t poll_interval_ns = 1'000'000'000;
  int busy_timeout_ms = 10'000;
  // Put before every title sent ("[replay] " for `cmkwatch replay
  // --deliver`, so nobody mistakes an old incident for a new one).
  std::string title_prefix;
  // Self-alerts (CMKW001) go here; null = logged only.
  std::function<void(std::vector<AlertChange>)> raise;
  // Deliveries attempted/succeeded/failed/dead-lettered per sink, outbox
  // depth and oldest age; null = not exported.
  metrics::Registry* metrics = nullptr;
};

struct SinkStats {
  std::string name;
  uint64_t attempted = 0, delivered = 0, failed = 0, dead_lettered = 0, skipped = 0;
  int64_t cursor = 0;  // last change seq done with
};

// The newest alert_changes seq in the database at `db_path`, 0 when the file
// or the table does not exist yet.
Result<int64_t> LastChangeSeq(const std::string& db_path);

class Dispatcher {
 public:
  // `sinks` pairs each configured sink with its name (unique). Opens one
  // connection per sink, creates the dispatcher's tables when missing and
  // starts the threads.
  static Result<std::unique_ptr<Dispatcher>> Start(const DispatcherOptions& options,
                                                   std::vector<std::pair<SinkConfig, std::unique_ptr<Sink>>> sinks,
                                                   log::Logger& logger);
  ~Dispatcher();  // Stop()s
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // New changes committed: wake every sink now. Any thread, never blocks.
  void Notify();
  // Ends the threads: a send in flight finishes (or times out) first.
  void Stop();

  std::vector<SinkStats> Stats() const;

 private:
  struct Impl;
  explicit Dispatcher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A rendered sample alert (opened), for `cmkwatch test-sink`.
Message SampleMessage(int64_t now_ns);

}  // namespace cmkwatch::alerts
