// A small libcurl client for tests that play an HTTP sender (Event Grid
// delivering to the collector's endpoint): one call in, status, headers and
// body out. Curl handles are owned here; pass a CurlHandle to keep one
// connection across calls (keep-alive, one TLS session).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "receivers.h"

typedef void CURL;

namespace cmkwatch::test {

struct HttpCall {
  std::string method = "POST";  // POST, GET, OPTIONS, ...
  std::string url;
  std::string body;  // POST only
  std::vector<std::string> headers = {"Content-Type: application/json"};  // "Name: value"
  std::string ca_file;  // for https:// with a test CA
};

struct HttpReply {
  int curl_code = 0;  // CURLE_OK (0) when a response came
  std::string curl_error;
  long status = 0;
  std::string body;
  HeaderList headers;     // of the final response
  long new_connections = 0;  // connections this call opened
  std::string Header(std::string_view name) const { return FindHeader(headers, name); }
};

class CurlHandle {
 public:
  CurlHandle();
  ~CurlHandle();
  CurlHandle(const CurlHandle&) = delete;
  CurlHandle& operator=(const CurlHandle&) = delete;
  CURL* get() const { return curl_; }

 private:
  CURL* curl_;
};

// Performs the call (10 s timeout). With `reuse`, on that handle's
// connection when it is still open.
HttpReply Http(const HttpCall& call, CurlHandle* reuse = nullptr);

}  // namespace cmkwatch::test
