// External merge sort of events (replay_sort.h). Runs are sequences of
// length-prefixed wire batches of a few hundred events, so merging holds
// one small batch per run, not whole runs.
#include "replay_sort.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <deque>
#include <fstream>
#include <queue>
#include <string>

#include "cmkwatch/common/wire.h"

namespace cmkwatch::cli {
namespace {

namespace fs = std::filesystem;

// Per event beyond its strings: the Event itself (its optional change
// structs are large even when empty) and the allocator's share.
constexpr size_t kEventOverhead = sizeof(Event) + 128;
constexpr size_t kChunkEvents = 256;
constexpr size_t kChunkBytes = size_t{8} << 20;

size_t Cost(const Event& e) {
  return e.raw.capacity() + e.resource_id.capacity() + e.id.capacity() + e.operation.capacity() + kEventOverhead;
}

bool Before(const Event& a, const Event& b) {
  if (a.time != b.time) return a.time < b.time;
  return a.id < b.id;
}

// The buffer's positions in (time, id) order. Sorting positions rather than
// the events themselves: an Event is ~1 KB of strings and optionals, and
// std::sort moved each one some log2(n) times. (A buffer holds far fewer
// than 2^32 events: each costs kEventOverhead bytes of the budget.)
std::vector<uint32_t> SortedOrder(const std::vector<Event>& events) {
  std::vector<uint32_t> order(events.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<uint32_t>(i);
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return Before(events[a], events[b]); });
  return order;
}

class RunReader {
 public:
  explicit RunReader(const fs::path& path) : in_(path, std::ios::binary) {}
  bool ok() const { return static_cast<bool>(in_) || in_.eof(); }
  // The next event, or false at the end (or on a read error: *error set).
  bool Next(Event* out, Status* error) {
    if (pending_.empty() && !Refill(error)) return false;
    *out = std::move(pending_.front());
    pending_.pop_front();
    return true;
  }

 private:
  bool Refill(Status* error) {
    uint32_t len = 0;
    if (!in_.read(reinterpret_cast<char*>(&len), sizeof len)) return false;  // the end
    std::string bytes(len, '\0');
    if (!in_.read(bytes.data(), len)) {
      *error = Status::IoError("replay: a spill file ended early");
      return false;
    }
    auto batch = wire::DecodeBatch(bytes);
    if (!batch.ok()) {
      *error = Status::Corruption("replay: a spill file does not decode: " + batch.status().message());
      return false;
    }
    for (Event& e : batch->events) pending_.push_back(std::move(e));
    return !pending_.empty();
  }
  std::ifstream in_;
  std::deque<Event> pending_;
};

}  // namespace

EventSorter::EventSorter(fs::path spill_parent, size_t budget_bytes) :
    parent_(std::move(spill_parent)), budget_(std::max<size_t>(budget_bytes, size_t{1} << 20)) {}

EventSorter::~EventSorter() {
  if (!dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

Status EventSorter::Add(Event&& event) {
  ++added_;
  buffered_bytes_ += Cost(event);
  buffer_.push_back(std::move(event));
  if (buffered_bytes_ >= budget_) return Spill();
  return Status::Ok();
}

Status EventSorter::Spill() {
  if (buffer_.empty()) return Status::Ok();
  if (dir_.empty()) {
    std::string tmpl = (parent_ / "cmkwatch-replay-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      return Status::IoError("replay: cannot make a spill directory in " + parent_.string() + ": " +
                             std::strerror(errno));
    }
    dir_ = tmpl;
  }
  const std::vector<uint32_t> order = SortedOrder(buffer_);
  const fs::path path = dir_ / ("run-" + std::to_string(runs_.size()));
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  size_t at = 0;
  while (at < buffer_.size()) {
    wire::Batch chunk;
    chunk.collector_id = "replay-spill";
    chunk.sequence = 1;
    size_t bytes = 0;
    while (at < buffer_.size() && chunk.events.size() < kChunkEvents && (bytes < kChunkBytes || chunk.events.empty())) {
      Event& e = buffer_[order[at++]];
      bytes += Cost(e);
      chunk.events.push_back(std::move(e));
    }
    const std::string encoded = wire::EncodeBatch(chunk);
    const auto len = static_cast<uint32_t>(encoded.size());
    out.write(reinterpret_cast<const char*>(&len), sizeof len);
    out.write(encoded.data(), static_cast<std::streamsize>(encoded.size()));
  }
  out.flush();
  if (!out) return Status::IoError("replay: cannot write " + path.string() + " (disk full?)");
  runs_.push_back(path);
  buffer_.clear();
  buffer_.shrink_to_fit();
  buffered_bytes_ = 0;
  return Status::Ok();
}

Status EventSorter::Drain(const std::function<Status(Event&&)>& fn) {
  if (runs_.empty()) {
    for (const uint32_t i : SortedOrder(buffer_)) CMK_RETURN_IF_ERROR(fn(std::move(buffer_[i])));
    buffer_.clear();
    return Status::Ok();
  }
  CMK_RETURN_IF_ERROR(Spill());
  std::vector<std::unique_ptr<RunReader>> readers;
  std::vector<Event> heads(runs_.size());
  auto later = [&](size_t a, size_t b) { return Before(heads[b], heads[a]); };
  std::priority_queue<size_t, std::vector<size_t>, decltype(later)> queue(later);
  Status error;
  for (size_t i = 0; i < runs_.size(); ++i) {
    readers.push_back(std::make_unique<RunReader>(runs_[i]));
    if (readers[i]->Next(&heads[i], &error)) queue.push(i);
    CMK_RETURN_IF_ERROR(error);
  }
  while (!queue.empty()) {
    const size_t i = queue.top();
    queue.pop();
    CMK_RETURN_IF_ERROR(fn(std::move(heads[i])));
    if (readers[i]->Next(&heads[i], &error)) queue.push(i);
    CMK_RETURN_IF_ERROR(error);
  }
  return Status::Ok();
}

}  // namespace cmkwatch::cli
