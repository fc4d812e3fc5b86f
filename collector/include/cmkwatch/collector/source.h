// Sources: what feeds the collector's spool with events, one step at a time.
//
// Lifecycle (osquery's EventPublisherPlugin shape, ../shared/STYLE.md):
//   construct   cheap; nothing is opened.
//   Setup()     opens what the source needs (watches, descriptors). Called
//               once, before the first RunOnce; a non-ok Status means the
//               source cannot run (e.g. its root does not exist).
//   RunOnce(t)  one step: looks for new input, reads a bounded amount, and
//               hands at most one batch to the SourceSink. When there is
//               nothing to do it blocks up to `t` ms for input (or Stop) and
//               then tries once more. Returns whether it handed a batch; an
//               error is an I/O failure of the source itself or the
//               sink's refusal (see back-pressure below) — the source stays
//               usable and the caller decides how long to back off.
//   Stop()      callable from any thread, any number of times: wakes a
//               blocked RunOnce promptly; every later RunOnce returns false
//               at once.
//   Finished()  true once the source will never hand another batch (a
//               stream at its end, everything accepted); a daemon then
//               stops calling RunOnce. Sources that follow files never
//               finish: a file may always grow.
//   destructor  tear-down: closes every descriptor. Not concurrent with
//               RunOnce.
//   OnAcknowledged(seq)  the analyzer has committed the spool batch `seq` to
//               its timeline. Called from any thread (the collector's
//               sender), for every acknowledged batch, whichever source it
//               came from, possibly more than once. Sources that hold their
//               input until then (KafkaSource: offsets) use it; the others
//               ignore it.
// RunOnce, Setup, Finished, Stats and Checkpoints are called from one thread
// at a time.
//
// Delivery and checkpoints: a batch comes with the FileCheckpoints of every
// file it advanced, saying how far each file has been consumed INCLUDING the
// batch's records. The spool stores them in the same transaction as the
// batch; after a restart the source is constructed with them and neither
// re-reads nor skips a byte.
//
// Back-pressure: when OnBatch returns a non-ok Status (e.g. LimitExceeded
// because the spool is full), the source does not advance. RunOnce returns
// that Status, and the next RunOnce hands the very same batch again before
// reading anything else. A sink that fails must therefore leave the vectors
// it was given unmoved (the source passes them by rvalue reference to avoid
// copying a batch, and keeps them when the call fails).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cmkwatch/collector/parse.h"
#include "cmkwatch/common/config.h"
#include "cmkwatch/common/event.h"
#include "cmkwatch/common/log.h"
#include "cmkwatch/common/metrics.h"
#include "cmkwatch/common/status.h"

namespace cmkwatch::collector {

// How far one file has been consumed. The file is identified by path and by
// (device, inode), so a file replaced under the same path is not mistaken
// for the one the offset belongs to. For plain files, offset is the end of
// the last complete record consumed (never inside a record). For gzip files
// it is 0 until the whole file has been consumed, then its compressed size.
struct FileCheckpoint {
  std::string path;
  uint64_t device = 0;
  uint64_t inode = 0;
  uint64_t offset = 0;
  bool operator==(const FileCheckpoint&) const = default;
};

// Receives batches. Called on the thread that runs RunOnce.
class SourceSink {
 public:
  virtual ~SourceSink() = default;
  // Ok: the batch is durably taken and `through` may be remembered. Any
  // other Status: nothing is taken, the vectors must be left as they were,
  // and the same batch comes again.
  virtual Status OnBatch(std::vector<Event>&& events, std::vector<QuarantineEntry>&& quarantined,
                         const std::vector<FileCheckpoint>& through) = 0;
};

class Source {
 public:
  virtual ~Source() = default;
  virtual Status Setup() = 0;
  virtual Result<bool> RunOnce(int timeout_ms) = 0;
  virtual void Stop() = 0;
  virtual bool Finished() const { return false; }
  virtual void OnAcknowledged(uint64_t sequence) { (void)sequence; }
};

struct DirectorySourceOptions {
  Format format = Format::kAuto;
  ParseLimits limits;
  // Full rescans of the tree: every poll_interval_ms when polling; with
  // inotify, every rescan_interval_ms as a safety net (events can be lost
  // when the kernel queue overflows, which also forces a rescan).
  int poll_interval_ms = 1000;
  int rescan_interval_ms = 30000;
  bool force_polling = false;  // never use inotify (tests, network file systems)
  size_t max_open_files = 64;  // idle descriptors beyond this are closed, LRU first
  size_t max_batch_events = 500;          // events + quarantine entries per batch
  size_t max_batch_bytes = size_t{8} << 20;  // file bytes read per step
  size_t read_chunk_bytes = size_t{64} << 10;
};

struct DirectorySourceStats {
  uint64_t files = 0;          // files followed (discovered) so far
  uint64_t bytes = 0;          // file bytes read (compressed bytes for .gz)
  uint64_t events = 0;         // events handed to the sink (accepted batches)
  uint64_t quarantined = 0;    // quarantine entries handed to the sink
  uint64_t truncations = 0;    // a file shrank below what had been read: reread from 0
  uint64_t replacements = 0;   // a path now names another file (new inode)
  uint64_t deletions = 0;      // followed files that disappeared
  uint64_t rejected_batches = 0;  // OnBatch refusals (back-pressure)
  bool inotify = false;        // whether change notification is in use
};

// Follows a directory tree as Azure Storage diagnostic export lays it out
// (insights-activity-logs/.../PT1H.json, insights-logs-auditevent/
// resourceId=.../y=/m=/d=/h=/m=00/PT1H.json), with blobs synced locally that
// grow by appends during the hour — or, when `root` is a regular file, that
// one file alone.
//
//  * Root: a directory, or a regular file (followed whatever its name; .gz
//    by name as below). Setup fails NotFound when the root does not exist
//    (so a typo is caught at start-up) and InvalidArgument when it is
//    neither (a FIFO or device is a stream: StreamSource). A file root gets
//    every guarantee below; with inotify its parent directory is watched,
//    so a file created or renamed over under that name is seen, and only
//    that one name is considered. (A root that is a symlink is followed
//    through it, but changes to the target are then noticed only by the
//    periodic rescan.)
//  * Files: under `root`, recursively, names ending .json, .jsonl, .ndjson,
//    optionally .gz; hidden entries skipped (the rule ReadPath uses). New
//    files and directories are found through inotify (IN_CREATE, IN_MODIFY,
//    IN_MOVED_TO, IN_CLOSE_WRITE, ...; every directory watched) when
//    available, else by polling; polling also takes over when inotify
//    cannot be set up or its watch limit is hit.
//  * Appends: each plain file keeps one streaming Framer, fed the bytes as
//    they are read. A record is consumed once the framer has cut it
//    (its closing bracket read); a record still being written simply waits
//    inside the framer. The checkpoint stops at the end of the last
//    consumed record, never inside one. Choosing a streaming framer over
//    "feed only complete lines" keeps memory bounded by the framer's
//    record limit however long a line is, and a pretty-printed document
//    written in several pieces still frames correctly.
//  * Partial records: a trailing unfinished record is not quarantined while
//    the file may grow; it is quarantined ("truncated") only when the file
//    is replaced or removed.
//  * Quarantine: a record the framer or a parser refuses becomes a
//    QuarantineEntry (path, offset, line, reason) in the batch; its
//    neighbours are unaffected. A refused region counts as consumed up to
//    the next record or the next newline, whichever comes first.
//  * Truncation (same inode, size below what was read): the file is read
//    again from 0, counted in Stats().truncations; nothing is logged here.
//  * Replacement (same path, new inode): the old file is read to its end
//    through the descriptor still open, its unfinished tail quarantined,
//    then the new file is read from 0. Deleted files likewise, then are
//    forgotten. (An old file whose descriptor had been closed as idle
//    cannot be drained; its bytes written after the last read are lost.)
//  * gzip: a .gz file is read whole once its size and mtime are unchanged
//    across two polls; its checkpoint is its compressed size. If the
//    collector dies while a large .gz is being delivered over several
//    batches, it is read again from the start (the analyzer deduplicates
//    by event id).
//  * Resume: a checkpoint whose path and (device, inode) match a file
//    resumes it at the checkpoint's offset; one that does not match is
//    ignored and the file is read from 0. Records inside a wrapper document
//    ({"records":[...]} spread over lines) resume only at top-level
//    boundaries the framer can start at; Azure exports JSON Lines, where
//    every record is one.
//  * Bounds: at most max_open_files descriptors (idle ones closed LRU and
//    reopened by path with an inode check), max_batch_events records per
//    batch, max_batch_bytes read per step.
class DirectorySource final : public Source {
 public:
  DirectorySource(std::string root, DirectorySourceOptions options, std::vector<FileCheckpoint> resume,
                  SourceSink& sink);
  ~DirectorySource() override;
  DirectorySource(const DirectorySource&) = delete;
  DirectorySource& operator=(const DirectorySource&) = delete;

  Status Setup() override;
  Result<bool> RunOnce(int timeout_ms) override;
  void Stop() override;

  DirectorySourceStats Stats() const;
  // The checkpoints of every followed file as last accepted by the sink.
  std::vector<FileCheckpoint> Checkpoints() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct StreamSourceOptions {
  Format format = Format::kAuto;
  ParseLimits limits;
  size_t max_batch_events = 500;             // events + quarantine entries per batch
  size_t max_batch_bytes = size_t{8} << 20;  // stream bytes read per step
  size_t read_chunk_bytes = size_t{64} << 10;
};

struct StreamSourceStats {
  uint64_t bytes = 0;             // stream bytes read
  uint64_t events = 0;            // events handed to the sink (accepted batches)
  uint64_t quarantined = 0;       // quarantine entries handed to the sink
  uint64_t rejected_batches = 0;  // OnBatch refusals (back-pressure)
};

// Reads a non-seekable stream — stdin, or any pipe or socket descriptor —
// such as `az monitor activity-log list | cmkwatch-collector -`: one JSON
// array (pretty-printed or not), a {"value":[...]} wrapper, concatenated
// documents or JSON Lines, as framing.h accepts.
//
//  * Ownership: `fd` is borrowed; the caller keeps it open for the source's
//    lifetime and closes it. Its flags are left alone (stdin's file
//    description may be shared with other processes): the source never
//    reads without poll() saying the descriptor is readable, so a blocking
//    descriptor never blocks a step beyond its timeout.
//  * `name` (e.g. "-") is the path of every QuarantineEntry; offsets and
//    lines count from the first byte the source reads.
//  * Records are framed as they arrive (a record still being written waits
//    in the framer, bounded by limits.max_record_bytes) and parsed with the
//    same entry points as DirectorySource; a refused record becomes a
//    QuarantineEntry in the batch and its neighbours are unaffected.
//  * Batches: at most max_batch_events events + entries, max_batch_bytes
//    read per step; back-pressure as for every Source: a refused batch is
//    kept and offered again alone, never re-read.
//  * No checkpoints: a stream cannot be rewound, so a restart cannot resume
//    one; batches carry an empty `through`. What was accepted is in the
//    spool; bytes read but not yet accepted when the process dies are lost
//    with the pipe.
//  * End of input: an unfinished trailing record is quarantined ("... the
//    record is truncated"), everything queued is delivered, and Finished()
//    turns true once the last batch is accepted. A read error ends the
//    stream the same way and is returned once by RunOnce.
//  * gzip is not decompressed: a stream starting with gzip's magic bytes
//    gets one QuarantineEntry saying so and is not read further (pipe it
//    through `zcat`, or name the file so DirectorySource reads it).
class StreamSource final : public Source {
 public:
  StreamSource(int fd, std::string name, StreamSourceOptions options, SourceSink& sink);
  ~StreamSource() override;
  StreamSource(const StreamSource&) = delete;
  StreamSource& operator=(const StreamSource&) = delete;

  Status Setup() override;
  Result<bool> RunOnce(int timeout_ms) override;
  void Stop() override;
  bool Finished() const override;

  StreamSourceStats Stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct EventGridSourceOptions {
  // Names the endpoint in metrics (label endpoint=), logs and quarantine
  // locations ("eventgrid:<name>/sha256:<body hash prefix>").
  std::string name = "eventgrid";
  std::string listen;                  // "host:port", required
  std::string url_path = "/eventgrid";  // the one path served
  // Both set: HTTPS. Both empty: plain HTTP, refused unless `listen` is a
  // loopback address (behind a TLS-terminating proxy, or tests).
  std::string tls_cert_file;
  std::string tls_key_file;
  config::SecretSource secret;  // required; read at Setup
  std::string secret_query_parameter = "access_token";  // "" = not accepted in the query
  std::string secret_header;                           // "" = not accepted in a header
  size_t max_body_bytes = size_t{1} << 20;
  int max_connections = 64;
  int request_timeout_ms = 15'000;  // accept/first byte → last body byte
  int idle_timeout_ms = 60'000;     // keep-alive, between requests
  // A delivery refused by a full spool is held (its connection waiting)
  // and offered again for this long before it is answered 503.
  int backpressure_hold_ms = 2'000;
  int retry_after_s = 10;  // Retry-After of a 503
  std::vector<std::string> allowed_origins;  // CloudEvents handshake; empty = any
  std::string allowed_rate = "*";            // WebHook-Allowed-Rate
  ParseLimits limits;
};

struct EventGridSourceStats {
  uint64_t deliveries_accepted = 0;  // answered 200 after their batch was spooled
  uint64_t events = 0;               // events handed to the sink (accepted batches)
  uint64_t quarantined = 0;          // quarantine entries handed to the sink
  uint64_t eventgrid_handshakes = 0;    // SubscriptionValidationEvent answered
  uint64_t cloudevents_handshakes = 0;  // OPTIONS answered with WebHook-Allowed-Origin
  uint64_t rejected_batches = 0;     // OnBatch refusals (back-pressure)
  uint64_t connections = 0;          // accepted
  uint64_t tls_failures = 0;
  std::map<std::string, uint64_t> refused;  // by reason (metric label), only non-zero ones
};

// Receives Azure Event Grid deliveries on an HTTPS endpoint (a webhook
// event subscription's target) and spools their events.
//
//  * Protocol: Event Grid schema and CloudEvents 1.0, single and batched;
//    both validation handshakes; a shared secret on every request (query
//    parameter or header, constant-time compare) — see
//    collector/src/event_grid_endpoint.h for the details and answers.
//  * Durability: a delivery is answered 200 only after its batch (events
//    and quarantine entries) was accepted by the SourceSink, i.e. is in the
//    spool; a crash before that leaves Event Grid to retry. A retried
//    delivery carries the same events with the same ids (Azure's), which
//    the analyzer stores once.
//  * Nothing silently dropped: a body that is not a delivery is recorded
//    as a quarantine entry (spooled) before the 400; an authenticated body
//    over max_body_bytes likewise before the 413; an event the parser
//    refuses is quarantined and its neighbours spooled (200).
//  * Back-pressure (a departure from the Source contract, which cannot
//    apply to a push source: the batch's owner is the sender): a batch the
//    sink refuses is held with its connection waiting and offered again on
//    every RunOnce for backpressure_hold_ms; RunOnce returns the refusal
//    meanwhile. If the spool does not free up in time the delivery is
//    answered 503 with Retry-After and Event Grid keeps it. Other deliveries
//    arriving while one is held are answered 503 at once.
//  * Steps: each RunOnce serves the socket for up to `timeout_ms` and hands
//    at most one batch; requests beyond it wait (bounded by
//    max_connections) for the next step. No checkpoints: batches carry an
//    empty `through`.
//  * Threading: as every Source; `metrics` and `logger` (either may be
//    null) must outlive the source. Never logs a secret or a request's
//    query string; log lines about refusals are rate-limited.
class EventGridSource final : public Source {
 public:
  EventGridSource(EventGridSourceOptions options, SourceSink& sink, metrics::Registry* metrics = nullptr,
                  log::Logger* logger = nullptr);
  ~EventGridSource() override;
  EventGridSource(const EventGridSource&) = delete;
  EventGridSource& operator=(const EventGridSource&) = delete;

  // Reads the secret, loads the certificate and binds the address:
  // InvalidArgument (options, files, plain HTTP off loopback), NotFound (a
  // file or variable missing), IoError (bind failed).
  Status Setup() override;
  Result<bool> RunOnce(int timeout_ms) override;
  void Stop() override;

  uint16_t port() const;  // the bound port, after Setup (useful with port 0)
  EventGridSourceStats Stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cmkwatch::collector
