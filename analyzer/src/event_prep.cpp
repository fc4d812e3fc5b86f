#include "event_prep.h"

#include <algorithm>

namespace cmkwatch::analyzer::internal {

EventPrep::EventPrep(BodyCodec& codec, bool helper, size_t max_bytes)
    : codec_(codec), use_helper_(helper), max_bytes_(max_bytes) {}

EventPrep::~EventPrep() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (helper_.joinable()) helper_.join();
}

void EventPrep::Begin(std::vector<Item> items) {
  items_ = std::move(items);
  if (prepared_.size() < items_.size()) prepared_.resize(items_.size());
  chunks_ = (items_.size() + kChunk - 1) / kChunk;
  if (chunks_ > state_capacity_) {
    state_capacity_ = std::max(chunks_, state_capacity_ * 2);
    state_ = std::make_unique<std::atomic<int>[]>(state_capacity_);
  }
  for (size_t c = 0; c < chunks_; ++c) state_[c].store(kFree, std::memory_order_relaxed);
  chunk_status_.assign(chunks_, Status::Ok());
  cancel_.store(false, std::memory_order_relaxed);
  // A job of one chunk is not worth a wake-up.
  if (!use_helper_ || chunks_ < 2 || !codec_.CanShare()) return;
  {
    std::lock_guard lock(mu_);
    ++posted_;
  }
  if (!helper_.joinable()) helper_ = std::thread([this] { HelperLoop(); });
  cv_.notify_all();
}

void EventPrep::End() {
  cancel_.store(true, std::memory_order_relaxed);
  // The helper may still be in a chunk, or not yet have woken for this
  // job: either way it must be done with the items before they go.
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return taken_ == posted_ && !helper_busy_; });
  }
  // Bodies keep their buffers for the next job, but not a large one: one
  // big event would otherwise pin its size in that slot for good.
  for (size_t i = 0; i < items_.size(); ++i) {
    if (prepared_[i].body.capacity() > kKeepBodyBytes) std::string().swap(prepared_[i].body);
  }
}

void EventPrep::HelperLoop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || taken_ != posted_; });
    if (stop_) return;
    taken_ = posted_;
    helper_busy_ = true;
    lock.unlock();
    for (size_t c = 0; c < chunks_ && !cancel_.load(std::memory_order_relaxed); ++c) {
      int expected = kFree;
      if (!state_[c].compare_exchange_strong(expected, kTaken, std::memory_order_acq_rel)) continue;
      chunk_status_[c] = PrepareChunk(c, true);
      state_[c].store(kDone, std::memory_order_release);
      state_[c].notify_all();
    }
    lock.lock();
    helper_busy_ = false;
    cv_.notify_all();
  }
}

Status EventPrep::PrepareChunk(size_t chunk, bool on_helper) {
  Sha256Context& sha = on_helper ? helper_sha_ : sha_;
  const size_t end = std::min(items_.size(), (chunk + 1) * kChunk);
  for (size_t i = chunk * kChunk; i < end; ++i) {
    Prepared& p = prepared_[i];
    auto key = sha.EventKey(items_[i].id);
    if (!key.ok()) return key.status();
    p.key = *key;
    p.codec = -1;
    if (items_[i].bytes.size() > max_bytes_) continue;
    auto codec = on_helper ? codec_.CompressWith(helper_ctx_, items_[i].bytes, p.body)
                           : codec_.Compress(items_[i].bytes, p.body);
    if (!codec.ok()) return codec.status();
    p.codec = *codec;
  }
  return Status::Ok();
}

Result<const EventPrep::Prepared*> EventPrep::Get(size_t i) {
  if (i >= items_.size()) return Status::Internal("event prep: item " + std::to_string(i) + " is not in the job");
  std::atomic<int>& state = state_[i / kChunk];
  int expected = kFree;
  if (state.compare_exchange_strong(expected, kTaken, std::memory_order_acq_rel)) {
    chunk_status_[i / kChunk] = PrepareChunk(i / kChunk, false);
    state.store(kDone, std::memory_order_release);
  } else {
    // The helper has it: a chunk's worth of work at most.
    for (int s = state.load(std::memory_order_acquire); s != kDone; s = state.load(std::memory_order_acquire)) {
      state.wait(s, std::memory_order_acquire);
    }
  }
  if (!chunk_status_[i / kChunk].ok()) return chunk_status_[i / kChunk];
  return &prepared_[i];
}

}  // namespace cmkwatch::analyzer::internal
