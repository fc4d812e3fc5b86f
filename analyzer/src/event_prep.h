// What the timeline works out for each event before its SQLite work, from
// the event alone: the dedup key (SHA-256 of its id) and the compressed
// body. That is about a third of the storing thread's time otherwise (zstd
// alone a quarter, bench/RESULTS.md), and none of it depends on what is
// stored, so a helper thread does it ahead while the storing thread
// inserts.
//
// How the work is split: the events of one job are cut into chunks, which
// the helper takes in order; the storing thread, asking for an event
// whose chunk nobody has started, takes that chunk itself. So it never
// waits for work nobody is doing, and without a helper (or while the
// helper is busy elsewhere) it simply prepares each chunk as it comes.
//
// The helper compresses only while the codec CanShare(), that is once a
// dictionary is in use. Before that (the first ~2000 events of a fresh
// timeline) the storing thread prepares everything, because those bodies
// are the dictionary's training samples.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "body_codec.h"
#include "cmkwatch/common/status.h"
#include "sha256.h"

namespace cmkwatch::analyzer::internal {

class EventPrep {
 public:
  struct Item {
    std::string_view id;
    std::string_view bytes;  // the event's canonical encoding
  };
  struct Prepared {
    int64_t key = 0;
    int64_t codec = -1;  // -1: not compressed, the bytes being over max_bytes
    std::string body;
  };

  // helper=false: everything on the calling thread. Events of more than
  // max_bytes are not compressed (the timeline refuses them anyway).
  EventPrep(BodyCodec& codec, bool helper, size_t max_bytes);
  ~EventPrep();
  EventPrep(const EventPrep&) = delete;
  EventPrep& operator=(const EventPrep&) = delete;

  // One job: Begin(items), Get(i) for the items wanted, then End() before
  // the items' bytes go away (Job does both).
  class Job {
   public:
    Job(EventPrep& prep, std::vector<Item> items) : prep_(prep) { prep_.Begin(std::move(items)); }
    ~Job() { prep_.End(); }
    Job(const Job&) = delete;
    Job& operator=(const Job&) = delete;

   private:
    EventPrep& prep_;
  };

  // Item i of the current job, prepared (here, if nobody has started it);
  // the pointer is valid until the next Begin.
  Result<const Prepared*> Get(size_t i);

 private:
  static constexpr size_t kChunk = 32;
  static constexpr size_t kKeepBodyBytes = 64 << 10;
  enum ChunkState : int { kFree = 0, kTaken = 1, kDone = 2 };

  void Begin(std::vector<Item> items);
  void End();
  void HelperLoop();
  Status PrepareChunk(size_t chunk, bool on_helper);

  BodyCodec& codec_;
  const bool use_helper_;
  const size_t max_bytes_;

  // The job. Written by the storing thread before the job is handed over
  // (under mu_), read by the helper until it says it is done (under mu_).
  std::vector<Item> items_;
  std::vector<Prepared> prepared_;  // kept between jobs: bodies keep their buffers
  size_t chunks_ = 0;
  std::unique_ptr<std::atomic<int>[]> state_;
  size_t state_capacity_ = 0;
  std::vector<Status> chunk_status_;
  std::atomic<bool> cancel_{false};

  Sha256Context sha_, helper_sha_;
  BodyCodec::Context helper_ctx_;

  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t posted_ = 0;  // jobs handed to the helper
  uint64_t taken_ = 0;   // of those, the last the helper started
  bool helper_busy_ = false;
  bool stop_ = false;
  std::thread helper_;  // started at the first job it can help with
};

}  // namespace cmkwatch::analyzer::internal
