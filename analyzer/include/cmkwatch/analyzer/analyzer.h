// Analyzer: the long-running service that receives collectors' batches over
// ZeroMQ, stores them in the timeline and acknowledges them.
//
// Contract (issue 3, ../shared/DESIGN.md "Wire" and "Timeline"):
//  * An ack for a batch is sent only after the transaction holding the
//    batch has committed (Timeline::InsertBatch returned). A collector may
//    then forget the batch; until then it resends, and the timeline's
//    idempotent insert turns resends into counted duplicates. Result:
//    at-least-once on the wire, exactly-once in the timeline.
//  * On a CURVE link, a batch whose collector id differs from the id its
//    key is allowlisted for is refused (logged, counted, not stored, not
//    acknowledged): one collector's key cannot write another's sequence.
//  * A message that does not decode is refused the same way; the link stays
//    up for the next one.
//  * Stop() (any thread, e.g. from a signal handler thread) ends Run() after
//    the batch in hand is committed and acknowledged: a graceful stop never
//    leaves a committed batch unacknowledged on purpose (an ack lost on the
//    wire is covered by the collector's resend).
//
// Threading: Run() on one thread owns the socket and the database; Stop()
// and Stats() may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cmkwatch/analyzer/rules.h"
#include "cmkwatch/analyzer/timeline.h"
#include "cmkwatch/common/log.h"
#include "cmkwatch/common/metrics.h"
#include "cmkwatch/common/status.h"
#include "cmkwatch/common/transport.h"

namespace cmkwatch::analyzer {

struct AnalyzerOptions {
  std::string db_path;                        // required
  std::string bind = "tcp://127.0.0.1:5570";  // ZeroMQ endpoint collectors connect to
  // HTTP endpoint for /healthz and /metrics ("" disables it). Loopback only
  // unless http_allow_non_loopback.
  std::string http = "127.0.0.1:9464";
  bool http_allow_non_loopback = false;
  TimelineOptions timeline;
  // Link settings; link.server_curve set = CURVE with a ZAP allowlist.
  transport::LinkOptions link;
  // Retention: events older than this many days (event time) are pruned,
  // chains kept verifiable by anchors. 0 keeps everything.
  int64_t retention_days = 0;
  // How often retention runs.
  int64_t retention_interval_s = 3600;
  // The compliance rules: enable/disable, severity overrides, suppressions.
  RulesConfig rules;
  // Called on the Run() thread after alert changes have committed to the
  // alert_changes table (the alert outbox), so a sender can wake at once
  // instead of polling. Must not block.
  std::function<void()> on_alert_changes;
  // Called on the Run() thread once per turn of its receive loop (at least
  // every half second, busy or idle): proof that the loop is alive, for a
  // watchdog (systemd's WatchdogSec=). Must not block.
  std::function<void()> on_loop;
};

struct AnalyzerStats {
  uint64_t batches = 0;            // committed (resends included)
  uint64_t resent_batches = 0;     // batches at or below a collector's last sequence
  uint64_t events_received = 0;
  uint64_t events_stored = 0;
  uint64_t duplicates = 0;
  uint64_t quarantined = 0;        // quarantine entries stored
  uint64_t refused_messages = 0;   // undecodable, or a collector id its key may not use
  uint64_t store_errors = 0;       // batches the timeline refused (not acknowledged)
};

class Analyzer {
 public:
  // Opens the timeline and binds the socket (and the HTTP endpoint). Errors
  // name what failed: a database that is not a timeline, an endpoint in
  // use, a plaintext bind to a non-local address.
  static Result<std::unique_ptr<Analyzer>> Start(const AnalyzerOptions& options, log::Logger& logger);
  ~Analyzer();
  Analyzer(const Analyzer&) = delete;
  Analyzer& operator=(const Analyzer&) = delete;

  // Serves until Stop(). Returns an error only when the database or the
  // socket fails in a way the analyzer cannot recover from.
  Status Run();
  void Stop();

  AnalyzerStats Stats() const;

  // Alert changes from outside the rules (cmkwatch's own health, e.g. an
  // alert sink that refuses deliveries), stored by Run() through the same
  // path as the rules' changes: the alerts table, the outbox, the log.
  // Any thread; bounded (beyond 1000 queued, further changes are dropped
  // and logged).
  void Raise(std::vector<AlertChange> changes);
  // New rule settings and suppressions (a SIGHUP reload), applied by Run()
  // before the next batch it stores: no connection is dropped and no batch
  // is judged half under the old rules. Waits up to `wait` for Run() to
  // take them and says whether it did (if not, it will, at its next turn).
  // Any thread.
  bool Reload(RulesConfig rules, std::chrono::milliseconds wait = std::chrono::seconds(10));

  // The registry /metrics renders, for components that run beside the
  // analyzer in the same process (the alert sender). Lives as long as the
  // Analyzer.
  metrics::Registry& metrics();
  // The bound ZeroMQ endpoint ("tcp://127.0.0.1:*" resolved) and HTTP port.
  const std::string& endpoint() const;
  int http_port() const;

 private:
  struct Impl;
  explicit Analyzer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cmkwatch::analyzer
