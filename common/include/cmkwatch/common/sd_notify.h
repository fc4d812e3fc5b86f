// systemd's service notification protocol (sd_notify(3)), spoken directly:
// one datagram of "KEY=value" lines to the AF_UNIX socket named by
// $NOTIFY_SOCKET. No libsystemd: the protocol is a documented, stable
// datagram, and the daemons then run the same with or without systemd.
//
//   auto notifier = sd::Notifier::FromEnvironment();
//   ... start listening ...
//   notifier.Ready("listening on tcp://127.0.0.1:5570");
//   while (running) { ...; notifier.WatchdogIfDue(); }
//   notifier.Stopping();
//
// Without $NOTIFY_SOCKET (not started by systemd, or Type= is not notify)
// every call does nothing and returns Ok.
//
// The watchdog: with WatchdogSec= in the unit, systemd sets $WATCHDOG_USEC
// (and $WATCHDOG_PID) and kills the service when no "WATCHDOG=1" comes
// within that time. WatchdogIfDue() pings at half the interval, and is
// meant to be called from the loop whose progress it vouches for (the
// analyzer's receive loop), not from a timer thread that would keep
// pinging while that loop is stuck.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "cmkwatch/common/status.h"

namespace cmkwatch::sd {

class Notifier {
 public:
  // Reads $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID. A watchdog
  // meant for another process (WATCHDOG_PID not ours) is ignored.
  static Notifier FromEnvironment();
  // For tests: an explicit socket path ("@name" for the abstract
  // namespace) and watchdog interval (0: none).
  Notifier(std::string socket, std::chrono::microseconds watchdog);
  Notifier() = default;

  bool active() const { return !socket_.empty(); }
  std::chrono::microseconds watchdog() const { return watchdog_; }

  // Sends `state` as one datagram ("READY=1\nSTATUS=...").
  Status Notify(std::string_view state);
  Status Ready(std::string_view status_text = {});
  Status Stopping();
  Status Reloading();
  // "WATCHDOG=1" when at least half the interval passed since the last
  // ping; nothing without a watchdog.
  Status WatchdogIfDue();

 private:
  std::string socket_;
  std::chrono::microseconds watchdog_{0};
  std::chrono::steady_clock::time_point last_ping_{};
};

}  // namespace cmkwatch::sd
