// How sinks reach their endpoints: HTTP(S) POST and SMTP through libcurl
// (TLS via OpenSSL, peer and host verified unless a test says otherwise),
// and RFC 6587 syslog over a plain TCP connection. Each client owns its
// handle (RAII) and is used by one thread, the sink's.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cmkwatch/alerts/sink.h"

namespace cmkwatch::alerts::internal {

// The first 200 bytes of an endpoint's answer for logs: control characters
// and non-ASCII bytes escaped (\xNN), so an answer cannot forge log lines.
std::string ShownDetail(std::string_view text);

// Retry-After: delay-seconds or an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37
// GMT"), relative to now_ns. nullopt when malformed; a date in the past is 0.
std::optional<int64_t> ParseRetryAfter(std::string_view value, int64_t now_ns);

struct HttpAnswer {
  int status = 0;           // 0: no answer (see error)
  std::string body;         // at most the first 4 KiB
  std::string retry_after;  // the header's value, "" when absent
  int curl_code = 0;        // CURLcode
  std::string error;        // transport error, "" when there was an answer
};

// 2xx delivered; 408, 425, 429 and 5xx retried (Retry-After honoured);
// other answers (3xx, 4xx) permanent; no answer retried, except a URL curl
// cannot use at all.
SendResult ClassifyHttp(const HttpAnswer& answer, int64_t now_ns);

struct HttpTarget {
  std::string url;
  std::string ca_file;                 // "" = the system's trust store
  std::string client_cert, client_key;  // mutual TLS, both or neither
  int64_t timeout_ns = 10'000'000'000;
};

class HttpClient {
 public:
  HttpClient();
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // POSTs `body` (Content-Type: application/json) with `headers` ("Name:
  // value" each). Reuses the connection between calls.
  HttpAnswer Post(const HttpTarget& target, std::string_view body, const std::vector<std::string>& headers);

 private:
  struct Handle;
  std::unique_ptr<Handle> h_;
};

struct SmtpTarget {
  std::string url;  // smtp://host:port (STARTTLS required) or smtps://host:port
  std::string ca_file;
  std::string username, password;  // "" = no AUTH
  int64_t timeout_ns = 30'000'000'000;
};
// Sends one RFC 5322 message. Delivered on 250; a server that does not offer
// STARTTLS on smtp:// is never sent to (retried: the server may be fixed,
// and nothing is sent in clear); 5xx answers are permanent, others retried.
SendResult SendMail(const SmtpTarget& target, std::string_view from, const std::vector<std::string>& to,
                    std::string_view message);

// A TCP connection to a syslog collector, opened on first use and reopened
// after the peer closed it. RFC 6587 has no acknowledgements: a peer that
// vanishes without closing can lose what was written since; a peer that
// closed is noticed before the next write, which then goes to a new
// connection.
class TcpSender {
 public:
  explicit TcpSender(std::string host_port) : address_(std::move(host_port)) {}
  ~TcpSender();
  TcpSender(const TcpSender&) = delete;
  TcpSender& operator=(const TcpSender&) = delete;
  SendResult Send(std::string_view bytes, int64_t timeout_ns);

 private:
  Status Connect(int64_t timeout_ns);
  void Close();
  std::string address_;
  int fd_ = -1;
};

}  // namespace cmkwatch::alerts::internal
