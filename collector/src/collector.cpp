// The collector's service: sources → spool on the calling thread, spool →
// analyzer on a sender thread that owns the ZeroMQ socket.
//
// Why two threads: a source may block in poll() waiting for appends, and a
// socket must be used from one thread only. The spool (internally locked)
// is the only thing they share, plus a condition variable the sender uses
// to say "room freed" to a source blocked by back-pressure.
#include "cmkwatch/collector/collector.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "cmkwatch/collector/spool.h"
#include "cmkwatch/common/http_server.h"
#include "cmkwatch/common/metrics.h"
#include "cmkwatch/common/wire.h"

namespace cmkwatch::collector {
namespace {

using Clock = std::chrono::steady_clock;

// How often the spool's state is reported to the analyzer.
constexpr auto kStatusInterval = std::chrono::seconds(2);
// Copies of just-spooled batches kept for the sender, at most.
constexpr size_t kMaxFreshBytes = size_t{64} << 20;

// Spool checkpoint keys: "<source root>\x1f<file path>" (the unit separator
// cannot appear in a path given on a command line or in YAML in practice,
// and keeps one source's keys a prefix range), identity "device:inode".
constexpr char kKeySeparator = '\x1f';

std::string KeyPrefix(const std::string& root) { return root + kKeySeparator; }

std::vector<FileCheckpoint> ResumePoints(const std::vector<SpoolCheckpoint>& stored, const std::string& prefix) {
  std::vector<FileCheckpoint> out;
  for (const auto& cp : stored) {
    FileCheckpoint f;
    f.path = cp.source_key.substr(prefix.size());
    const size_t colon = cp.identity.find(':');
    if (colon == std::string::npos) continue;
    try {
      f.device = std::stoull(cp.identity.substr(0, colon));
      f.inode = std::stoull(cp.identity.substr(colon + 1));
    } catch (...) {
      continue;  // not one of ours: the file is read from 0, never skipped
    }
    f.offset = cp.offset;
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace

// Takes a source's batches into the spool: the batch and the offsets it
// reaches commit in one transaction. Kafka sources take the batch's
// sequence back instead (their offsets wait for the analyzer's ack).
class SpoolSink final : public SourceSink, public SequencedSink {
 public:
  // on_spooled(events, quarantine entries, the stored batch) after each commit.
  using OnSpooled = std::function<void(size_t, size_t, SpooledBatch&&)>;
  SpoolSink(Spool& spool, std::string prefix, OnSpooled on_spooled)
      : spool_(spool), prefix_(std::move(prefix)), on_spooled_(std::move(on_spooled)) {}

  Status OnBatch(std::vector<Event>&& events, std::vector<QuarantineEntry>&& quarantined,
                 const std::vector<FileCheckpoint>& through) override {
    std::vector<SpoolCheckpoint> cps;
    cps.reserve(through.size());
    for (const auto& f : through) {
      cps.push_back({prefix_ + f.path, f.offset, std::to_string(f.device) + ":" + std::to_string(f.inode)});
    }
    const size_t n_events = events.size(), n_quarantined = quarantined.size();
    SpooledBatch stored;
    auto seq = spool_.Append(std::move(events), std::move(quarantined), cps, &stored.bytes);
    if (!seq.ok()) return seq.status();  // vectors untouched: the source offers them again
    stored.sequence = *seq;
    on_spooled_(n_events, n_quarantined, std::move(stored));
    return Status::Ok();
  }

  Result<uint64_t> OnSequencedBatch(std::vector<Event>&& events, std::vector<QuarantineEntry>&& quarantined) override {
    const size_t n_events = events.size(), n_quarantined = quarantined.size();
    SpooledBatch stored;
    auto seq = spool_.Append(std::move(events), std::move(quarantined), {}, &stored.bytes);
    if (!seq.ok()) return seq.status();
    stored.sequence = *seq;
    on_spooled_(n_events, n_quarantined, std::move(stored));
    return *seq;
  }

 private:
  Spool& spool_;
  std::string prefix_;
  OnSpooled on_spooled_;
};

struct Collector::Impl {
  CollectorOptions options;
  log::Logger& logger;
  // Before the sources, whose metric handles point into it, and before the
  // HTTP server that renders it: destroyed after both.
  metrics::Registry registry;
  std::unique_ptr<Spool> spool;
  std::vector<std::unique_ptr<SpoolSink>> sinks;
  std::vector<std::unique_ptr<Source>> sources;
  std::vector<KafkaSource*> kafka_sources;  // among `sources`, for metrics
  std::unique_ptr<transport::Client> client;
  std::unique_ptr<http::Server> http;  // declared after sources: stops first

  std::atomic<bool> stop{false};
  std::atomic<bool> blocked{false};  // sources paused by a full spool
  std::mutex mu;  // guards stats and wakes
  std::condition_variable room;    // sender → sources: acks freed spool room
  std::condition_variable spooled; // sources → sender: a new batch is in the spool
  uint64_t spool_version = 0;      // bumped per Append, under mu
  CollectorStats stats;
  // Batches just spooled, in sequence order, so the sender need not read
  // them back from the file (under mu; bounded, see OnSpooled).
  std::deque<SpooledBatch> fresh;
  size_t fresh_bytes = 0;
  bool fresh_gap = false;  // some were dropped at the bound: the spool has them

  Impl(const CollectorOptions& o, log::Logger& l) : options(o), logger(l) {}

  // --- sender thread -----------------------------------------------------

  struct InFlight {
    uint64_t sequence;
    Clock::time_point sent;
  };

  void SendLoop() {
    std::deque<InFlight> inflight;
    uint64_t last_sent = 0;  // highest sequence sent in this round
    // The spool held nothing beyond last_sent when last read, so every later
    // batch is in `fresh`, in order.
    bool caught_up = false;
    uint64_t seen_version = 0;
    const auto resend_after = std::chrono::milliseconds(std::max(100, options.resend_after_ms));
    Clock::time_point next_status{};
    while (!stop.load()) {
      if (Clock::now() >= next_status) {
        next_status = Clock::now() + kStatusInterval;
        SendStatus();
      }
      // Resend: the oldest unacknowledged batch is overdue, so the link (or
      // the analyzer) lost it or is down. Start over from the spool's
      // oldest pending batch: the analyzer deduplicates what it had.
      if (!inflight.empty() && Clock::now() - inflight.front().sent > resend_after) {
        logger.Info("no ack in time; resending unacknowledged batches",
                    {{"oldest_sequence", inflight.front().sequence}, {"in_flight", inflight.size()}});
        std::lock_guard lock(mu);
        stats.batches_resent += inflight.size();
        inflight.clear();
        last_sent = 0;
        caught_up = false;
      }
      // Fill the window: from the spool until it has nothing beyond what
      // was sent, then from the batches just spooled, in memory.
      if (inflight.size() < options.max_inflight_batches) {
        const size_t window = options.max_inflight_batches - inflight.size();
        std::vector<SpooledBatch> next;
        if (caught_up) caught_up = TakeFresh(last_sent, window, next);
        if (!caught_up) {
          auto pending = spool->Pending(window, last_sent);
          if (!pending.ok()) {
            logger.Error("cannot read the spool", {{"error", pending.status().ToString()}});
            std::this_thread::sleep_for(std::chrono::milliseconds(500));
            continue;
          }
          caught_up = pending->size() < window;
          next = std::move(*pending);
        }
        for (auto& b : next) {
          Status s = client->Send(b.bytes);
          if (!s.ok()) {
            caught_up = false;  // high-water mark: the rest waits in the spool
            break;
          }
          inflight.push_back({b.sequence, Clock::now()});
          last_sent = b.sequence;
          std::lock_guard lock(mu);
          ++stats.batches_sent;
        }
      }
      // Acks; wait briefly when there is nothing in flight to be acked.
      const int wait_ms = inflight.empty() ? 0 : 50;
      auto msg = client->Receive(wait_ms);
      if (!msg.ok()) {
        logger.Error("receive failed", {{"error", msg.status().ToString()}});
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        continue;
      }
      if (msg->has_value()) {
        HandleAck(**msg, inflight);
        continue;  // drain acks before waiting
      }
      if (inflight.empty()) {
        // Nothing in flight: sleep until a source spools or a short timeout
        // (the spool may hold batches from before a restart).
        std::unique_lock lock(mu);
        spooled.wait_for(lock, std::chrono::milliseconds(100),
                         [&] { return stop.load() || spool_version != seen_version; });
        seen_version = spool_version;
      }
    }
  }

  // Moves the batches that follow `last_sent` without a gap from `fresh`
  // into `out` (at most `max`). False when `fresh` cannot be trusted to
  // hold every batch after `last_sent` (copies were dropped, or a gap): the
  // sender then reads the spool instead.
  bool TakeFresh(uint64_t last_sent, size_t max, std::vector<SpooledBatch>& out) {
    std::lock_guard lock(mu);
    if (fresh_gap) {
      fresh_gap = false;
      fresh.clear();
      fresh_bytes = 0;
      return false;
    }
    while (!fresh.empty() && fresh.front().sequence <= last_sent) {  // sent already, from the spool
      fresh_bytes -= fresh.front().bytes.size();
      fresh.pop_front();
    }
    if (!fresh.empty() && fresh.front().sequence != last_sent + 1 && last_sent != 0) return false;
    while (!fresh.empty() && out.size() < max) {
      fresh_bytes -= fresh.front().bytes.size();
      out.push_back(std::move(fresh.front()));
      fresh.pop_front();
    }
    return true;
  }

  // The spool's state, for the analyzer's per-collector metrics. Best
  // effort: a status lost at the high-water mark is replaced by the next.
  void SendStatus() {
    auto st = spool->Stats();
    if (!st.ok()) return;
    wire::CollectorStatus status{options.id, st->pending_batches, st->pending_bytes, 0, blocked.load()};
    if (st->oldest_append_time) {
      const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
      status.oldest_pending_age_ms = static_cast<uint64_t>(std::max<int64_t>(0, now - *st->oldest_append_time) / 1'000'000);
    }
    (void)client->Send(wire::EncodeStatus(status));
  }

  void HandleAck(const std::string& body, std::deque<InFlight>& inflight) {
    auto ack = wire::DecodeAck(body);
    if (!ack.ok()) {
      logger.Warning("undecodable message from the analyzer", {{"error", ack.status().ToString()}});
      return;
    }
    if (ack->collector_id != options.id) {
      logger.Warning("ack for another collector ignored", {{"ack_collector", ack->collector_id}});
      return;
    }
    auto removed = spool->Ack(ack->sequence);
    if (!removed.ok()) {
      logger.Error("cannot record an ack in the spool", {{"error", removed.status().ToString()}});
      return;
    }
    // The analyzer holds these events now: sources that wait for that
    // (Kafka offsets) may release their input.
    for (auto& src : sources) src->OnAcknowledged(ack->sequence);
    inflight.erase(std::remove_if(inflight.begin(), inflight.end(),
                                  [&](const InFlight& f) { return f.sequence == ack->sequence; }),
                   inflight.end());
    {
      std::lock_guard lock(mu);
      if (*removed) ++stats.batches_acked;
    }
    room.notify_all();
  }

  // --- source side --------------------------------------------------------

  void OnSpooled(size_t events, size_t quarantined, SpooledBatch&& batch) {
    {
      std::lock_guard lock(mu);
      ++stats.batches_spooled;
      stats.events_spooled += events;
      stats.quarantined_spooled += quarantined;
      ++spool_version;
      if (fresh_bytes + batch.bytes.size() > kMaxFreshBytes) {
        // The sender is behind (analyzer slow or away): stop keeping
        // copies; it reads from the spool until it has caught up again.
        fresh.clear();
        fresh_bytes = 0;
        fresh_gap = true;
      } else {
        fresh_bytes += batch.bytes.size();
        fresh.push_back(std::move(batch));
      }
    }
    spooled.notify_all();
  }

  // --- metrics ------------------------------------------------------------

  // Rendered at scrape time from the stats (as the analyzer renders its
  // per-collector series): partitions come and go with rebalances, and a
  // registry's series cannot be removed.
  std::string RenderMetrics() {
    metrics::Registry r;
    const metrics::Labels id = {{"collector", options.id}};
    CollectorStats st;
    {
      std::lock_guard lock(mu);
      st = stats;
    }
    auto spool_stats = spool->Stats();
    auto counter = [&](std::string_view name, std::string_view help, uint64_t v, const metrics::Labels& l) {
      if (auto c = r.AddCounter(name, help, l); c.ok()) c->Inc(v);
    };
    auto gauge = [&](std::string_view name, std::string_view help, double v, const metrics::Labels& l) {
      if (auto g = r.AddGauge(name, help, l); g.ok()) g->Set(v);
    };
    counter("cmkwatch_collector_batches_spooled_total", "Batches written to the spool.", st.batches_spooled, id);
    counter("cmkwatch_collector_events_spooled_total", "Events written to the spool.", st.events_spooled, id);
    counter("cmkwatch_collector_quarantined_spooled_total", "Quarantine entries written to the spool.",
            st.quarantined_spooled, id);
    counter("cmkwatch_collector_batches_sent_total", "Batch sends to the analyzer, resends included.", st.batches_sent, id);
    counter("cmkwatch_collector_batches_acked_total", "Batches the analyzer acknowledged.", st.batches_acked, id);
    if (spool_stats.ok()) {
      gauge("cmkwatch_collector_spool_batches", "Unacknowledged batches in the collector's spool.",
            static_cast<double>(spool_stats->pending_batches), id);
      gauge("cmkwatch_collector_spool_bytes", "Bytes of unacknowledged batches in the spool.",
            static_cast<double>(spool_stats->pending_bytes), id);
    }
    gauge("cmkwatch_collector_blocked", "1 while the collector's spool is full and reading paused.", blocked.load() ? 1 : 0, id);
    for (const KafkaSource* k : kafka_sources) {
      const KafkaSourceStats ks = k->Stats();
      const metrics::Labels sl = {{"source", k->name()}};
      counter("cmkwatch_kafka_commits_total", "Partition offsets Kafka confirmed committed.", ks.commits, sl);
      counter("cmkwatch_kafka_commit_failures_total", "Partition offsets whose commit failed (retried).",
              ks.commit_failures, sl);
      counter("cmkwatch_kafka_rebalances_total", "Partition assignments and revocations.", ks.rebalances, sl);
      counter("cmkwatch_kafka_errors_total", "Client errors librdkafka reported (transient ones included).",
              ks.errors, sl);
      counter("cmkwatch_kafka_rejected_batches_total", "Batches the full spool refused (back-pressure).",
              ks.rejected_batches, sl);
      gauge("cmkwatch_kafka_assigned_partitions", "Partitions this collector owns in its consumer group.",
            static_cast<double>(ks.assigned_partitions), sl);
      gauge("cmkwatch_kafka_paused", "1 while consumption is paused because the spool is full.",
            ks.paused ? 1 : 0, sl);
      for (const KafkaPartitionStats& p : ks.partitions) {
        const metrics::Labels pl = {{"source", k->name()},
                                    {"topic", p.topic},
                                    {"partition", std::to_string(p.partition)}};
        counter("cmkwatch_kafka_messages_total", "Kafka messages taken.", p.messages, pl);
        counter("cmkwatch_kafka_bytes_total", "Kafka message value bytes taken.", p.bytes, pl);
        counter("cmkwatch_kafka_events_total", "Events parsed from Kafka messages.", p.events, pl);
        counter("cmkwatch_kafka_quarantined_total", "Quarantine entries from Kafka messages.", p.quarantined, pl);
        if (p.committed >= 0) {
          gauge("cmkwatch_kafka_committed_offset", "Offset Kafka last confirmed committed by this collector.",
                static_cast<double>(p.committed), pl);
        }
        if (p.high_watermark >= 0) {
          gauge("cmkwatch_kafka_high_watermark", "The partition's end offset as last fetched.",
                static_cast<double>(p.high_watermark), pl);
          if (p.assigned) {
            // Messages not yet in the analyzer (as far as Kafka's commits
            // say): what a restart or a rebalance would read again.
            const int64_t base = std::max<int64_t>(p.committed, 0);
            gauge("cmkwatch_kafka_lag", "High watermark minus the committed offset, while assigned.",
                  static_cast<double>(std::max<int64_t>(0, p.high_watermark - base)), pl);
          }
        }
        gauge("cmkwatch_kafka_partition_assigned", "1 while this collector owns the partition.",
              p.assigned ? 1 : 0, pl);
      }
    }
    return r.Render();
  }

  bool AllFinished() const {
    return std::all_of(sources.begin(), sources.end(), [](const auto& s) { return s->Finished(); });
  }

  Status RunSources() {
    // With one source a step may block for input; with several, each gets a
    // short turn so none waits on another's silence.
    const int step_ms = sources.size() == 1 ? 200 : 20;
    while (!stop.load()) {
      if (options.on_loop) options.on_loop();
      bool refused = false;
      for (auto& src : sources) {
        if (stop.load()) break;
        if (src->Finished()) continue;
        auto r = src->RunOnce(step_ms);
        if (r.ok()) continue;
        if (r.status().IsLimitExceeded()) {
          refused = true;
          continue;
        }
        // An I/O failure of one source (a file vanished mid-read, a
        // permission changed): logged, and the source is tried again.
        logger.Error("source step failed", {{"error", r.status().ToString()}});
      }
      if (refused != blocked.load()) {
        blocked.store(refused);
        if (refused) {
          std::lock_guard lock(mu);
          ++stats.blocked_by_spool;
        }
        auto st = spool->Stats();
        logger.Warning(refused ? "spool full: reading paused until the analyzer acknowledges batches"
                               : "spool has room again: reading resumed",
                       {{"pending_bytes", st.ok() ? st->pending_bytes : 0},
                        {"max_bytes", options.spool_max_bytes}});
      }
      if (refused) {
        std::unique_lock lock(mu);
        room.wait_for(lock, std::chrono::milliseconds(500), [&] { return stop.load(); });
      }
      if (AllFinished()) {
        if (options.exit_when_drained) {
          auto st = spool->Stats();
          if (st.ok() && st->pending_batches == 0) {
            logger.Info("every source finished and every batch acknowledged; exiting");
            break;
          }
        }
        // Nothing left to read: wait for acks (or a stop) instead of spinning.
        std::unique_lock lock(mu);
        room.wait_for(lock, std::chrono::milliseconds(100), [&] { return stop.load(); });
      }
    }
    return Status::Ok();
  }
};

Collector::Collector(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Collector::~Collector() = default;

Result<std::unique_ptr<Collector>> Collector::Start(const CollectorOptions& options, log::Logger& logger) {
  if (options.id.empty()) return Status::InvalidArgument("collector: an id is required (--id)");
  if (options.spool_path.empty()) return Status::InvalidArgument("collector: a spool file is required (--spool)");
  if (options.connect.empty()) return Status::InvalidArgument("collector: an analyzer endpoint is required (--connect)");
  if (options.sources.empty()) return Status::InvalidArgument("collector: at least one source path is required");
  if (options.max_inflight_batches == 0) return Status::InvalidArgument("collector: max_inflight_batches must be > 0");

  auto impl = std::make_unique<Impl>(options, logger);
  auto spool = Spool::Open(options.spool_path, SpoolOptions{options.id, options.spool_max_bytes});
  if (!spool.ok()) return spool.status();
  impl->spool = std::move(*spool);

  Impl* raw = impl.get();
  auto on_spooled = [raw](size_t e, size_t q, SpooledBatch&& b) { raw->OnSpooled(e, q, std::move(b)); };
  size_t stdin_sources = 0;
  for (const SourceConfig& sc : options.sources) {
    DirectorySourceOptions so = options.source_defaults;
    so.format = sc.format;
    if (sc.type == SourceType::kKafka) {
      KafkaSourceOptions ko = sc.kafka;
      if (ko.client_id.empty()) ko.client_id = options.id;
      // Every batch must fit the spool with room to spare, or a refused
      // batch would wait for room that never comes.
      const uint64_t largest = ko.max_batch_bytes + ko.max_message_bytes;
      if (options.spool_max_bytes / 4 < largest) {
        return Status::InvalidArgument("kafka source " + ko.name + ": spool_max_bytes must be at least 4 x " +
                                       "(max_batch_bytes + max_message_bytes) = " + std::to_string(4 * largest) +
                                       " bytes");
      }
      impl->sinks.push_back(std::make_unique<SpoolSink>(*impl->spool, "", on_spooled));
      auto source = std::make_unique<KafkaSource>(std::move(ko), *impl->sinks.back(), logger);
      impl->kafka_sources.push_back(source.get());
      impl->sources.push_back(std::move(source));
      if (Status s = impl->sources.back()->Setup(); !s.ok()) return s;
      continue;
    }
    if (sc.type == SourceType::kEventGrid) {
      // No checkpoints: the prefix only keeps the sink's keys apart.
      impl->sinks.push_back(
          std::make_unique<SpoolSink>(*impl->spool, KeyPrefix("eventgrid:" + sc.eventgrid.name), on_spooled));
      impl->sources.push_back(
          std::make_unique<EventGridSource>(sc.eventgrid, *impl->sinks.back(), &impl->registry, &logger));
      if (Status s = impl->sources.back()->Setup(); !s.ok()) return s;
      continue;
    }
    if (sc.path == "-") {
      if (++stdin_sources > 1) return Status::InvalidArgument("collector: stdin ('-') can be a source only once");
      impl->sinks.push_back(std::make_unique<SpoolSink>(*impl->spool, "-", on_spooled));
      StreamSourceOptions stream;
      stream.format = sc.format;
      stream.limits = so.limits;
      stream.max_batch_events = so.max_batch_events;
      stream.max_batch_bytes = so.max_batch_bytes;
      stream.read_chunk_bytes = so.read_chunk_bytes;
      impl->sources.push_back(std::make_unique<StreamSource>(STDIN_FILENO, "-", stream, *impl->sinks.back()));
    } else {
      const std::string prefix = KeyPrefix(sc.path);
      auto stored = impl->spool->Checkpoints(prefix);
      if (!stored.ok()) return stored.status();
      impl->sinks.push_back(std::make_unique<SpoolSink>(*impl->spool, prefix, on_spooled));
      impl->sources.push_back(std::make_unique<DirectorySource>(sc.path, so, ResumePoints(*stored, prefix),
                                                                *impl->sinks.back()));
    }
    if (Status s = impl->sources.back()->Setup(); !s.ok()) {
      return Status(s.code() == Status::Code::kNotFound ? Status::NotFound("source " + sc.path + ": " + s.message())
                                                        : s);
    }
  }

  if (!options.http.empty()) {
    http::Options ho;
    ho.allow_non_loopback = options.http_allow_non_loopback;
    ho.handlers["/healthz"] = [] { return http::Response{200, "text/plain; charset=utf-8", "ok\n"}; };
    ho.handlers["/metrics"] = [raw] {
      return http::Response{200, std::string(metrics::Registry::kContentType),
                            raw->registry.Render() + raw->RenderMetrics()};
    };
    auto server = http::Server::Start(options.http, std::move(ho));
    if (!server.ok()) return server.status().WithContext("collector http: ");
    impl->http = std::move(*server);
  }

  auto client = transport::Client::Connect(options.connect, options.link);
  if (!client.ok()) return client.status();
  impl->client = std::move(*client);

  auto st = impl->spool->Stats();
  logger.Info("collector started", {{"id", options.id},
                                    {"connect", options.connect},
                                    {"spool", options.spool_path},
                                    {"sources", static_cast<uint64_t>(options.sources.size())},
                                    {"pending_batches", st.ok() ? st->pending_batches : 0},
                                    {"curve", options.link.client_curve.has_value()},
                                    {"http_port", impl->http ? static_cast<int>(impl->http->port()) : 0}});
  return std::unique_ptr<Collector>(new Collector(std::move(impl)));
}

Status Collector::Run() {
  Impl& s = *impl_;
  std::thread sender([&s] { s.SendLoop(); });
  Status result = s.RunSources();
  Stop();
  sender.join();
  auto st = s.spool->Stats();
  s.logger.Info("collector stopped", {{"pending_batches", st.ok() ? st->pending_batches : 0}});
  return result;
}

void Collector::Stop() {
  impl_->stop.store(true);
  for (auto& src : impl_->sources) src->Stop();
  impl_->room.notify_all();
  impl_->spooled.notify_all();
}

metrics::Registry& Collector::metrics() { return impl_->registry; }
uint16_t Collector::http_port() const { return impl_->http ? impl_->http->port() : 0; }

CollectorStats Collector::Stats() const {
  CollectorStats out;
  {
    std::lock_guard lock(impl_->mu);
    out = impl_->stats;
  }
  if (auto st = impl_->spool->Stats(); st.ok()) {
    out.pending_batches = st->pending_batches;
    out.pending_bytes = st->pending_bytes;
  }
  return out;
}

}  // namespace cmkwatch::collector
