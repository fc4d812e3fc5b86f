#include "cmkwatch/common/signals.h"

#include <signal.h>

#include <cerrno>
#include <ctime>

namespace cmkwatch {

StopSignals::StopSignals(std::function<void(int)> on_stop, std::function<void()> on_reload) :
    on_stop_(std::move(on_stop)), on_reload_(std::move(on_reload)) {
  ::signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  if (on_reload_) sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  thread_ = std::thread([this, set] {
    // sigtimedwait with a short timeout so the destructor can end the
    // thread without sending the process a signal.
    const timespec tick{0, 200'000'000};
    while (!done_.load()) {
      const int sig = sigtimedwait(&set, nullptr, &tick);
      if (sig == SIGTERM || sig == SIGINT) {
        received_.store(sig);
        on_stop_(sig);
      } else if (sig == SIGHUP && on_reload_ && received_.load() == 0) {
        on_reload_();
      }
    }
  });
}

StopSignals::~StopSignals() {
  done_.store(true);
  if (thread_.joinable()) thread_.join();
}

}  // namespace cmkwatch
