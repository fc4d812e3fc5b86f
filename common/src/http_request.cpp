#include "cmkwatch/common/http_request.h"

#include <cstdint>

namespace cmkwatch::http {
namespace {

constexpr std::string_view kCrlf = "\r\n";

// RFC 9110 token characters.
bool IsTchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTchar(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Field-value bytes: visible ASCII, space, tab and obs-text; never CR, LF,
// NUL or another control.
bool IsFieldValueChar(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

char AsciiLowerChar(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiLowerChar(a[i]) != AsciiLowerChar(b[i])) return false;
  }
  return true;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

Status ParseRequestLine(std::string_view line, Request& req) {
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return Status::Corruption("request line has no target");
  const std::string_view method = line.substr(0, sp1);
  if (method.size() > kMaxMethodBytes) return Status::Corruption("method too long");
  if (!IsToken(method)) return Status::Corruption("method is not a token");

  const std::string_view rest = line.substr(sp1 + 1);
  const size_t sp2 = rest.find(' ');
  if (sp2 == std::string_view::npos) return Status::Corruption("request line has no version");
  const std::string_view target = rest.substr(0, sp2);
  const std::string_view version = rest.substr(sp2 + 1);

  if (target.empty() || target.front() != '/') {
    // Also refuses absolute-form ("http://...") and asterisk-form ("*"):
    // nothing we serve needs them, and origin-form is what clients send.
    return Status::Corruption("request target must start with '/'");
  }
  for (char c : target) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return Status::Corruption("request target has a space or non-ASCII byte");
    if (c == '#') return Status::Corruption("request target has a fragment");
  }

  // "HTTP/" DIGIT "." DIGIT; other shapes are garbage, other numbers are
  // versions we do not speak.
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[5] < '0' || version[5] > '9' ||
      version[6] != '.' || version[7] < '0' || version[7] > '9') {
    return Status::Corruption("malformed HTTP version");
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return Status::Unsupported("HTTP version not supported");

  const size_t q = target.find('?');
  req.method = std::string(method);
  req.path = std::string(target.substr(0, q));
  req.query = q == std::string_view::npos ? std::string() : std::string(target.substr(q + 1));
  req.version = std::string(version);
  return Status::Ok();
}

Status ParseHeaderLine(std::string_view line, Request& req) {
  if (line.front() == ' ' || line.front() == '\t') return Status::Corruption("obsolete header line folding");
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return Status::Corruption("header line has no ':'");
  const std::string_view name = line.substr(0, colon);
  // Whitespace before the colon is a token failure too (RFC 9112 5.1 says
  // reject it outright).
  if (!IsToken(name)) return Status::Corruption("malformed header name");
  const std::string_view value = TrimOws(line.substr(colon + 1));
  for (char c : value) {
    if (!IsFieldValueChar(static_cast<unsigned char>(c))) return Status::Corruption("control byte in header value");
  }
  if (req.headers.size() >= kMaxHeaders) return Status::LimitExceeded("too many header lines");
  req.headers.push_back(Header{std::string(name), std::string(value)});
  return Status::Ok();
}

// Content-Length must be digits, and every copy must agree (differing
// copies are a smuggling vector: refuse rather than pick one).
Status CheckBody(Request& req) {
  bool have_length = false;
  uint64_t length = 0;
  for (const Header& h : req.headers) {
    if (EqualsIgnoreCase(h.name, "transfer-encoding")) {
      req.declares_body = true;
      req.transfer_encoding = true;
    } else if (EqualsIgnoreCase(h.name, "content-length")) {
      if (h.value.empty() || h.value.size() > 18) return Status::Corruption("malformed Content-Length");
      uint64_t n = 0;
      for (char c : h.value) {
        if (c < '0' || c > '9') return Status::Corruption("malformed Content-Length");
        n = n * 10 + static_cast<uint64_t>(c - '0');
      }
      if (have_length && n != length) return Status::Corruption("conflicting Content-Length headers");
      req.content_length = n;
      have_length = true;
      length = n;
    }
  }
  if (length > 0) req.declares_body = true;
  return Status::Ok();
}

}  // namespace

const Header* Request::Find(std::string_view name) const {
  for (const Header& h : headers) {
    if (EqualsIgnoreCase(h.name, name)) return &h;
  }
  return nullptr;
}

Result<Request> ParseRequestHead(std::string_view head) {
  if (head.size() > kMaxHeadBytes) return Status::LimitExceeded("request head over 8 KiB");
  if (head.size() < 4 || head.substr(head.size() - 4) != "\r\n\r\n") {
    return Status::Corruption("request head does not end with an empty line");
  }
  // The final CRLF is the empty line; every line before it ends in CRLF.
  std::string_view lines = head.substr(0, head.size() - 2);
  Request req;
  bool first = true;
  while (!lines.empty()) {
    const size_t end = lines.find(kCrlf);
    // Cannot be npos: `lines` ends with CRLF by construction.
    const std::string_view line = lines.substr(0, end);
    lines.remove_prefix(end + kCrlf.size());
    if (line.find('\r') != std::string_view::npos || line.find('\n') != std::string_view::npos) {
      return Status::Corruption("bare CR or LF in request head");
    }
    if (line.empty()) return Status::Corruption("empty line inside the request head");
    if (first) {
      if (Status st = ParseRequestLine(line, req); !st.ok()) return st;
      first = false;
    } else if (Status st = ParseHeaderLine(line, req); !st.ok()) {
      return st;
    }
  }
  if (first) return Status::Corruption("no request line");

  // HTTP/1.1 requires exactly one Host (RFC 9112 3.2); we do not route on
  // it, but a request without one is not well-formed.
  size_t hosts = 0;
  for (const Header& h : req.headers) {
    if (EqualsIgnoreCase(h.name, "host")) ++hosts;
  }
  if (hosts > 1) return Status::Corruption("more than one Host header");
  if (hosts == 0 && req.version == "HTTP/1.1") return Status::Corruption("HTTP/1.1 request without Host");

  if (Status st = CheckBody(req); !st.ok()) return st;
  return req;
}

namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<std::string> QueryParameter(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) != name) continue;
    const std::string_view raw = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    std::string out;
    out.reserve(raw.size());
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] != '%') {
        out += raw[i];
        continue;
      }
      if (i + 2 >= raw.size()) return std::nullopt;  // a '%' without two digits after it
      const int hi = HexDigit(raw[i + 1]);
      const int lo = HexDigit(raw[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    return out;
  }
  return std::nullopt;
}

}  // namespace cmkwatch::http
