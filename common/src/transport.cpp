#include "cmkwatch/common/transport.h"

#include <zmq.h>

#include <cerrno>
#include <cstring>

namespace cmkwatch::transport {
namespace {

struct ContextDeleter {
  void operator()(void* ctx) const { zmq_ctx_term(ctx); }
};
struct SocketDeleter {
  void operator()(void* s) const { zmq_close(s); }
};
using ContextPtr = std::unique_ptr<void, ContextDeleter>;
using SocketPtr = std::unique_ptr<void, SocketDeleter>;

// Owns a zmq_msg_t.
class Message {
 public:
  Message() { zmq_msg_init(&msg_); }
  ~Message() { zmq_msg_close(&msg_); }
  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;
  zmq_msg_t* get() { return &msg_; }
  std::string str() { return std::string(static_cast<const char*>(zmq_msg_data(&msg_)), zmq_msg_size(&msg_)); }
  bool more() { return zmq_msg_more(&msg_) != 0; }

 private:
  zmq_msg_t msg_;
};

Status ZmqError(std::string_view what) {
  return Status::IoError(std::string(what) + ": " + zmq_strerror(zmq_errno()));
}

template <typename T>
Status SetOption(void* socket, int option, T value, std::string_view name) {
  if (zmq_setsockopt(socket, option, &value, sizeof value) != 0) return ZmqError(std::string("setting ") + std::string(name));
  return Status::Ok();
}

// Common socket setup: no lingering on close (the spool, not ZeroMQ's
// queue, is what must survive), heartbeats, queue bounds.
Status Configure(void* socket, const LinkOptions& o, bool server) {
  if (auto st = SetOption(socket, ZMQ_LINGER, 0, "linger"); !st.ok()) return st;
  if (auto st = SetOption(socket, ZMQ_HEARTBEAT_IVL, o.heartbeat_ivl_ms, "heartbeat interval"); !st.ok()) return st;
  if (auto st = SetOption(socket, ZMQ_HEARTBEAT_TIMEOUT, o.heartbeat_timeout_ms, "heartbeat timeout"); !st.ok()) {
    return st;
  }
  if (auto st = SetOption(socket, ZMQ_SNDHWM, o.send_high_water_mark, "send high-water mark"); !st.ok()) return st;
  if (server) {
    if (auto st = SetOption(socket, ZMQ_MAXMSGSIZE, o.max_message_bytes, "max message size"); !st.ok()) return st;
    // Sending to a vanished peer fails loudly instead of vanishing.
    if (auto st = SetOption(socket, ZMQ_ROUTER_MANDATORY, 1, "router mandatory"); !st.ok()) return st;
  }
  return Status::Ok();
}

// Polls one socket for input.
Result<bool> WaitReadable(void* socket, int timeout_ms) {
  zmq_pollitem_t item{socket, 0, ZMQ_POLLIN, 0};
  for (;;) {
    const int rc = zmq_poll(&item, 1, timeout_ms);
    if (rc < 0 && zmq_errno() == EINTR) continue;
    if (rc < 0) return ZmqError("poll");
    return rc > 0;
  }
}

}  // namespace

bool IsLocalEndpoint(std::string_view e) {
  if (e.rfind("ipc://", 0) == 0 || e.rfind("inproc://", 0) == 0) return true;
  if (e.rfind("tcp://", 0) != 0) return false;
  e.remove_prefix(6);
  return e.rfind("127.", 0) == 0 || e.rfind("[::1]:", 0) == 0 || e.rfind("localhost:", 0) == 0;
}

struct Server::Impl {
  ContextPtr ctx;
  SocketPtr socket;
};

Server::Server(std::unique_ptr<Impl> impl, std::string endpoint)
    : impl_(std::move(impl)), endpoint_(std::move(endpoint)) {}
Server::~Server() = default;

Result<std::unique_ptr<Server>> Server::Bind(const std::string& endpoint, const LinkOptions& options) {
  if (!IsLocalEndpoint(endpoint)) {
    return Status::InvalidArgument("refusing to bind " + endpoint +
                                   " without CURVE keys: events would cross the network in plaintext "
                                   "(use ipc:// or a loopback address, or configure keys)");
  }
  auto impl = std::make_unique<Impl>();
  impl->ctx.reset(zmq_ctx_new());
  if (!impl->ctx) return ZmqError("creating ZeroMQ context");
  impl->socket.reset(zmq_socket(impl->ctx.get(), ZMQ_ROUTER));
  if (!impl->socket) return ZmqError("creating ROUTER socket");
  if (auto st = Configure(impl->socket.get(), options, true); !st.ok()) return st;
  if (zmq_bind(impl->socket.get(), endpoint.c_str()) != 0) return ZmqError("binding " + endpoint);
  char actual[256] = {};
  size_t len = sizeof actual;
  if (zmq_getsockopt(impl->socket.get(), ZMQ_LAST_ENDPOINT, actual, &len) != 0) return ZmqError("reading endpoint");
  return std::unique_ptr<Server>(new Server(std::move(impl), std::string(actual)));
}

Result<std::optional<Incoming>> Server::Receive(int timeout_ms) {
  auto ready = WaitReadable(impl_->socket.get(), timeout_ms);
  if (!ready.ok()) return ready.status();
  if (!*ready) return std::optional<Incoming>();
  // ROUTER delivers [routing id][body]; anything else is dropped whole.
  Message id, body;
  if (zmq_msg_recv(id.get(), impl_->socket.get(), 0) < 0) return ZmqError("receiving routing id");
  if (!id.more()) return Status::Corruption("message without a body");
  if (zmq_msg_recv(body.get(), impl_->socket.get(), 0) < 0) return ZmqError("receiving body");
  bool extra = false;
  while (body.more()) {
    Message rest;
    if (zmq_msg_recv(rest.get(), impl_->socket.get(), 0) < 0) return ZmqError("receiving frame");
    extra = true;
    if (!rest.more()) break;
  }
  if (extra) return Status::Corruption("message with more than one body frame from a peer");
  return std::optional<Incoming>(Incoming{id.str(), body.str()});
}

Status Server::Send(const std::string& peer, std::string_view body) {
  void* s = impl_->socket.get();
  if (zmq_send(s, peer.data(), peer.size(), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
    if (zmq_errno() == EHOSTUNREACH) return Status::NotFound("peer is no longer connected");
    return ZmqError("sending routing id");
  }
  if (zmq_send(s, body.data(), body.size(), ZMQ_DONTWAIT) < 0) return ZmqError("sending body");
  return Status::Ok();
}

struct Client::Impl {
  ContextPtr ctx;
  SocketPtr socket;
};

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

Result<std::unique_ptr<Client>> Client::Connect(const std::string& endpoint, const LinkOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->ctx.reset(zmq_ctx_new());
  if (!impl->ctx) return ZmqError("creating ZeroMQ context");
  impl->socket.reset(zmq_socket(impl->ctx.get(), ZMQ_DEALER));
  if (!impl->socket) return ZmqError("creating DEALER socket");
  if (auto st = Configure(impl->socket.get(), options, false); !st.ok()) return st;
  // Queue only for peers that are connected: a batch waits in the spool,
  // not in a ZeroMQ buffer that dies with the process.
  if (auto st = SetOption(impl->socket.get(), ZMQ_IMMEDIATE, 1, "immediate"); !st.ok()) return st;
  if (zmq_connect(impl->socket.get(), endpoint.c_str()) != 0) return ZmqError("connecting " + endpoint);
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Status Client::Send(std::string_view body) {
  if (zmq_send(impl_->socket.get(), body.data(), body.size(), ZMQ_DONTWAIT) < 0) {
    if (zmq_errno() == EAGAIN) return Status::LimitExceeded("analyzer not reachable or send queue full");
    return ZmqError("sending");
  }
  return Status::Ok();
}

Result<std::optional<std::string>> Client::Receive(int timeout_ms) {
  auto ready = WaitReadable(impl_->socket.get(), timeout_ms);
  if (!ready.ok()) return ready.status();
  if (!*ready) return std::optional<std::string>();
  Message body;
  if (zmq_msg_recv(body.get(), impl_->socket.get(), 0) < 0) return ZmqError("receiving");
  while (body.more()) {
    Message rest;
    if (zmq_msg_recv(rest.get(), impl_->socket.get(), 0) < 0) return ZmqError("receiving frame");
    if (!rest.more()) break;
  }
  return std::optional<std::string>(body.str());
}

}  // namespace cmkwatch::transport
