// The collector → analyzer link over real ZeroMQ sockets on this machine.
#include "cmkwatch/common/transport.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>

#include "cmkwatch/common/wire.h"

namespace cmkwatch::transport {
namespace {

// Receives until a message arrives or ~5 s pass (connects are asynchronous).
std::optional<Incoming> ReceiveSoon(Server& server) {
  auto r = server.Receive(5000);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : std::nullopt;
}

// Sends, retrying while the connection is still being made.
void SendSoon(Client& client, std::string_view body) {
  for (int i = 0; i < 500; ++i) {
    Status st = client.Send(body);
    if (st.ok()) return;
    ASSERT_TRUE(st.IsLimitExceeded()) << st.ToString();
    usleep(10'000);
  }
  FAIL() << "could not send within 5 s";
}

TEST(Transport, OnlyLocalEndpointsWithoutKeys) {
  EXPECT_TRUE(IsLocalEndpoint("ipc:///run/cmkwatch/analyzer.sock"));
  EXPECT_TRUE(IsLocalEndpoint("inproc://x"));
  EXPECT_TRUE(IsLocalEndpoint("tcp://127.0.0.1:5555"));
  EXPECT_TRUE(IsLocalEndpoint("tcp://[::1]:5555"));
  EXPECT_TRUE(IsLocalEndpoint("tcp://localhost:5555"));
  EXPECT_FALSE(IsLocalEndpoint("tcp://0.0.0.0:5555"));
  EXPECT_FALSE(IsLocalEndpoint("tcp://*:5555"));
  EXPECT_FALSE(IsLocalEndpoint("tcp://10.0.0.5:5555"));
  auto s = Server::Bind("tcp://0.0.0.0:0");
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.status().IsInvalidArgument());
  EXPECT_NE(s.status().message().find("plaintext"), std::string::npos);
}

TEST(Transport, BatchGoesUpAndAckComesBackToTheRightCollector) {
  auto server = Server::Bind("tcp://127.0.0.1:*");
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const std::string endpoint = (*server)->endpoint();
  ASSERT_EQ(endpoint.rfind("tcp://127.0.0.1:", 0), 0u) << endpoint;

  auto a = Client::Connect(endpoint);
  auto b = Client::Connect(endpoint);
  ASSERT_TRUE(a.ok() && b.ok());
  wire::Batch batch;
  batch.collector_id = "collector-a";
  batch.sequence = 7;
  Event e;
  e.id = "keyvault_audit:00";
  e.operation = "KeyDelete";
  e.raw = std::string(100'000, 'x');  // larger than one TCP segment
  batch.events.push_back(e);
  SendSoon(**a, wire::EncodeBatch(batch));
  batch.collector_id = "collector-b";
  batch.sequence = 9;
  SendSoon(**b, wire::EncodeBatch(batch));

  for (int i = 0; i < 2; ++i) {
    auto in = ReceiveSoon(**server);
    ASSERT_TRUE(in.has_value());
    auto decoded = wire::DecodeBatch(in->body);
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(decoded->events.at(0).raw.size(), 100'000u);
    const wire::Ack ack{decoded->collector_id, decoded->sequence, 1, 0};
    ASSERT_TRUE((*server)->Send(in->peer, wire::EncodeAck(ack)).ok());
  }
  auto ack_a = (*a)->Receive(5000);
  ASSERT_TRUE(ack_a.ok() && ack_a->has_value());
  auto da = wire::DecodeAck(**ack_a);
  ASSERT_TRUE(da.ok());
  EXPECT_EQ(da->collector_id, "collector-a");
  EXPECT_EQ(da->sequence, 7u);
  auto ack_b = (*b)->Receive(5000);
  ASSERT_TRUE(ack_b.ok() && ack_b->has_value());
  auto db = wire::DecodeAck(**ack_b);
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(db->collector_id, "collector-b");
  EXPECT_EQ(db->sequence, 9u);
}

TEST(Transport, IpcEndpoint) {
  const std::string path = "/tmp/cmkwatch-transport-" + std::to_string(getpid()) + ".sock";
  auto server = Server::Bind("ipc://" + path);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  auto client = Client::Connect("ipc://" + path);
  ASSERT_TRUE(client.ok());
  SendSoon(**client, "hello");
  auto in = ReceiveSoon(**server);
  ASSERT_TRUE(in.has_value());
  EXPECT_EQ(in->body, "hello");
  std::filesystem::remove(path);
}

TEST(Transport, OversizedMessageNeverReachesTheAnalyzer) {
  LinkOptions options;
  options.max_message_bytes = 1024;
  auto server = Server::Bind("tcp://127.0.0.1:*", options);
  ASSERT_TRUE(server.ok());
  auto big = Client::Connect((*server)->endpoint());
  ASSERT_TRUE(big.ok());
  SendSoon(**big, std::string(4096, 'x'));
  auto r = (*server)->Receive(500);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
  // The server keeps serving others.
  auto small = Client::Connect((*server)->endpoint());
  ASSERT_TRUE(small.ok());
  SendSoon(**small, "ok");
  auto in = ReceiveSoon(**server);
  ASSERT_TRUE(in.has_value());
  EXPECT_EQ(in->body, "ok");
}

TEST(Transport, SendingToAGonePeerIsNotFound) {
  auto server = Server::Bind("tcp://127.0.0.1:*");
  ASSERT_TRUE(server.ok());
  Status st = (*server)->Send("no-such-peer", "ack");
  EXPECT_TRUE(st.IsNotFound()) << st.ToString();
}

TEST(Transport, ClientWithoutAnalyzerReportsBackPressure) {
  auto client = Client::Connect("tcp://127.0.0.1:1");  // nothing listens on port 1
  ASSERT_TRUE(client.ok());
  Status st = (*client)->Send("batch");
  EXPECT_TRUE(st.IsLimitExceeded()) << st.ToString();
  auto r = (*client)->Receive(50);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
}

}  // namespace
}  // namespace cmkwatch::transport

// ---- CURVE and the ZAP allowlist ------------------------------------------

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <atomic>
#include <thread>

namespace cmkwatch::transport {
namespace {

// A TCP relay on loopback that records every byte it forwards, so a test can
// look at what actually crosses the wire.
class RecordingRelay {
 public:
  explicit RecordingRelay(int target_port) : target_port_(target_port) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(listen_fd_, 4), 0);
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Run(); });
  }
  ~RecordingRelay() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
  }
  int port() const { return port_; }
  std::string recorded() {
    std::lock_guard<std::mutex> lock(mu_);
    return bytes_;
  }

 private:
  void Run() {
    pollfd lp{listen_fd_, POLLIN, 0};
    while (!stop_ && ::poll(&lp, 1, 50) <= 0) {
    }
    if (stop_) return;
    const int in = ::accept(listen_fd_, nullptr, nullptr);
    const int out = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(target_port_));
    if (::connect(out, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
    char buf[65536];
    while (!stop_) {
      pollfd fds[2] = {{in, POLLIN, 0}, {out, POLLIN, 0}};
      if (::poll(fds, 2, 50) <= 0) continue;
      for (int i = 0; i < 2; ++i) {
        if ((fds[i].revents & (POLLIN | POLLHUP)) == 0) continue;
        const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
        if (n <= 0) {
          stop_ = true;
          break;
        }
        {
          std::lock_guard<std::mutex> lock(mu_);
          bytes_.append(buf, static_cast<size_t>(n));
        }
        (void)!::write(fds[1 - i].fd, buf, static_cast<size_t>(n));
      }
    }
    ::close(in);
    ::close(out);
  }

  int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::string bytes_;
  std::thread thread_;
};

int PortOf(const std::string& endpoint) { return std::stoi(endpoint.substr(endpoint.rfind(':') + 1)); }

// With CURVE the handshake completes only when the server answers the ZAP
// request, which it does inside Receive: keep the server receiving while
// the client tries to send, as the analyzer's loop does.
std::optional<Incoming> SendWhileServing(Client& client, Server& server, std::string_view body) {
  bool sent = false;
  for (int i = 0; i < 500; ++i) {
    if (!sent) {
      Status st = client.Send(body);
      EXPECT_TRUE(st.ok() || st.IsLimitExceeded()) << st.ToString();
      sent = st.ok();
    }
    auto r = server.Receive(10);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (r.ok() && r->has_value()) return *r;
  }
  ADD_FAILURE() << "nothing arrived within 5 s";
  return std::nullopt;
}

struct CurveSetup {
  KeyPair server = *GenerateKeyPair();
  KeyPair good = *GenerateKeyPair();
  KeyPair stranger = *GenerateKeyPair();
  LinkOptions ServerOptions() const {
    LinkOptions o;
    o.server_curve = ServerCurve{server, {{good.public_key, "collector-eastus-1"}}};
    return o;
  }
  LinkOptions ClientOptions(const KeyPair& client) const {
    LinkOptions o;
    o.client_curve = ClientCurve{server.public_key, client};
    return o;
  }
};

TEST(TransportCurve, AllowlistedKeyIsAdmittedEncryptedAndBoundToItsCollector) {
  CurveSetup keys;
  auto server = Server::Bind("tcp://127.0.0.1:*", keys.ServerOptions());
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  RecordingRelay relay(PortOf((*server)->endpoint()));
  auto client = Client::Connect("tcp://127.0.0.1:" + std::to_string(relay.port()), keys.ClientOptions(keys.good));
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  const std::string secret_marker = "KeyDelete by mallory.admin@contoso.example";
  auto in = SendWhileServing(**client, **server, secret_marker);
  ASSERT_TRUE(in.has_value());
  EXPECT_EQ(in->body, secret_marker);
  EXPECT_EQ(in->authenticated_id, "collector-eastus-1");
  const std::string wire_bytes = relay.recorded();
  EXPECT_GT(wire_bytes.size(), secret_marker.size());
  EXPECT_EQ(wire_bytes.find(secret_marker), std::string::npos) << "plaintext crossed the wire";
  EXPECT_EQ(wire_bytes.find("KeyDelete"), std::string::npos);
}

TEST(TransportCurve, UnknownKeyIsRefusedAndNothingArrives) {
  CurveSetup keys;
  auto server = Server::Bind("tcp://127.0.0.1:*", keys.ServerOptions());
  ASSERT_TRUE(server.ok());
  auto client = Client::Connect((*server)->endpoint(), keys.ClientOptions(keys.stranger));
  ASSERT_TRUE(client.ok());
  for (int i = 0; i < 50; ++i) {
    (void)(*client)->Send("batch from a stranger");  // never admitted: back-pressure
    auto r = (*server)->Receive(20);
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->has_value()) << "a refused collector's message arrived";
  }
  EXPECT_GE((*server)->refused_clients(), 1u);
}

TEST(TransportCurve, KeyFilesAreWrittenPrivatelyAndCheckedOnRead) {
  const std::string dir = "/tmp/cmkwatch-keys-" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  const std::string prefix = dir + "/collector";
  auto pair = GenerateKeyPair();
  ASSERT_TRUE(pair.ok());
  ASSERT_TRUE(WriteKeyPair(prefix, *pair).ok());
  struct stat st {};
  ASSERT_EQ(::stat((prefix + ".key_secret").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(WriteKeyPair(prefix, *pair).ok()) << "an existing key must not be overwritten";
  auto sec = ReadKeyFile(prefix + ".key_secret", true);
  ASSERT_TRUE(sec.ok()) << sec.status().ToString();
  EXPECT_EQ(*sec, pair->secret_key);
  EXPECT_EQ(*ReadKeyFile(prefix + ".key", false), pair->public_key);

  ::chmod((prefix + ".key_secret").c_str(), 0644);
  auto loose = ReadKeyFile(prefix + ".key_secret", true);
  ASSERT_FALSE(loose.ok());
  EXPECT_NE(loose.status().message().find("chmod 600"), std::string::npos);

  std::ofstream(dir + "/bad.key") << "not-a-key-but-maybe-a-secret";
  auto bad = ReadKeyFile(dir + "/bad.key", false);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().find("not-a-key-but"), std::string::npos) << "key file content echoed";

  // A path that names something else entirely is refused without reading
  // it whole: a large file, or a device.
  std::ofstream(dir + "/huge.key") << pair->public_key << std::string(1 << 20, ' ');
  auto huge = ReadKeyFile(dir + "/huge.key", false);
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.status().message().find("too large"), std::string::npos) << huge.status().ToString();
  auto device = ReadKeyFile("/dev/zero", false);
  ASSERT_FALSE(device.ok());
  EXPECT_NE(device.status().message().find("not a regular file"), std::string::npos) << device.status().ToString();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace cmkwatch::transport
