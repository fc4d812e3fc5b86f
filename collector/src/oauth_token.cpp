// OAuth client-credentials tokens (contract in oauth_token.h).
#include "oauth_token.h"

#include <curl/curl.h>
#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <mutex>

namespace cmkwatch::collector::internal {
namespace {

constexpr int64_t kMaxLifetimeS = 86'400;
constexpr size_t kMaxShownBytes = 200;

// What an endpoint said, safe for a log line: printable ASCII as is, every
// other byte \xNN, cut once kMaxShownBytes are written.
std::string Shown(std::string_view text) {
  std::string out;
  size_t i = 0;
  for (; i < text.size() && out.size() < kMaxShownBytes; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (i < text.size()) out += "...";
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// expires_in: a JSON number, or (some endpoints) a string of digits.
std::optional<int64_t> ReadLifetime(simdjson::dom::element v) {
  int64_t n = 0;
  if (v.get_int64().get(n) == simdjson::SUCCESS) return n;
  uint64_t u = 0;
  if (v.get_uint64().get(u) == simdjson::SUCCESS) return u > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(u);
  double d = 0;
  if (v.get_double().get(d) == simdjson::SUCCESS) {
    if (!(d >= 0)) return -1;  // negative or NaN
    return d > 1e18 ? INT64_MAX : static_cast<int64_t>(d);
  }
  std::string_view s;
  if (v.get_string().get(s) == simdjson::SUCCESS) {
    if (s.empty() || s.size() > 18) return std::nullopt;
    int64_t out = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return std::nullopt;
      out = out * 10 + (c - '0');
    }
    return out;
  }
  return std::nullopt;
}

// One libcurl easy handle, cleaned up on every path.
struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

struct Body {
  std::string text;
  bool overflow = false;
};

size_t Collect(char* data, size_t size, size_t n, void* user) {
  auto* body = static_cast<Body*>(user);
  const size_t bytes = size * n;
  if (body->text.size() + bytes > kMaxTokenAnswerBytes) {
    body->overflow = true;
    return 0;  // makes curl stop with CURLE_WRITE_ERROR
  }
  body->text.append(data, bytes);
  return bytes;
}

std::string Escaped(CURL* curl, std::string_view value) {
  char* e = curl_easy_escape(curl, value.data(), static_cast<int>(value.size()));
  if (e == nullptr) return {};
  std::string out(e);
  curl_free(e);
  return out;
}

}  // namespace

Result<OAuthToken> ParseTokenAnswer(std::string_view body) {
  if (body.size() > kMaxTokenAnswerBytes) {
    return Status::LimitExceeded("token answer of " + std::to_string(body.size()) + " bytes is over 64 KiB");
  }
  // The DOM parser is the simple tool here: one small document per token
  // refresh, nothing on a hot path.
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body.data(), body.size(), true).get(root) != simdjson::SUCCESS) {
    return Status::Corruption("token answer is not JSON");
  }
  simdjson::dom::object obj;
  if (root.get_object().get(obj) != simdjson::SUCCESS) return Status::Corruption("token answer is not a JSON object");
  std::string_view error, description;
  // Both optional: absent or not a string leaves them empty.
  if (obj["error"].get_string().get(error) != simdjson::SUCCESS) error = {};
  if (obj["error_description"].get_string().get(description) != simdjson::SUCCESS) description = {};
  if (!error.empty()) {
    std::string msg = "token endpoint refused: " + Shown(error);
    if (!description.empty()) msg += " (" + Shown(description) + ")";
    return Status::Corruption(msg);
  }
  std::string_view token, type;
  if (obj["access_token"].get_string().get(token) != simdjson::SUCCESS || token.empty()) {
    return Status::Corruption("token answer has no access_token string");
  }
  if (token.size() > kMaxAccessTokenBytes) return Status::LimitExceeded("access_token is over 16 KiB");
  // A token goes into a SASL message: it must be printable ASCII.
  if (!std::all_of(token.begin(), token.end(), [](char c) { return c > 0x20 && c < 0x7f; })) {
    return Status::Corruption("access_token holds characters a bearer token cannot");
  }
  if (obj["token_type"].get_string().get(type) == simdjson::SUCCESS && !EqualsIgnoreCase(type, "bearer")) {
    return Status::Corruption("token_type is " + Shown(type) + ", not Bearer");
  }
  simdjson::dom::element expires;
  if (obj["expires_in"].get(expires) != simdjson::SUCCESS) return Status::Corruption("token answer has no expires_in");
  const std::optional<int64_t> lifetime = ReadLifetime(expires);
  if (!lifetime || *lifetime < 1) return Status::Corruption("expires_in is not a positive number of seconds");
  OAuthToken out;
  out.access_token.assign(token);
  out.expires_in_s = std::min(*lifetime, kMaxLifetimeS);
  return out;
}

std::string TokenEndpointProblem(std::string_view url) {
  if (std::any_of(url.begin(), url.end(), [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; })) {
    return "the URL holds spaces or control characters";
  }
  const bool https = url.rfind("https://", 0) == 0;
  if (!https && url.rfind("http://", 0) != 0) return "expected an https:// URL";
  const std::string_view rest = url.substr(https ? 8 : 7);
  const std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.empty()) return "expected https://host/path";
  if (authority.find('@') != std::string_view::npos) return "credentials do not belong in the URL";
  if (https) return "";
  // Plain http:// only to this machine: exactly a loopback host, then
  // nothing or a port (fuzzing found "http://[::1]en..." taken for [::1]).
  std::string_view host = authority, port;
  if (authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return "an IPv6 host needs its closing ']'";
    host = authority.substr(0, close + 1);
    port = authority.substr(close + 1);
  } else if (const size_t colon = authority.find(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon);
  }
  if (!port.empty()) {
    const std::string_view digits = port.substr(1);
    if (port.front() != ':' || digits.empty() || digits.size() > 5 ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return "expected host:port";
    }
  }
  if (host == "127.0.0.1" || host == "localhost" || host == "[::1]") return "";
  return "plain http:// is allowed only to a loopback host (the client secret travels in the request)";
}

Result<OAuthToken> FetchToken(const TokenRequest& request) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return Status::Internal("curl_easy_init failed");
  CURL* c = curl.get();
  const std::string form = "grant_type=client_credentials&client_id=" + Escaped(c, request.client_id) +
                           "&client_secret=" + Escaped(c, request.client_secret) +
                           "&scope=" + Escaped(c, request.scope);
  std::unique_ptr<curl_slist, SlistDeleter> headers(
      curl_slist_append(nullptr, "Content-Type: application/x-www-form-urlencoded"));
  headers.reset(curl_slist_append(headers.release(), "Accept: application/json"));
  Body body;
  char errbuf[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(c, CURLOPT_URL, request.endpoint.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, form.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(form.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &Collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout_ms));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // called from librdkafka's threads
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);  // a redirect must not carry the secret elsewhere
  if (!request.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, request.ca_file.c_str());
  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    if (body.overflow) return Status::IoError("token endpoint answered more than 64 KiB");
    return Status::IoError("token endpoint: " + std::string(errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc)));
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  auto token = ParseTokenAnswer(body.text);
  if (status < 200 || status > 299) {
    std::string msg = "token endpoint answered HTTP " + std::to_string(status);
    if (!token.ok() && token.status().message().rfind("token endpoint refused", 0) == 0) {
      msg += ": " + token.status().message().substr(std::string_view("token endpoint ").size());
    }
    return Status::IoError(msg);
  }
  if (!token.ok()) return Status::IoError(token.status().message());
  return token;
}

}  // namespace cmkwatch::collector::internal
