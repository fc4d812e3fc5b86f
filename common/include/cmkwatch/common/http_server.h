// A tiny HTTP/1.1 server for /healthz and Prometheus /metrics, loopback by
// default.
//
//   http::Options opts;
//   opts.handlers["/metrics"] = [&registry] {
//     return http::Response{200, std::string(metrics::Registry::kContentType), registry.Render()};
//   };
//   auto server = http::Server::Start("127.0.0.1:9464", std::move(opts));
//
// What it serves. GET and HEAD of the exact paths in Options::handlers (the
// query string is ignored). Everything else gets a short plain-text error:
// 400 malformed request, 404 unknown path, 405 other methods (with
// "Allow: GET, HEAD"), 408 a head not received within read_timeout_ms, 413 a
// request announcing a body, 431 a head over 8 KiB, 505 an HTTP version other
// than 1.0/1.1, 500 a handler that threw or answered nonsense. Every response
// carries "Connection: close": one request per connection keeps the state
// machine small, and a scraper every 15 s gains nothing from keep-alive.
//
// Why one thread and poll(). The load is a scrape every few seconds, so one
// thread interleaving up to max_connections non-blocking connections is
// plenty, and it bounds what a misbehaving client can take: each connection
// has a deadline (read_timeout_ms from accept to the end of the head, and
// again to write the response), so a client that connects and stays silent,
// or drips one byte at a time, is cut off without delaying the others. At
// the cap, new connections wait in the kernel's listen backlog until a slot
// frees (at most read_timeout_ms later), rather than being refused.
//
// Threading. Handlers run on the server's own thread, one at a time, so a
// handler needs no lock of its own against other requests, but it must be
// quick (it delays every other connection) and must not call Stop(). Stop()
// and port() may be called from any other thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "cmkwatch/common/status.h"

namespace cmkwatch::http {

struct Response {
  int status = 200;  // 100..599, or the client gets 500
  std::string content_type = "text/plain; charset=utf-8";  // no CR or LF, or 500
  std::string body;
};

using Handler = std::function<Response()>;

struct Options {
  // Exact path (starting with '/', no query) → handler.
  std::map<std::string, Handler> handlers;
  // Per-connection deadline for receiving the request head, and separately
  // for sending the response.
  int read_timeout_ms = 5000;
  // Connections served at once; more wait in the listen backlog.
  int max_connections = 16;
  // Without this, Start refuses addresses that are not loopback: the
  // endpoint has no authentication, and metrics name vaults and keys.
  bool allow_non_loopback = false;
};

class Server {
 public:
  // Binds and starts serving on a thread of its own. `address` is
  // "host:port" or "[ipv6]:port": "127.0.0.1:9464", "[::1]:0",
  // "localhost:0" (always 127.0.0.1, whatever /etc/hosts says). Port 0 picks
  // a free port; port() tells which.
  //   InvalidArgument  malformed address, bad options, or a non-loopback
  //                    address without allow_non_loopback
  //   IoError          the socket could not be made or bound
  static Result<std::unique_ptr<Server>> Start(const std::string& address, Options options);
  // Stops and joins the thread.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  uint16_t port() const;
  // Closes the listening socket and every open connection (without waiting
  // for them to finish) and joins the thread. Idempotent; returns within
  // milliseconds unless a handler is running, which it waits for.
  void Stop();

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cmkwatch::http
