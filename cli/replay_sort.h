// Event-time order for replay, in bounded memory: events are buffered up
// to a byte budget, sorted, and spilled to run files; draining merges the
// runs. The order is total and independent of the order events were added
// in: (time, id), and an event id is a content hash (or the source's own
// id), so the same archive read in any file order drains identically.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include "cmkwatch/common/event.h"
#include "cmkwatch/common/status.h"

namespace cmkwatch::cli {

class EventSorter {
 public:
  // Run files go in a fresh directory under `spill_parent`, removed with
  // the sorter. `budget_bytes` bounds the buffered events (their raw
  // records and a fixed overhead each).
  EventSorter(std::filesystem::path spill_parent, size_t budget_bytes);
  ~EventSorter();
  EventSorter(const EventSorter&) = delete;
  EventSorter& operator=(const EventSorter&) = delete;

  Status Add(Event&& event);
  // Every event added, in (time, id) order; call once, after the last Add.
  // Stops at the first error `fn` returns.
  Status Drain(const std::function<Status(Event&&)>& fn);

  size_t runs() const { return runs_.size(); }
  uint64_t added() const { return added_; }

 private:
  Status Spill();

  std::filesystem::path parent_, dir_;
  size_t budget_;
  size_t buffered_bytes_ = 0;
  std::vector<Event> buffer_;
  std::vector<std::filesystem::path> runs_;
  uint64_t added_ = 0;
};

}  // namespace cmkwatch::cli
