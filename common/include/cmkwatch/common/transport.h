// The collector → analyzer link over ZeroMQ: DEALER (collector) to ROUTER
// (analyzer).
//
// Why not PUB/SUB: it drops silently at its high-water mark. DEALER/ROUTER
// queues instead, and the analyzer answers each batch with an ack naming
// its sequence, sent only after the batch is committed (wire.h carries the
// bodies). ZeroMQ heartbeats (PING/PONG every heartbeat_ivl_ms) notice a
// dead peer within heartbeat_timeout_ms even on an idle link.
//
// Security. With CURVE keys the link is encrypted and the server runs a ZAP
// handler that admits only allowlisted client public keys — without ZAP,
// CURVE accepts any client key — and binds each key to a collector id,
// which every received message carries (Incoming::authenticated_id) so the
// analyzer can refuse a batch claiming another collector's id. Without keys
// the link is plaintext, so Server::Bind accepts only ipc://, inproc:// and
// loopback tcp:// endpoints; the caller logs a warning.
//
// Ownership: each Server/Client owns its ZeroMQ context and socket; neither
// is thread-safe (one thread per socket, as ZeroMQ requires).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cmkwatch/common/status.h"

namespace cmkwatch::transport {

// CURVE keys are Z85 text, 40 characters, as zmq_curve_keypair makes them.
struct KeyPair {
  std::string public_key;
  std::string secret_key;
};

// A fresh CURVE key pair (libzmq's generator, from the system's CSPRNG).
Result<KeyPair> GenerateKeyPair();

// Writes NAME.key (public) and NAME.key_secret (mode 0600, created with no
// wider permissions at any moment; an existing file is not overwritten).
Status WriteKeyPair(const std::string& path_prefix, const KeyPair& keys);
// Reads a key file: exactly one 40-character Z85 key (whitespace trimmed).
// A secret key file readable by group or others is refused.
Result<std::string> ReadKeyFile(const std::string& path, bool secret);

struct ServerCurve {
  KeyPair server;
  // Client public key (Z85) → the collector id that key speaks for.
  std::map<std::string, std::string> allowed_clients;
};

struct ClientCurve {
  std::string server_public_key;
  KeyPair client;
};

struct LinkOptions {
  int heartbeat_ivl_ms = 1000;
  int heartbeat_timeout_ms = 5000;
  // Largest message a server accepts; a peer sending more is disconnected
  // by ZeroMQ before the bytes reach us.
  int64_t max_message_bytes = int64_t{256} << 20;
  // Messages queued per peer before Send reports back-pressure.
  int send_high_water_mark = 1000;
  std::optional<ServerCurve> server_curve;  // Server only
  std::optional<ClientCurve> client_curve;  // Client only
};

// True for endpoints that never leave the machine: ipc://, inproc://,
// tcp://127.0.0.0/8, tcp://[::1], tcp://localhost.
bool IsLocalEndpoint(std::string_view endpoint);

struct Incoming {
  std::string peer;  // ROUTER routing id of the sending collector
  std::string body;
  // With CURVE: the collector id the sender's key is allowlisted for. Empty
  // on a plaintext link.
  std::string authenticated_id;
};

class Server {
 public:
  // Binds a ROUTER socket. "tcp://127.0.0.1:*" picks a free port; endpoint()
  // tells which.
  static Result<std::unique_ptr<Server>> Bind(const std::string& endpoint, const LinkOptions& options = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Waits up to timeout_ms (-1: forever) for one message; nullopt on timeout.
  // Also answers CURVE authentication requests while it waits, so a
  // connecting collector is admitted or refused only while the server is in
  // Receive.
  Result<std::optional<Incoming>> Receive(int timeout_ms);
  // Connection attempts refused by the allowlist so far.
  uint64_t refused_clients() const;
  // Sends to one peer. NotFound when the peer is gone (the collector will
  // resend its unacknowledged batches when it reconnects).
  Status Send(const std::string& peer, std::string_view body);
  const std::string& endpoint() const { return endpoint_; }

 private:
  struct Impl;
  Server(std::unique_ptr<Impl> impl, std::string endpoint);
  std::unique_ptr<Impl> impl_;
  std::string endpoint_;
};

class Client {
 public:
  static Result<std::unique_ptr<Client>> Connect(const std::string& endpoint, const LinkOptions& options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Queues one message without blocking; LimitExceeded when the queue is at
  // its high-water mark (the caller keeps the batch spooled and retries).
  Status Send(std::string_view body);
  // Waits up to timeout_ms for one message (an ack); nullopt on timeout.
  Result<std::optional<std::string>> Receive(int timeout_ms);

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cmkwatch::transport
