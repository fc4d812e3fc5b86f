// PushServer: the HTTP/1.1 (optionally TLS) server under the collector's
// Event Grid source, driven step by step by its owner's thread. Private to
// the collector library.
//
// Why not http::Server (common/http_server.h): that one serves GETs from
// handlers on a thread of its own and answers at once. Here a delivery may
// be answered only after its batch is in the spool, which the source does
// on its own thread (SourceSink's contract), so the server is a passive
// state machine: Step() moves bytes and queues complete requests, the
// owner takes them (TakeRequest) and answers each when it is ready to
// (Respond). Nothing here runs on another thread.
//
// A request's life:
//   accept (at most max_connections; more wait in the kernel's backlog)
//   → [TLS handshake] → head (≤ http::kMaxHeadBytes, parsed by
//   http::ParseRequestHead) → the owner's HeadGate decides:
//       kRespond   answer now from the head alone (a wrong path or secret,
//                  a handshake); a body, if one was announced, is never read
//       kReadBody  read Content-Length bytes (≤ max_body_bytes), then queue
//       kDefer     queue without reading the body (the owner refuses it, but
//                  only after recording why)
//   → queued → owner's Respond → written → keep-alive or close.
// The server itself answers, without asking the gate: 400 malformed head,
// 431 head over 8 KiB, 505 other HTTP versions, 411 a Transfer-Encoding
// (bodies must come with Content-Length; Event Grid sends one), 413 a
// Content-Length over max_body_bytes that the gate let through, 408 a
// request not complete within request_timeout_ms of its first byte (of the
// accept, for a connection's first request: the TLS handshake counts). It
// tells the owner through on_refused(status) so the refusal is counted.
//
// Keep-alive: HTTP/1.1 connections stay open between requests (Event Grid
// reuses them, which saves a TLS handshake per delivery) for at most
// idle_timeout_ms and max_requests_per_connection requests; HTTP/1.0,
// "Connection: close", and any answer given without reading an announced
// body close the connection after the answer. A pipelined request waits
// until the one before it is answered. Closing: after the last byte is sent
// the write side is shut (TLS: close_notify first) and what the client
// still sends is read and dropped for at most a second (64 KiB), so the
// kernel does not reset the connection and destroy the answer in flight.
//
// Bounds: connections, head bytes, body bytes, request and idle timeouts,
// requests per connection; at most one queued request per connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cmkwatch/common/http_request.h"
#include "cmkwatch/common/status.h"

namespace cmkwatch::collector::internal {

struct PushServerOptions {
  std::string listen;  // "host:port" (net::ResolveListenAddress)
  // Both set: HTTPS with this PEM chain and key. Both empty: plain HTTP,
  // which Start refuses unless `listen` is a loopback address.
  std::string cert_file;
  std::string key_file;
  size_t max_body_bytes = size_t{1} << 20;
  int max_connections = 64;
  int request_timeout_ms = 15'000;
  int idle_timeout_ms = 60'000;
  int max_requests_per_connection = 1000;
};

struct PushResponse {
  int status = 200;
  std::string content_type;  // empty: no Content-Type (and usually no body)
  std::string body;
  // Extra header fields; names are tokens, values without CR/LF (checked:
  // a bad one turns the answer into a 500).
  std::vector<std::pair<std::string, std::string>> headers;
  bool close = false;  // close the connection after this answer
};

struct PushRequest {
  uint64_t id = 0;  // for Respond
  http::Request head;
  // The body (Content-Length bytes) followed by kPadding spaces (parse.h),
  // so the parsers read it in place. Empty when deferred.
  std::string padded_body;
  size_t body_size = 0;
  bool body_read = true;

  std::string_view body() const { return std::string_view(padded_body).substr(0, body_size); }
};

struct HeadDecision {
  enum class Kind { kRespond, kReadBody, kDefer };
  Kind kind = Kind::kRespond;
  PushResponse response;  // kRespond only
};

// Called for every complete head, on the owner's thread, inside Step().
using HeadGate = std::function<HeadDecision(const http::Request& head)>;
// Called for each answer the server gives on its own (status as above).
using RefusalObserver = std::function<void(int status)>;

struct PushServerStats {
  uint64_t connections = 0;      // accepted
  uint64_t tls_failures = 0;     // handshakes or records that failed
  uint64_t requests = 0;         // heads parsed
  uint64_t open_connections = 0;
};

class PushServer {
 public:
  // Binds `listen` (and loads the TLS files). InvalidArgument for a bad
  // address, options or files, or plain HTTP off loopback; IoError when the
  // socket cannot be bound.
  static Result<std::unique_ptr<PushServer>> Start(const PushServerOptions& options, HeadGate gate,
                                                   RefusalObserver on_refused);
  ~PushServer();
  PushServer(const PushServer&) = delete;
  PushServer& operator=(const PushServer&) = delete;

  uint16_t port() const;
  bool tls() const;

  // Waits up to timeout_ms for socket activity, a deadline, or `wake_fd`
  // turning readable (-1: none), then does every read, write, accept and
  // timeout that is due. IoError only if poll() itself fails.
  Status Step(int timeout_ms, int wake_fd);

  // The oldest complete request not yet taken, if any.
  std::optional<PushRequest> TakeRequest();
  bool HasRequests() const;
  // Answers a taken request. A request whose connection has gone (the
  // client hung up, or it timed out) is answered nowhere; that is fine for
  // the owner, whose work is done either way.
  void Respond(uint64_t id, PushResponse response);

  PushServerStats Stats() const;

 private:
  struct Impl;
  explicit PushServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The response's bytes on the wire (status line, headers, body). Exposed
// for tests and the fuzz target; nullopt when a header name or value is
// unsafe (the server then answers 500).
std::optional<std::string> SerializeResponse(const PushResponse& response, bool close);

}  // namespace cmkwatch::collector::internal
