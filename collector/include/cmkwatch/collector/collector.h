// Collector: the long-running service that follows Azure log sources,
// parses them, spools batches durably and sends them to the analyzer.
//
//   sources (directory trees, single files, stdin, Event Grid push
//   endpoints, Kafka / Event Hubs consumer groups)
//     → SourceSink: Spool::Append (batch + file checkpoints, one transaction)
//     → sender: Spool::Pending → ZeroMQ DEALER → analyzer
//     ← ack(sequence) → Spool::Ack
//
// Contract (issue 3):
//  * Nothing is sent that is not first durable in the spool, and nothing
//    leaves the spool until the analyzer acknowledged it (after its commit).
//    A batch not acknowledged within resend_after_ms is sent again, as are
//    all pending batches after a restart; the analyzer deduplicates.
//  * Back-pressure: when the spool is at its cap, sources stop reading (the
//    source keeps the refused batch and offers it again; an Event Grid
//    endpoint holds a refused delivery briefly, then answers it 503 so that
//    Event Grid keeps it and retries); nothing is dropped. The collector
//    logs when it starts and stops being blocked.
//  * Restart: file sources resume from the checkpoints committed with the
//    last spooled batch, so no byte is read twice or skipped.
//  * Acknowledgements reach the sources too (Source::OnAcknowledged): a
//    Kafka source commits its offsets only once the analyzer holds the
//    events from them (kafka_source.h).
//  * Metrics: with `http` set, GET /metrics serves the collector's own
//    counters and each Kafka source's per-partition figures (loopback only).
//
// Threading: Run() drives the sources on the calling thread and the ZeroMQ
// link on a second thread it owns; Stop() may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <functional>
#include <string>
#include <vector>

#include "cmkwatch/collector/kafka_source.h"
#include "cmkwatch/collector/parse.h"
#include "cmkwatch/collector/source.h"
#include "cmkwatch/common/log.h"
#include "cmkwatch/common/metrics.h"
#include "cmkwatch/common/status.h"
#include "cmkwatch/common/transport.h"

namespace cmkwatch::collector {

enum class SourceType : uint8_t {
  kPath,       // a directory tree, a single file, or "-" for stdin
  kEventGrid,  // an HTTPS endpoint Event Grid pushes deliveries to
  kKafka,      // a Kafka topic / Event Hub, read in a consumer group
};

struct SourceConfig {
  SourceType type = SourceType::kPath;
  std::string path;  // kPath: a directory tree or a single file to follow, or "-" for stdin
  Format format = Format::kAuto;  // kPath
  EventGridSourceOptions eventgrid;  // kEventGrid
  KafkaSourceOptions kafka;          // kKafka (its own format)
};

struct CollectorOptions {
  std::string id;                                  // required; names this collector's spool and sequences
  std::string connect = "tcp://127.0.0.1:5570";    // the analyzer's endpoint
  std::string spool_path;                          // required
  uint64_t spool_max_bytes = uint64_t{1} << 30;
  std::vector<SourceConfig> sources;               // at least one
  // Defaults for every file source (polling, batch sizes, limits); each
  // source's format overrides `format`.
  DirectorySourceOptions source_defaults;
  // link.client_curve set = CURVE.
  transport::LinkOptions link;
  // An unacknowledged batch is sent again after this long.
  int resend_after_ms = 5000;
  // Batches sent and not yet acknowledged, at most.
  size_t max_inflight_batches = 64;
  // Stop on its own once every source is finished (stdin at EOF) and the
  // spool is empty: for `az ... | cmkwatch-collector -`.
  bool exit_when_drained = false;
  // "host:port" to serve Prometheus /metrics and /healthz on (the Event Grid
  // endpoints' counters, each Kafka source's per-partition figures); "" =
  // none. Loopback only unless allowed.
  std::string http;
  bool http_allow_non_loopback = false;
  // Called on the Run() thread once per turn over the sources (at least
  // every few hundred milliseconds, busy or idle): proof the loop is alive,
  // for a watchdog (systemd's WatchdogSec=). Must not block.
  std::function<void()> on_loop;
};

struct CollectorStats {
  uint64_t batches_spooled = 0;
  uint64_t events_spooled = 0;
  uint64_t quarantined_spooled = 0;
  uint64_t batches_sent = 0;       // sends, resends included
  uint64_t batches_resent = 0;
  uint64_t batches_acked = 0;
  uint64_t blocked_by_spool = 0;   // times a source was refused because the spool was full
  uint64_t pending_batches = 0;
  uint64_t pending_bytes = 0;
};

class Collector {
 public:
  // Opens the spool and sets up every source (a missing path is an error
  // naming it), and connects the link.
  static Result<std::unique_ptr<Collector>> Start(const CollectorOptions& options, log::Logger& logger);
  ~Collector();
  Collector(const Collector&) = delete;
  Collector& operator=(const Collector&) = delete;

  // Runs until Stop() (or, with exit_when_drained, until drained).
  Status Run();
  void Stop();
  CollectorStats Stats() const;
  // The registry behind /metrics (the sources register their series in it).
  metrics::Registry& metrics();
  // The bound port of the /metrics endpoint (0 without one).
  uint16_t http_port() const;

 private:
  struct Impl;
  explicit Collector(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cmkwatch::collector
