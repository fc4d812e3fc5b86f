// StreamSource: one non-seekable stream (stdin, a pipe), framed as it
// arrives.
//
// Shape of one RunOnce step:
//   1. A batch refused earlier (back-pressure) is offered again, alone.
//   2. Fill: while poll() says the descriptor is readable, chunks are read
//      into the streaming framer, whose records are parsed into a queue,
//      until max_batch_events are queued or max_batch_bytes have been read.
//   3. Assemble at most max_batch_events from the queue and deliver them.
// When a step finds nothing, RunOnce waits in poll() on the descriptor and
// the stop signal, then steps once more.
//
// Why poll() before every read instead of O_NONBLOCK: the descriptor is
// borrowed, and stdin's open file description is often shared with the
// shell or other processes of a pipeline; changing its flags would change
// theirs. After poll() reports POLLIN or POLLHUP a single read() returns
// without blocking.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <optional>
#include <variant>

#include "cmkwatch/collector/framing.h"
#include "cmkwatch/collector/reader.h"
#include "cmkwatch/collector/source.h"
#include "read_util.h"
#include "stop_signal.h"

namespace cmkwatch::collector {
namespace {

using Item = std::variant<Event, QuarantineEntry>;

constexpr unsigned char kGzipMagic0 = 0x1f;
constexpr unsigned char kGzipMagic1 = 0x8b;
constexpr size_t kMinChunkBytes = 4096;

// Turns what the framer cuts into queued Items, in stream order.
class QueueSink final : public FramerSink {
 public:
  QueueSink(std::deque<Item>& queue, const std::string& name, const ReadOptions& options,
            const int64_t& snapshot_time)
      : queue_(queue), name_(name), options_(options), snapshot_time_(snapshot_time) {}

  void OnRecord(const FramedRecord& record) override {
    auto parsed = internal::ParseFramed(record, name_, options_, snapshot_time_);
    if (auto* event = std::get_if<Event>(&parsed)) {
      queue_.emplace_back(std::move(*event));
    } else {
      queue_.emplace_back(std::get<Quarantined>(std::move(parsed)));
    }
  }
  void OnError(const FrameError& error) override { queue_.emplace_back(internal::FrameErrorEntry(name_, error)); }

 private:
  std::deque<Item>& queue_;
  const std::string& name_;
  const ReadOptions& options_;
  const int64_t& snapshot_time_;  // refreshed by the source before each read
};

}  // namespace

struct StreamSource::Impl {
  Impl(int in_fd, std::string stream_name, StreamSourceOptions opts, SourceSink& batch_sink)
      : fd(in_fd), name(std::move(stream_name)), options(opts), sink(batch_sink) {
    read_options.format = options.format;
    read_options.limits = options.limits;
    read_options.chunk_bytes = std::max(options.read_chunk_bytes, kMinChunkBytes);
    options.max_batch_events = std::max<size_t>(options.max_batch_events, 1);
    options.max_batch_bytes = std::max<size_t>(options.max_batch_bytes, 1);
    framer = std::make_unique<Framer>(framer_sink, internal::FramerOptionsFor(read_options.limits));
  }

  // --- configuration and collaborators
  int fd;  // borrowed
  std::string name;
  StreamSourceOptions options;
  ReadOptions read_options;
  SourceSink& sink;
  internal::StopSignal stop;
  bool set_up = false;

  // --- framing
  std::deque<Item> queue;
  int64_t snapshot_time = 0;
  QueueSink framer_sink{queue, name, read_options, snapshot_time};
  std::unique_ptr<Framer> framer;
  std::vector<char> buf;
  // How many of the stream's first two bytes have been compared with
  // gzip's magic. 1 means the first byte was 0x1f and came alone: it is
  // held back (not yet fed) until the next byte decides.
  int sniffed = 0;

  // --- end of input
  bool at_end = false;                 // EOF or read error seen; nothing more is read
  std::optional<Status> pending_error;  // a read error not yet returned by RunOnce

  // --- the batch being offered
  struct Batch {
    std::vector<Event> events;
    std::vector<QuarantineEntry> quarantined;
  };
  std::optional<Batch> inflight;
  const std::vector<FileCheckpoint> no_checkpoints;  // a stream cannot be resumed

  StreamSourceStats stats;

  Status Setup() {
    if (fd < 0 || ::fcntl(fd, F_GETFL) < 0) {
      return Status::InvalidArgument(name + ": not an open file descriptor");
    }
    if (Status s = stop.Open(); !s.ok()) return s;
    buf.resize(read_options.chunk_bytes + kPadding);
    set_up = true;
    return Status::Ok();
  }

  // ----------------------------------------------------------------- fill

  void FeedHeldByte() {
    if (sniffed == 1) {
      const char held = static_cast<char>(kGzipMagic0);
      framer->Feed(std::string_view(&held, 1));
    }
    sniffed = 2;
  }

  // The whole stream is refused in one entry rather than as a quarantine
  // entry per "line" of compressed bytes, which would say nothing useful.
  void RefuseGzip() {
    sniffed = 2;
    at_end = true;
    queue.emplace_back(QuarantineEntry{name, 0, 1, "unknown",
                                       "input is gzip-compressed; a stream is not decompressed (pipe it through "
                                       "zcat, or give the file's path instead); nothing of it was read"});
  }

  // `data` is followed by kPadding readable bytes (buf's tail).
  void Consume(const char* data, size_t n) {
    if (sniffed < 2) {
      const auto first = static_cast<unsigned char>(data[0]);
      if (sniffed == 1) {
        if (first == kGzipMagic1) {
          RefuseGzip();
          return;
        }
        FeedHeldByte();
      } else if (first != kGzipMagic0) {
        sniffed = 2;
      } else if (n == 1) {
        sniffed = 1;
        return;
      } else if (static_cast<unsigned char>(data[1]) == kGzipMagic1) {
        RefuseGzip();
        return;
      } else {
        sniffed = 2;
      }
    }
    framer->Feed(std::string_view(data, n), kPadding);
  }

  // End of input: an unfinished record is reported by the framer.
  void End() {
    FeedHeldByte();
    framer->Finish();
    at_end = true;
  }

  void Fail(int err) {
    pending_error = Status::IoError(name + ": read failed: " + std::strerror(err));
    End();
  }

  // Reads what is ready, without blocking. Returns true when the step's
  // budget was spent (more may be ready at once).
  bool Fill() {
    snapshot_time = internal::SnapshotTimeOf(fd);
    uint64_t step_bytes = 0;
    while (!at_end) {
      if (queue.size() >= options.max_batch_events || step_bytes >= options.max_batch_bytes) return true;
      pollfd p{fd, POLLIN, 0};
      int rc;
      do {
        rc = ::poll(&p, 1, 0);
      } while (rc < 0 && errno == EINTR);
      if (rc < 0) {
        Fail(errno);
        return false;
      }
      if (rc == 0) return false;
      if ((p.revents & POLLNVAL) != 0) {
        Fail(EBADF);  // closed under us
        return false;
      }
      // POLLIN, POLLHUP or POLLERR: read returns bytes, 0 or the error.
      ssize_t n;
      do {
        n = ::read(fd, buf.data(), read_options.chunk_bytes);
      } while (n < 0 && errno == EINTR);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return false;  // the caller made it non-blocking
        Fail(errno);
        return false;
      }
      if (n == 0) {
        End();
        return false;
      }
      const auto got = static_cast<size_t>(n);
      stats.bytes += got;
      step_bytes += got;
      Consume(buf.data(), got);
    }
    return false;
  }

  // ------------------------------------------------------------- deliver

  bool Assemble() {
    if (queue.empty()) return false;
    Batch batch;
    for (size_t i = 0; i < options.max_batch_events && !queue.empty(); ++i) {
      Item& item = queue.front();
      if (auto* e = std::get_if<Event>(&item)) {
        batch.events.push_back(std::move(*e));
      } else {
        batch.quarantined.push_back(std::get<QuarantineEntry>(std::move(item)));
      }
      queue.pop_front();
    }
    inflight = std::move(batch);
    return true;
  }

  Result<bool> Deliver() {
    Batch& batch = *inflight;
    const size_t events = batch.events.size();
    const size_t quarantined = batch.quarantined.size();
    Status status = sink.OnBatch(std::move(batch.events), std::move(batch.quarantined), no_checkpoints);
    if (!status.ok()) {
      ++stats.rejected_batches;
      return status;
    }
    stats.events += events;
    stats.quarantined += quarantined;
    inflight.reset();
    return true;
  }

  // ---------------------------------------------------------------- step

  struct StepResult {
    Result<bool> produced;
    bool budget_spent;
  };

  StepResult Step() {
    const bool budget_spent = Fill();
    if (Assemble()) return {Deliver(), budget_spent};
    if (pending_error) {
      // Everything read before the error has been delivered; say it once.
      Status error = std::move(*pending_error);
      pending_error.reset();
      return {std::move(error), false};
    }
    return {false, budget_spent};
  }

  void Wait(int timeout_ms) {
    pollfd fds[2] = {{stop.fd(), POLLIN, 0}, {fd, POLLIN, 0}};
    int rc;
    do {
      rc = ::poll(fds, 2, std::max(timeout_ms, 0));
    } while (rc < 0 && errno == EINTR);
  }

  Result<bool> RunOnce(int timeout_ms) {
    if (stop.raised()) return false;
    if (!set_up) return Status::InvalidArgument("StreamSource::RunOnce before Setup");
    if (inflight) return Deliver();
    if (Finished()) return false;
    StepResult first = Step();
    if (!first.produced.ok() || *first.produced) return std::move(first.produced);
    if (at_end || first.budget_spent) return false;  // finished, or bytes that made no record yet
    Wait(timeout_ms);
    if (stop.raised()) return false;
    return Step().produced;
  }

  void Stop() { stop.Raise(); }

  bool Finished() const { return at_end && queue.empty() && !inflight && !pending_error; }
};

StreamSource::StreamSource(int fd, std::string name, StreamSourceOptions options, SourceSink& sink)
    : impl_(std::make_unique<Impl>(fd, std::move(name), options, sink)) {}
StreamSource::~StreamSource() = default;

Status StreamSource::Setup() { return impl_->Setup(); }
Result<bool> StreamSource::RunOnce(int timeout_ms) { return impl_->RunOnce(timeout_ms); }
void StreamSource::Stop() { impl_->Stop(); }
bool StreamSource::Finished() const { return impl_->Finished(); }
StreamSourceStats StreamSource::Stats() const { return impl_->stats; }

}  // namespace cmkwatch::collector
