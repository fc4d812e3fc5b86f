// Graceful stop on SIGTERM / SIGINT for the daemons, and reload on SIGHUP.
//
// Why a thread and sigwait instead of a handler: the stop path takes locks
// and notifies condition variables, none of which is async-signal-safe.
// StopSignals blocks SIGTERM, SIGINT (and ignores SIGPIPE, so a peer
// hanging up never kills the process) in the calling thread — construct it
// in main before any other thread starts, so every thread inherits the
// mask — and runs `on_stop` on its own thread when one arrives. With an
// `on_reload`, SIGHUP is blocked too and runs it on the same thread (so a
// reload never overlaps a stop or another reload); without one, SIGHUP
// keeps its default action. The destructor ends that thread.
#pragma once

#include <atomic>
#include <functional>
#include <thread>

namespace cmkwatch {

class StopSignals {
 public:
  explicit StopSignals(std::function<void(int signal)> on_stop, std::function<void()> on_reload = {});
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  // The signal that arrived, or 0.
  int received() const { return received_.load(); }

 private:
  std::function<void(int)> on_stop_;
  std::function<void()> on_reload_;
  std::atomic<bool> done_{false};
  std::atomic<int> received_{0};
  std::thread thread_;
};

}  // namespace cmkwatch
