// The HTTP/1.x request-head parser behind http::Server (private to common).
//
// Pure: bytes in, a Request or a Status out, no I/O, so tests and the fuzz
// target (fuzz/fuzz_http_request.cpp) call it directly.
//
// Grammar accepted (a strict subset of RFC 9112, enough for scrapers,
// curl and health checkers):
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
  // body (the server refuses those; it only serves GET and HEAD).
  bool declares_body = false;

  // The first header of that name (ASCII case-insensitive), or nullptr.
  const Header* Find(std::string_view name) const;
};

// Parses one request head: everything up to and including the CRLF CRLF
// that ends it (nothing may follow).
//   Corruption      malformed (→ 400)
//   LimitExceeded   head over kMaxHeadBytes or more than kMaxHeaders (→ 431)
//   Unsupported     an HTTP version other than 1.0 / 1.1 (→ 505)
Result<Request> ParseRequestHead(std::string_view head);

}  // namespace cmkwatch::http
