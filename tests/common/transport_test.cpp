// The collector → analyzer link over real ZeroMQ sockets on this machine.
#include "cmkwatch/common/transport.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

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
