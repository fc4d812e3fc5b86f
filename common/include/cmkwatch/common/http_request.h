// The HTTP/1.x request-head parser behind http::Server (/metrics) and the
// collector's Event Grid endpoint.
//
// Pure: bytes in, a Request or a Status out, no I/O, so tests and the fuzz
// targets (fuzz/fuzz_http_request.cpp, fuzz_eventgrid_delivery.cpp) call it
// directly.
//
// Grammar accepted (a strict subset of RFC 9112, enough for scrapers,
// curl, health checkers and Azure Event Grid's webhook deliveries):
//
//   head         = request-line *( header-line ) CRLF
//   request-line = method SP origin-form SP version CRLF
//   method       = 1*16tchar
//   origin-form  = "/" *( VCHAR except "#" )       ; query split at the first "?"
//   version      = "HTTP/1.0" / "HTTP/1.1"
//   header-line  = field-name ":" OWS field-value OWS CRLF
//   field-name   = 1*tchar
//   field-value  = *( VCHAR / SP / HTAB / obs-text )
//
// Refused on purpose: bare CR or LF (the two-parsers-disagree trick behind
// request smuggling), obsolete line folding, whitespace before the colon,
// absolute-form and asterisk-form targets, fragments, NUL and other controls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cmkwatch/common/status.h"

namespace cmkwatch::http {

// The whole head, request line to the blank line, may not exceed this
// (a larger one is answered 431).
inline constexpr size_t kMaxHeadBytes = 8 * 1024;
inline constexpr size_t kMaxHeaders = 64;
inline constexpr size_t kMaxMethodBytes = 16;

struct Header {
  std::string name;  // as sent; compare case-insensitively
  std::string value;  // optional whitespace around it removed
};

struct Request {
  std::string method;  // case-sensitive, as RFC 9110 says ("get" is not GET)
  std::string path;    // starts with '/'; not percent-decoded
  std::string query;   // after the first '?', without it; empty if none
  std::string version;  // "HTTP/1.0" or "HTTP/1.1"
  std::vector<Header> headers;
  // Content-Length > 0 or any Transfer-Encoding: the client means to send a
  // body (http::Server refuses those; it only serves GET and HEAD).
  bool declares_body = false;
  // Content-Length's value when the header is present (every copy agrees,
  // at most 18 digits); nullopt without one.
  std::optional<uint64_t> content_length;
  // A Transfer-Encoding header was sent (its coding is not interpreted: a
  // server that does not decode chunked bodies answers 411 or 501).
  bool transfer_encoding = false;

  // The first header of that name (ASCII case-insensitive), or nullptr.
  const Header* Find(std::string_view name) const;
};

// Parses one request head: everything up to and including the CRLF CRLF
// that ends it (nothing may follow).
//   Corruption      malformed (→ 400)
//   LimitExceeded   head over kMaxHeadBytes or more than kMaxHeaders (→ 431)
//   Unsupported     an HTTP version other than 1.0 / 1.1 (→ 505)
Result<Request> ParseRequestHead(std::string_view head);

// The value of the first `name=value` pair named `name` in a query string
// ("a=1&code=x%2By"), percent-decoded ('+' stays '+': RFC 3986 queries, not
// HTML forms); nullopt when there is none or its escapes are malformed.
// `name` is compared as sent, case-sensitively and undecoded.
std::optional<std::string> QueryParameter(std::string_view query, std::string_view name);

}  // namespace cmkwatch::http
