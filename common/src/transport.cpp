#include "cmkwatch/common/transport.h"

#include <zmq.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <vector>
#include <sstream>

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

constexpr size_t kZ85KeyChars = 40;
constexpr char kZapEndpoint[] = "inproc://zeromq.zap.01";

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
  if (server && o.server_curve) {
    if (auto st = SetOption(socket, ZMQ_CURVE_SERVER, 1, "curve server"); !st.ok()) return st;
    const std::string& sk = o.server_curve->server.secret_key;
    if (zmq_setsockopt(socket, ZMQ_CURVE_SECRETKEY, sk.c_str(), sk.size()) != 0) return ZmqError("server secret key");
    // A ZAP domain makes libzmq consult our handler for every connection.
    if (zmq_setsockopt(socket, ZMQ_ZAP_DOMAIN, "cmkwatch", 8) != 0) return ZmqError("ZAP domain");
  }
  if (!server && o.client_curve) {
    const ClientCurve& c = *o.client_curve;
    if (zmq_setsockopt(socket, ZMQ_CURVE_SERVERKEY, c.server_public_key.c_str(), c.server_public_key.size()) != 0 ||
        zmq_setsockopt(socket, ZMQ_CURVE_PUBLICKEY, c.client.public_key.c_str(), c.client.public_key.size()) != 0 ||
        zmq_setsockopt(socket, ZMQ_CURVE_SECRETKEY, c.client.secret_key.c_str(), c.client.secret_key.size()) != 0) {
      return ZmqError("client CURVE keys");
    }
  }
  if (server) {
    if (auto st = SetOption(socket, ZMQ_MAXMSGSIZE, o.max_message_bytes, "max message size"); !st.ok()) return st;
    // Sending to a vanished peer fails loudly instead of vanishing.
    if (auto st = SetOption(socket, ZMQ_ROUTER_MANDATORY, 1, "router mandatory"); !st.ok()) return st;
  }
  return Status::Ok();
}

bool ValidKey(const std::string& key) {
  if (key.size() != kZ85KeyChars) return false;
  uint8_t bin[32];
  return zmq_z85_decode(bin, key.c_str()) != nullptr;
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

Result<KeyPair> GenerateKeyPair() {
  char pub[kZ85KeyChars + 1] = {};
  char sec[kZ85KeyChars + 1] = {};
  if (zmq_curve_keypair(pub, sec) != 0) return ZmqError("generating a CURVE key pair");
  return KeyPair{pub, sec};
}

Status WriteKeyPair(const std::string& prefix, const KeyPair& keys) {
  auto write = [](const std::string& path, const std::string& text, mode_t mode) -> Status {
    // O_EXCL: never overwrite a key; the mode applies from creation on.
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) return Status::IoError(path + ": " + std::strerror(errno));
    const std::string line = text + "\n";
    const ssize_t n = ::write(fd, line.data(), line.size());
    const bool ok = n == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) return Status::IoError(path + ": write failed");
    return Status::Ok();
  };
  if (auto st = write(prefix + ".key_secret", keys.secret_key, 0600); !st.ok()) return st;
  return write(prefix + ".key", keys.public_key, 0644);
}

Result<std::string> ReadKeyFile(const std::string& path, bool secret) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Status::NotFound(path + ": " + std::strerror(errno));
  if (secret && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return Status::InvalidArgument(path + ": secret key is readable by group or others (chmod 600 it)");
  }
  // A key file is 40 characters and a line end; read at most a little more,
  // so a path that names /dev/zero or a log file cannot eat memory.
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(path + ": not a regular file");
  constexpr size_t kMaxKeyFileBytes = 256;
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError(path + ": cannot be read");
  std::string key(kMaxKeyFileBytes + 1, '\0');
  in.read(key.data(), static_cast<std::streamsize>(key.size()));
  key.resize(static_cast<size_t>(in.gcount()));
  if (key.size() > kMaxKeyFileBytes) {
    return Status::InvalidArgument(path + ": not a 40-character Z85 CURVE key (the file is too large)");
  }
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ')) key.pop_back();
  while (!key.empty() && (key.front() == ' ' || key.front() == '\n')) key.erase(0, 1);
  if (!ValidKey(key)) {
    // Never echo the content: it may be a secret.
    return Status::InvalidArgument(path + ": not a 40-character Z85 CURVE key");
  }
  return key;
}

bool IsLocalEndpoint(std::string_view e) {
  if (e.rfind("ipc://", 0) == 0 || e.rfind("inproc://", 0) == 0) return true;
  if (e.rfind("tcp://", 0) != 0) return false;
  e.remove_prefix(6);
  return e.rfind("127.", 0) == 0 || e.rfind("[::1]:", 0) == 0 || e.rfind("localhost:", 0) == 0;
}

struct Server::Impl {
  ContextPtr ctx;
  SocketPtr zap;  // REP on inproc://zeromq.zap.01, bound before the ROUTER
  SocketPtr socket;
  std::map<std::string, std::string> allowed;  // Z85 client key → collector id
  uint64_t refused = 0;

  // Answers one ZAP request (RFC 27): admit allowlisted CURVE keys only,
  // with the collector id as the User-Id every later message carries.
  Status AnswerZap() {
    std::vector<std::string> frames;
    for (;;) {
      Message m;
      if (zmq_msg_recv(m.get(), zap.get(), 0) < 0) return ZmqError("receiving ZAP request");
      frames.push_back(m.str());
      if (!m.more() || frames.size() > 16) break;
    }
    std::string status = "400", text = "unknown client key", user;
    if (frames.size() >= 7 && frames[0] == "1.0" && frames[5] == "CURVE" && frames[6].size() == 32) {
      char z85[kZ85KeyChars + 1] = {};
      zmq_z85_encode(z85, reinterpret_cast<const uint8_t*>(frames[6].data()), 32);
      auto it = allowed.find(z85);
      if (it != allowed.end()) {
        status = "200";
        text = "OK";
        user = it->second;
      }
    }
    if (status != "200") ++refused;
    const std::string request_id = frames.size() > 1 ? frames[1] : "";
    const std::string reply[] = {"1.0", request_id, status, text, user, ""};
    for (size_t i = 0; i < 6; ++i) {
      if (zmq_send(zap.get(), reply[i].data(), reply[i].size(), i < 5 ? ZMQ_SNDMORE : 0) < 0) {
        return ZmqError("answering ZAP request");
      }
    }
    return Status::Ok();
  }
};

Server::Server(std::unique_ptr<Impl> impl, std::string endpoint)
    : impl_(std::move(impl)), endpoint_(std::move(endpoint)) {}
Server::~Server() = default;

Result<std::unique_ptr<Server>> Server::Bind(const std::string& endpoint, const LinkOptions& options) {
  if (!options.server_curve && !IsLocalEndpoint(endpoint)) {
    return Status::InvalidArgument("refusing to bind " + endpoint +
                                   " without CURVE keys: events would cross the network in plaintext "
                                   "(use ipc:// or a loopback address, or configure keys)");
  }
  auto impl = std::make_unique<Impl>();
  impl->ctx.reset(zmq_ctx_new());
  if (!impl->ctx) return ZmqError("creating ZeroMQ context");
  if (options.server_curve) {
    const ServerCurve& c = *options.server_curve;
    if (!ValidKey(c.server.public_key) || !ValidKey(c.server.secret_key)) {
      return Status::InvalidArgument("server CURVE keys are not 40-character Z85 keys");
    }
    for (const auto& [key, id] : c.allowed_clients) {
      if (!ValidKey(key)) return Status::InvalidArgument("allowlisted key for collector '" + id + "' is not a Z85 key");
      if (id.empty()) return Status::InvalidArgument("allowlisted key without a collector id");
    }
    impl->allowed = c.allowed_clients;
    impl->zap.reset(zmq_socket(impl->ctx.get(), ZMQ_REP));
    if (!impl->zap) return ZmqError("creating ZAP socket");
    if (auto st = SetOption(impl->zap.get(), ZMQ_LINGER, 0, "linger"); !st.ok()) return st;
    if (zmq_bind(impl->zap.get(), kZapEndpoint) != 0) return ZmqError("binding ZAP handler");
  }
  impl->socket.reset(zmq_socket(impl->ctx.get(), ZMQ_ROUTER));
  if (!impl->socket) return ZmqError("creating ROUTER socket");
  if (auto st = Configure(impl->socket.get(), options, true); !st.ok()) return st;
  if (zmq_bind(impl->socket.get(), endpoint.c_str()) != 0) return ZmqError("binding " + endpoint);
  char actual[256] = {};
  size_t len = sizeof actual;
  if (zmq_getsockopt(impl->socket.get(), ZMQ_LAST_ENDPOINT, actual, &len) != 0) return ZmqError("reading endpoint");
  return std::unique_ptr<Server>(new Server(std::move(impl), std::string(actual)));
}

uint64_t Server::refused_clients() const { return impl_->refused; }

Result<std::optional<Incoming>> Server::Receive(int timeout_ms) {
  // Serve ZAP requests while waiting for data, until the deadline.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms);
  for (;;) {
    zmq_pollitem_t items[2] = {{impl_->socket.get(), 0, ZMQ_POLLIN, 0}, {impl_->zap.get(), 0, ZMQ_POLLIN, 0}};
    const int n_items = impl_->zap ? 2 : 1;
    long wait = -1;
    if (timeout_ms >= 0) {
      wait = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
      if (wait < 0) wait = 0;
    }
    const int rc = zmq_poll(items, n_items, wait);
    if (rc < 0 && zmq_errno() == EINTR) continue;
    if (rc < 0) return ZmqError("poll");
    if (n_items == 2 && (items[1].revents & ZMQ_POLLIN) != 0) {
      if (auto st = impl_->AnswerZap(); !st.ok()) return st;
    }
    if ((items[0].revents & ZMQ_POLLIN) != 0) break;
    if (rc == 0 || (timeout_ms >= 0 && std::chrono::steady_clock::now() >= deadline)) {
      return std::optional<Incoming>();
    }
  }
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
  // The User-Id our ZAP handler gave this connection: the collector id its
  // key is allowlisted for.
  std::string user;
  if (impl_->zap) {
    if (const char* u = zmq_msg_gets(body.get(), "User-Id")) user = u;
  }
  return std::optional<Incoming>(Incoming{id.str(), body.str(), std::move(user)});
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
  if (options.client_curve) {
    const ClientCurve& c = *options.client_curve;
    if (!ValidKey(c.server_public_key) || !ValidKey(c.client.public_key) || !ValidKey(c.client.secret_key)) {
      return Status::InvalidArgument("client CURVE keys are not 40-character Z85 keys");
    }
  }
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
