// The Stop() half of every Source: a flag any thread may raise, plus an
// eventfd that a poll() in RunOnce waits on beside the source's own
// descriptors, so raising it wakes a blocked step at once. Shared by
// DirectorySource and StreamSource so both stop the same way. Private to the
// collector library.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "cmkwatch/common/status.h"
#include "read_util.h"

namespace cmkwatch::collector::internal {

class StopSignal {
 public:
  // Creates the eventfd (Setup time: construction opens nothing).
  Status Open() {
    fd_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!fd_.valid()) return Status::IoError(std::string("eventfd: ") + std::strerror(errno));
    return Status::Ok();
  }

  // Any thread, any number of times. Before Open only the flag is set; a
  // RunOnce then returns at once without waiting.
  void Raise() {
    raised_.store(true);
    if (fd_.valid()) {
      const uint64_t one = 1;
      // Cannot fail short of the counter overflowing (2^64 - 1 raises), and
      // a full counter still reads as readable: the result does not matter.
      [[maybe_unused]] const ssize_t n = ::write(fd_.get(), &one, sizeof one);
    }
  }

  bool raised() const { return raised_.load(); }
  // For poll() with POLLIN; stays readable once raised (never drained).
  int fd() const { return fd_.get(); }

 private:
  std::atomic<bool> raised_{false};
  UniqueFd fd_;
};

}  // namespace cmkwatch::collector::internal
