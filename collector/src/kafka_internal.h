// KafkaSource's pure parts, kept apart from librdkafka so tests drive them
// directly: the librdkafka properties a configuration means, and which
// offsets may be committed. Private to the collector library.
//
// OffsetTracker: which Kafka offsets a consumer may commit, given which
// spool batches the analyzer has acknowledged.
//
// Per partition the tracker keeps, in consumption order, one entry per batch
// that holds messages of the partition: the batch's spool sequence and the
// offset just past its last message of that partition. The committable
// offset is the end of the longest prefix of entries that are all
// acknowledged: acks arrive in any order (and for batches of other sources),
// but an offset is committed only when every message before it is in the
// timeline. Messages that carried nothing to send are "settled" entries,
// acknowledged from the start, so an idle or empty stretch still commits.
//
// Commits are requested (TakeCommittable) and then confirmed or failed by
// the broker; a failed offset is requested again by the next
// TakeCommittable. A partition has at most one commit in flight: Kafka keeps
// whichever commit it processes last, and librdkafka retries and defers
// requests on its own (a retriable error, a coordinator away), so a second
// request could overtake the first and the older offset would land last,
// leaving a quiet partition behind for good. Forget drops a revoked
// partition's state: an ack for a batch that also held it, or the answer to
// a commit sent before, then changes nothing for it.
//
// Bounds: entries exist only for batches that are in the spool and not yet
// acknowledged (the spool's cap bounds them) plus settled entries not yet
// past an unacknowledged one. Not thread-safe: one owner (the source's
// thread).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cmkwatch/collector/kafka_source.h"
#include "cmkwatch/common/status.h"

namespace cmkwatch::collector::internal {

// One librdkafka configuration property. `secret` values (SASL passwords)
// are never shown, not even in librdkafka's refusal of them.
struct KafkaProperty {
  std::string name;
  std::string value;
  bool secret = false;
};

// The consumer properties `options` mean, in the order they are set
// (passthrough properties last). Reads the secrets the security mode needs
// (NotFound / InvalidArgument naming their source, never their value).
Result<std::vector<KafkaProperty>> KafkaProperties(const KafkaSourceOptions& options);

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  auto operator<=>(const TopicPartition&) const = default;
};

class OffsetTracker {
 public:
  // The batch stored under `sequence` holds messages of each partition in
  // `through` up to (excluding) the offset given.
  void Spooled(uint64_t sequence, const std::vector<std::pair<TopicPartition, int64_t>>& through) {
    for (const auto& [tp, next] : through) {
      parts_[tp].entries.push_back({sequence, next, false});
      batches_[sequence].push_back(tp);
    }
  }

  // Messages of `tp` up to `next` needed no batch.
  void Settled(const TopicPartition& tp, int64_t next) {
    Partition& p = parts_[tp];
    p.entries.push_back({0, next, true});
    Advance(p);
  }

  void Acknowledged(uint64_t sequence) {
    auto it = batches_.find(sequence);
    if (it == batches_.end()) return;
    for (const TopicPartition& tp : it->second) {
      auto p = parts_.find(tp);
      if (p == parts_.end()) continue;  // forgotten (revoked)
      for (Entry& e : p->second.entries) {
        if (e.sequence == sequence) e.acked = true;
      }
      Advance(p->second);
    }
    batches_.erase(it);
  }

  // Offsets that may be committed, not confirmed yet and with no commit of
  // their partition in flight, now marked in flight.
  std::vector<std::pair<TopicPartition, int64_t>> TakeCommittable() {
    std::vector<std::pair<TopicPartition, int64_t>> out;
    for (auto& [tp, p] : parts_) {
      if (p.in_flight < 0 && p.committable > p.confirmed) {
        p.in_flight = p.committable;
        out.emplace_back(tp, p.committable);
      }
    }
    return out;
  }
  // For one partition being revoked, committed synchronously: its newest
  // committable offset unless that very offset is in flight already.
  std::optional<int64_t> TakeCommittable(const TopicPartition& tp) {
    auto it = parts_.find(tp);
    if (it == parts_.end()) return std::nullopt;
    Partition& p = it->second;
    if (p.committable <= p.confirmed || p.committable == p.in_flight) return std::nullopt;
    p.in_flight = p.committable;
    return p.committable;
  }

  // The broker's answer to the commit in flight for `tp`. An answer for an
  // offset not in flight (a forgotten partition's, a revocation's) is
  // ignored.
  void CommitSucceeded(const TopicPartition& tp, int64_t offset) {
    auto it = parts_.find(tp);
    if (it == parts_.end() || it->second.in_flight != offset) return;
    it->second.in_flight = -1;
    if (offset > it->second.confirmed) it->second.confirmed = offset;
  }
  void CommitFailed(const TopicPartition& tp, int64_t offset) {
    auto it = parts_.find(tp);
    if (it != parts_.end() && it->second.in_flight == offset) it->second.in_flight = -1;
  }

  // A commit request failed as a whole, without saying for which offsets, or
  // its answer is long overdue: every commit in flight is asked for again.
  void RetryUnconfirmed() {
    for (auto& [tp, p] : parts_) p.in_flight = -1;
  }
  bool any_in_flight() const {
    for (const auto& [tp, p] : parts_) {
      if (p.in_flight >= 0) return true;
    }
    return false;
  }

  void Forget(const TopicPartition& tp) { parts_.erase(tp); }

  // -1 when nothing is committable / confirmed yet.
  int64_t Committable(const TopicPartition& tp) const {
    auto it = parts_.find(tp);
    return it == parts_.end() ? -1 : it->second.committable;
  }
  int64_t Confirmed(const TopicPartition& tp) const {
    auto it = parts_.find(tp);
    return it == parts_.end() ? -1 : it->second.confirmed;
  }
  size_t waiting_batches() const { return batches_.size(); }
  size_t entries(const TopicPartition& tp) const {
    auto it = parts_.find(tp);
    return it == parts_.end() ? 0 : it->second.entries.size();
  }

 private:
  struct Entry {
    uint64_t sequence;  // 0 for settled entries
    int64_t next;
    bool acked;
  };
  struct Partition {
    std::deque<Entry> entries;
    int64_t committable = -1;
    int64_t in_flight = -1;  // the offset of this partition's commit in flight
    int64_t confirmed = -1;
  };

  static void Advance(Partition& p) {
    while (!p.entries.empty() && p.entries.front().acked) {
      if (p.entries.front().next > p.committable) p.committable = p.entries.front().next;
      p.entries.pop_front();
    }
  }

  std::map<TopicPartition, Partition> parts_;
  std::map<uint64_t, std::vector<TopicPartition>> batches_;
};

}  // namespace cmkwatch::collector::internal
