// The notification protocol against a real AF_UNIX datagram socket, bound
// where systemd would bind it: what arrives is what systemd would read.
#include "cmkwatch/common/sd_notify.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <optional>
#include <string>
#include <thread>

#include "test_support.h"

namespace cmkwatch::sd {
namespace {

// systemd's end: a bound datagram socket that reads one message at a time.
class Listener {
 public:
  explicit Listener(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    if (path[0] == '@') addr.sun_path[0] = '\0';
    ok_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&addr),
                             static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size())) == 0;
  }
  ~Listener() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return ok_; }
  // The next datagram within `ms`, or nothing.
  std::optional<std::string> Read(int ms = 2000) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, ms) != 1) return std::nullopt;
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<size_t>(n));
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
};

TEST(SdNotify, ReadyStatusAndStoppingArriveAsSystemdReadsThem) {
  test::TestDir dir("sd-notify");
  const std::string path = (dir / "notify").string();
  Listener systemd(path);
  ASSERT_TRUE(systemd.ok());
  Notifier n(path, std::chrono::microseconds{0});
  ASSERT_TRUE(n.active());
  ASSERT_TRUE(n.Ready("listening on tcp://127.0.0.1:5570\nsecond line").ok());
  EXPECT_EQ(systemd.Read(), "READY=1\nSTATUS=listening on tcp://127.0.0.1:5570 second line");
  ASSERT_TRUE(n.Stopping().ok());
  EXPECT_EQ(systemd.Read(), "STOPPING=1");
}

TEST(SdNotify, TheAbstractNamespaceWorksToo) {
  const std::string name = "@cmkwatch-test-" + std::to_string(::getpid());
  Listener systemd(name);
  ASSERT_TRUE(systemd.ok());
  Notifier n(name, std::chrono::microseconds{0});
  ASSERT_TRUE(n.Reloading().ok());
  EXPECT_EQ(systemd.Read(), "RELOADING=1");
}

TEST(SdNotify, TheWatchdogIsPingedAtHalfItsIntervalNotMoreOften) {
  test::TestDir dir("sd-watchdog");
  const std::string path = (dir / "notify").string();
  Listener systemd(path);
  ASSERT_TRUE(systemd.ok());
  Notifier n(path, std::chrono::milliseconds(400));
  ASSERT_TRUE(n.WatchdogIfDue().ok());  // the first ping goes at once
  EXPECT_EQ(systemd.Read(), "WATCHDOG=1");
  ASSERT_TRUE(n.WatchdogIfDue().ok());  // too soon: nothing
  EXPECT_EQ(systemd.Read(50), std::nullopt);
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  ASSERT_TRUE(n.WatchdogIfDue().ok());
  EXPECT_EQ(systemd.Read(), "WATCHDOG=1");
}

TEST(SdNotify, WithoutSystemdEverythingIsQuietlyOk) {
  ::unsetenv("NOTIFY_SOCKET");
  Notifier n = Notifier::FromEnvironment();
  EXPECT_FALSE(n.active());
  EXPECT_TRUE(n.Ready().ok());
  EXPECT_TRUE(n.WatchdogIfDue().ok());
}

TEST(SdNotify, AWatchdogMeantForAnotherProcessIsIgnored) {
  ::setenv("NOTIFY_SOCKET", "/run/systemd/notify", 1);
  ::setenv("WATCHDOG_USEC", "30000000", 1);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  EXPECT_EQ(Notifier::FromEnvironment().watchdog(), std::chrono::seconds(30));
  ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);
  EXPECT_EQ(Notifier::FromEnvironment().watchdog(), std::chrono::microseconds{0});
  ::unsetenv("NOTIFY_SOCKET");
  ::unsetenv("WATCHDOG_USEC");
  ::unsetenv("WATCHDOG_PID");
}

TEST(SdNotify, ANotifySocketThatIsNoPathIsAnError) {
  Notifier n("relative/path", std::chrono::microseconds{0});
  EXPECT_FALSE(n.Ready().ok());
}

}  // namespace
}  // namespace cmkwatch::sd
