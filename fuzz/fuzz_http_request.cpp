// The HTTP request-head parser (behind /metrics and the Event Grid
// endpoint) on arbitrary bytes: never crashes, what it accepts is within
// its bounds (a path starting with '/', at most
// kMaxHeaders headers, no CR/LF smuggled into a name or value), and writing
// an accepted request back out and parsing it again gives the same request.
#include <string>

#include "cmkwatch/common/http_request.h"
#include "fuzz_util.h"

namespace {

bool HasLineBreak(const std::string& s) { return s.find_first_of("\r\n") != std::string::npos; }

bool SameRequest(const cmkwatch::http::Request& a, const cmkwatch::http::Request& b) {
  if (a.method != b.method || a.path != b.path || a.query != b.query || a.version != b.version ||
      a.declares_body != b.declares_body || a.content_length != b.content_length ||
      a.transfer_encoding != b.transfer_encoding || a.headers.size() != b.headers.size()) {
    return false;
  }
  for (size_t i = 0; i < a.headers.size(); ++i) {
    if (a.headers[i].name != b.headers[i].name || a.headers[i].value != b.headers[i].value) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cmkwatch::http;
  const std::string_view head(reinterpret_cast<const char*>(data), size);
  auto req = ParseRequestHead(head);
  if (!req.ok()) return 0;

  CMK_FUZZ_CHECK(head.size() <= kMaxHeadBytes);
  CMK_FUZZ_CHECK(!req->path.empty() && req->path.front() == '/');
  CMK_FUZZ_CHECK(req->path.find_first_of("?# ") == std::string::npos);
  CMK_FUZZ_CHECK(!req->method.empty() && req->method.size() <= kMaxMethodBytes);
  CMK_FUZZ_CHECK(req->version == "HTTP/1.0" || req->version == "HTTP/1.1");
  CMK_FUZZ_CHECK(req->headers.size() <= kMaxHeaders);
  size_t total = 0;
  for (const Header& h : req->headers) {
    CMK_FUZZ_CHECK(!h.name.empty() && !HasLineBreak(h.name) && h.name.find(':') == std::string::npos);
    CMK_FUZZ_CHECK(!HasLineBreak(h.value));
    total += h.name.size() + h.value.size();
  }
  CMK_FUZZ_CHECK(total <= kMaxHeadBytes);
  if (req->version == "HTTP/1.1") CMK_FUZZ_CHECK(req->Find("host") != nullptr);
  CMK_FUZZ_CHECK(req->declares_body == (req->transfer_encoding || req->content_length.value_or(0) > 0));
  if (req->content_length) CMK_FUZZ_CHECK(req->Find("content-length") != nullptr);
  // The query-parameter reader never reads past the query, whatever it holds.
  if (auto v = QueryParameter(req->query, "access_token")) CMK_FUZZ_CHECK(v->size() <= req->query.size());

  // Round trip through a canonical spelling.
  std::string again = req->method + " " + req->path + (req->query.empty() ? "" : "?" + req->query) + " " +
                      req->version + "\r\n";
  for (const Header& h : req->headers) again += h.name + ": " + h.value + "\r\n";
  again += "\r\n";
  if (again.size() <= kMaxHeadBytes) {
    auto round = ParseRequestHead(again);
    CMK_FUZZ_CHECK(round.ok());
    CMK_FUZZ_CHECK(SameRequest(*req, *round));
  }
  return 0;
}
