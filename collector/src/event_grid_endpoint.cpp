#include "event_grid_endpoint.h"

#include <openssl/crypto.h>
#include <simdjson.h>

#include <algorithm>

namespace cmkwatch::collector::internal {
namespace {

constexpr std::string_view kValidationType = "Microsoft.EventGrid.SubscriptionValidationEvent";
constexpr std::string_view kTextPlain = "text/plain; charset=utf-8";
// What a refusal's body may say of a parser's message, at most.
constexpr size_t kMaxDetailBytes = 200;

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string AsciiLowerCopy(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), Lower);
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return Lower(x) == Lower(y); });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// A CloudEvents origin is a DNS name; echoing anything else into a header
// is not worth the risk.
bool IsOriginText(std::string_view s) {
  return !s.empty() && s.size() <= kMaxOriginBytes && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
                  c == '_' || c == ':' || c == '*';
         });
}

// Event Grid's validation codes are GUIDs; anything else is refused rather
// than escaped into the answer.
bool IsValidationCode(std::string_view s) {
  return !s.empty() && s.size() <= kMaxValidationCodeBytes && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                  c == '.' || c == '~';
         });
}

std::string Shorten(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, kMaxDetailBytes)) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
  if (s.size() > kMaxDetailBytes) out += "...";
  return out;
}

simdjson::dom::parser& DomParser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

// Validates `padded` as one JSON document with the thread's DOM parser.
Result<simdjson::dom::element> ParseWhole(std::string_view padded, size_t max_depth) {
  simdjson::dom::parser& parser = DomParser();
  if (parser.capacity() < padded.size() || parser.max_depth() != max_depth) {
    if (auto err = parser.allocate(std::max(parser.capacity(), padded.size()), max_depth)) {
      return Status::LimitExceeded(std::string("cannot allocate the JSON parser: ") + simdjson::error_message(err));
    }
  }
  simdjson::dom::element root;
  // The bytes are padded (kPadding == SIMDJSON_PADDING), so no copy.
  if (auto err = parser.parse(padded.data(), padded.size(), false).get(root)) {
    if (err == simdjson::DEPTH_ERROR) {
      return Status::Corruption("the body nests deeper than " + std::to_string(max_depth) + " levels");
    }
    return Status::Corruption(std::string("the body is not valid JSON (") + simdjson::error_message(err) + ")");
  }
  return root;
}

// The element's data.validationCode, if it has a usable one.
std::optional<std::string> ValidationCodeOf(std::string_view padded_element, size_t max_depth) {
  auto root = ParseWhole(padded_element, max_depth);
  if (!root.ok()) return std::nullopt;
  std::string_view code;
  if (root->at_pointer("/data/validationCode").get(code)) return std::nullopt;
  return std::string(code);
}

}  // namespace

std::string_view RefusalName(Refusal r) {
  switch (r) {
    case Refusal::kUnauthorized: return "unauthorized";
    case Refusal::kNotFound: return "not_found";
    case Refusal::kMethodNotAllowed: return "method_not_allowed";
    case Refusal::kOriginNotAllowed: return "origin_not_allowed";
    case Refusal::kBadRequest: return "bad_request";
    case Refusal::kMalformed: return "malformed";
    case Refusal::kTooLarge: return "too_large";
    case Refusal::kUnsupportedMediaType: return "unsupported_media_type";
    case Refusal::kHeadTooLarge: return "header_too_large";
    case Refusal::kLengthRequired: return "length_required";
    case Refusal::kHttpVersion: return "http_version";
    case Refusal::kTimeout: return "timeout";
    case Refusal::kSpoolFull: return "spool_full";
  }
  return "unknown";
}

std::optional<Refusal> RefusalOfServerStatus(int status) {
  switch (status) {
    case 400: return Refusal::kBadRequest;
    case 408: return Refusal::kTimeout;
    case 411: return Refusal::kLengthRequired;
    case 413: return Refusal::kTooLarge;
    case 431: return Refusal::kHeadTooLarge;
    case 505: return Refusal::kHttpVersion;
    default: return std::nullopt;
  }
}

std::optional<MediaType> DeliveryMediaType(const http::Request& head) {
  const http::Header* h = head.Find("content-type");
  if (h == nullptr || Trim(h->value).empty()) return MediaType::kJson;  // RFC 9110 lets us guess; Event Grid sends one
  std::string_view value = h->value;
  const size_t semi = value.find(';');
  const std::string type = AsciiLowerCopy(Trim(value.substr(0, semi)));
  // Parameters: only charset matters, and JSON is UTF-8 (RFC 8259).
  std::string_view params = semi == std::string_view::npos ? std::string_view() : value.substr(semi + 1);
  while (!params.empty()) {
    const size_t next = params.find(';');
    const std::string_view p = Trim(params.substr(0, next));
    params = next == std::string_view::npos ? std::string_view() : params.substr(next + 1);
    const size_t eq = p.find('=');
    if (eq == std::string_view::npos || !EqualsIgnoreCase(Trim(p.substr(0, eq)), "charset")) continue;
    std::string_view cs = Trim(p.substr(eq + 1));
    if (cs.size() >= 2 && cs.front() == '"' && cs.back() == '"') cs = cs.substr(1, cs.size() - 2);
    if (!EqualsIgnoreCase(cs, "utf-8") && !EqualsIgnoreCase(cs, "utf8")) return std::nullopt;
  }
  if (type == "application/json") return MediaType::kJson;
  if (type == "application/cloudevents+json") return MediaType::kCloudEvent;
  if (type == "application/cloudevents-batch+json") return MediaType::kCloudEventBatch;
  return std::nullopt;
}

Result<std::vector<BodyElement>> SplitDeliveryBody(std::string_view padded_body, MediaType type, size_t max_depth,
                                                   size_t max_elements) {
  auto root = ParseWhole(padded_body, max_depth);
  if (!root.ok()) return root.status();
  const bool is_array = root->is_array();
  if (!is_array && !root->is_object()) return Status::Corruption("the body is neither a JSON array nor an object");
  if (type == MediaType::kCloudEvent && is_array) {
    return Status::Corruption("application/cloudevents+json carries one event (an object), got an array");
  }
  if (type == MediaType::kCloudEventBatch && !is_array) {
    return Status::Corruption("application/cloudevents-batch+json carries an array of events, got an object");
  }
  if (is_array) {
    simdjson::dom::array array;
    if (root->get_array().get(array)) return Status::Corruption("the body's array cannot be read");
    const size_t n = array.size();
    if (n > max_elements) {
      return Status::LimitExceeded("the delivery holds " + std::to_string(n) + " events, more than the " +
                                   std::to_string(max_elements) + " accepted at once");
    }
  }

  // The JSON is valid from here on, so a plain scan finds the elements:
  // strings (and their escapes) skipped, brackets counted, elements cut at
  // the commas of the outermost array.
  std::vector<BodyElement> out;
  uint64_t line = 1;
  size_t i = 0;
  while (i < padded_body.size() && IsJsonSpace(padded_body[i])) line += padded_body[i++] == '\n';
  const size_t first = i;
  size_t depth = 0;
  bool in_string = false, escaped = false, pending_space = false;
  BodyElement cur;
  size_t start = std::string_view::npos, end = 0;
  auto emit = [&] {
    cur.bytes = padded_body.substr(start, end - start);
    cur.offset = start;
    cur.is_object = padded_body[start] == '{';
    out.push_back(cur);
    start = std::string_view::npos;
  };
  const size_t body_end = padded_body.size();
  for (i = is_array ? first + 1 : first; i < body_end; ++i) {
    const char c = padded_body[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      end = i + 1;
      continue;
    }
    if (IsJsonSpace(c)) {
      line += c == '\n';
      if (start != std::string_view::npos) pending_space = true;
      continue;
    }
    if (is_array && depth == 0 && (c == ',' || c == ']')) {
      if (start != std::string_view::npos) emit();
      if (c == ']') break;
      continue;
    }
    if (start == std::string_view::npos) {
      start = i;
      cur = BodyElement{};
      cur.line = line;
      cur.compact = true;
      pending_space = false;
    } else if (pending_space) {
      cur.compact = false;
      pending_space = false;
    }
    if (c == '"') in_string = true;
    if (c == '{' || c == '[') ++depth;
    if (c == '}' || c == ']') {
      --depth;
      if (!is_array && depth == 0) {
        end = i + 1;
        emit();
        break;
      }
    }
    end = i + 1;
  }
  return out;
}

Endpoint::Endpoint(std::string name, EndpointOptions options)
    : name_(std::move(name)), options_(std::move(options)), secret_digest_(Sha256(options_.secret)) {}

bool Endpoint::Authenticate(const http::Request& head) const {
  if (options_.secret.empty()) return false;  // never "no secret = open"
  auto matches = [this](std::string_view presented) {
    const Sha256Digest d = Sha256(presented);
    return CRYPTO_memcmp(d.data(), secret_digest_.data(), d.size()) == 0;
  };
  bool presented = false, all_match = true;
  if (!options_.secret_query_parameter.empty()) {
    if (auto v = http::QueryParameter(head.query, options_.secret_query_parameter)) {
      presented = true;
      all_match = matches(*v) && all_match;
    }
  }
  if (!options_.secret_header.empty()) {
    const bool authorization = EqualsIgnoreCase(options_.secret_header, "authorization");
    for (const http::Header& h : head.headers) {
      if (!EqualsIgnoreCase(h.name, options_.secret_header)) continue;
      presented = true;
      std::string_view v = h.value;
      if (authorization) {
        // "Bearer <token>"; the scheme is case-insensitive (RFC 9110 11.1).
        if (v.size() < 7 || !EqualsIgnoreCase(v.substr(0, 7), "bearer ")) {
          all_match = false;
          continue;
        }
        v = Trim(v.substr(7));
      }
      all_match = matches(v) && all_match;
    }
  }
  return presented && all_match;
}

HeadVerdict Endpoint::OnHead(const http::Request& head) const {
  HeadVerdict v;
  auto refuse = [&v](Refusal r, std::string_view detail = {}) {
    v.kind = HeadVerdict::Kind::kRespond;
    v.refusal = r;
    v.response = Refused(r, detail);
    return v;
  };
  if (head.path != options_.url_path) return refuse(Refusal::kNotFound);
  const bool options_method = head.method == "OPTIONS";
  if (head.method != "POST" && !options_method) return refuse(Refusal::kMethodNotAllowed);
  if (!Authenticate(head)) return refuse(Refusal::kUnauthorized);
  if (options_method) {
    const http::Header* origin = head.Find("webhook-request-origin");
    if (origin == nullptr || !IsOriginText(origin->value)) {
      return refuse(Refusal::kBadRequest, "OPTIONS needs a WebHook-Request-Origin naming the sender (a DNS name)");
    }
    if (!options_.allowed_origins.empty() &&
        std::none_of(options_.allowed_origins.begin(), options_.allowed_origins.end(),
                     [&](const std::string& o) { return o == "*" || EqualsIgnoreCase(o, origin->value); })) {
      return refuse(Refusal::kOriginNotAllowed, "origin " + origin->value + " is not in allowed_origins");
    }
    v.kind = HeadVerdict::Kind::kRespond;
    v.cloudevents_handshake = true;
    v.response.status = 200;
    v.response.headers = {{"Allow", "POST, OPTIONS"},
                          {"WebHook-Allowed-Origin", origin->value},
                          {"WebHook-Allowed-Rate", options_.allowed_rate}};
    return v;
  }
  if (head.content_length.value_or(0) > options_.max_body_bytes) {
    v.kind = HeadVerdict::Kind::kTooLarge;
    return v;
  }
  v.kind = HeadVerdict::Kind::kReadBody;
  return v;
}

std::string Endpoint::Location(std::string_view body) const {
  return "eventgrid:" + name_ + "/sha256:" + HexLower(Sha256(body), 8);
}

QuarantineEntry Endpoint::TooLargeEntry(const http::Request& head) const {
  QuarantineEntry q;
  // The body was never read, so its hash is unknown; the announced length
  // stands in for it.
  q.path = "eventgrid:" + name_ + "/length:" + std::to_string(head.content_length.value_or(0));
  q.format_guess = "eventgrid";
  q.reason = "delivery refused (413): its " + std::to_string(head.content_length.value_or(0)) +
             "-byte body exceeds max_body_bytes (" + std::to_string(options_.max_body_bytes) +
             "); Event Grid does not retry a 413 — it dead-letters the events if the subscription has a "
             "dead-letter destination, else drops them";
  return q;
}

DeliveryContent Endpoint::Deliver(const http::Request& head, std::string_view padded_body) const {
  DeliveryContent out;
  const auto media = DeliveryMediaType(head);
  if (!media) {
    out.kind = DeliveryContent::Kind::kUnsupportedMediaType;
    const http::Header* h = head.Find("content-type");
    out.reason = "Content-Type " + Shorten(h != nullptr ? h->value : "") +
                 " is not application/json, application/cloudevents+json or application/cloudevents-batch+json";
    return out;
  }
  const std::string location = Location(padded_body);
  auto elements = SplitDeliveryBody(padded_body, *media, options_.limits.max_depth);
  if (!elements.ok()) {
    const bool too_many = elements.status().IsLimitExceeded();
    out.kind = too_many ? DeliveryContent::Kind::kTooLarge : DeliveryContent::Kind::kMalformed;
    out.reason = elements.status().message();
    out.quarantined.push_back(QuarantineEntry{location, 0, 1, "eventgrid",
                                              std::string("delivery refused (") + (too_many ? "413" : "400") +
                                                  "): " + out.reason});
    return out;
  }
  for (size_t n = 0; n < elements->size(); ++n) {
    const BodyElement& el = (*elements)[n];
    auto quarantine = [&](std::string reason) {
      out.quarantined.push_back(QuarantineEntry{location, el.offset, el.line, "eventgrid", std::move(reason)});
    };
    if (!el.is_object) {
      quarantine("event " + std::to_string(n) + " of the delivery is not a JSON object");
      continue;
    }
    auto event = ParseEventGrid(PaddedRecord{el.bytes, el.compact}, options_.limits);
    if (!event.ok()) {
      quarantine(event.status().message());
      continue;
    }
    if (event->operation == kValidationType) {
      if (elements->size() != 1) {
        quarantine("a subscription validation event inside a delivery of " + std::to_string(elements->size()) +
                   " events is not answered (Event Grid sends it alone)");
        continue;
      }
      auto code = ValidationCodeOf(el.bytes, options_.limits.max_depth);
      if (!code || !IsValidationCode(*code)) {
        out.kind = DeliveryContent::Kind::kMalformed;
        out.reason = "the subscription validation event's data.validationCode is not a plain token";
        out.quarantined.assign(1, QuarantineEntry{location, el.offset, el.line, "eventgrid",
                                                  "delivery refused (400): " + out.reason});
        return out;
      }
      out.kind = DeliveryContent::Kind::kValidation;
      out.validation_code = std::move(*code);
      return out;
    }
    out.events.push_back(std::move(*event));
  }
  return out;
}

PushResponse Endpoint::Ok() { return PushResponse{200, {}, {}, {}, false}; }

PushResponse Endpoint::Validation(std::string_view code) {
  // The code was checked to be a plain token: no escaping needed.
  return PushResponse{200, "application/json", "{\"validationResponse\":\"" + std::string(code) + "\"}", {}, false};
}

PushResponse Endpoint::SpoolFull() const {
  return PushResponse{503, std::string(kTextPlain), "the collector's spool is full; retry later\n",
                      {{"Retry-After", std::to_string(options_.retry_after_s)}}, false};
}

PushResponse Endpoint::Refused(Refusal r, std::string_view detail) {
  PushResponse resp;
  resp.content_type = std::string(kTextPlain);
  switch (r) {
    case Refusal::kUnauthorized: resp.status = 401; resp.body = "unauthorized"; break;
    case Refusal::kNotFound: resp.status = 404; resp.body = "not found"; break;
    case Refusal::kMethodNotAllowed:
      resp.status = 405;
      resp.body = "method not allowed";
      resp.headers = {{"Allow", "POST, OPTIONS"}};
      break;
    case Refusal::kOriginNotAllowed: resp.status = 403; resp.body = "forbidden"; break;
    case Refusal::kBadRequest: resp.status = 400; resp.body = "bad request"; break;
    case Refusal::kMalformed: resp.status = 400; resp.body = "not an Event Grid delivery"; break;
    case Refusal::kTooLarge: resp.status = 413; resp.body = "content too large"; break;
    case Refusal::kUnsupportedMediaType: resp.status = 415; resp.body = "unsupported media type"; break;
    case Refusal::kHeadTooLarge: resp.status = 431; resp.body = "request header fields too large"; break;
    case Refusal::kLengthRequired: resp.status = 411; resp.body = "length required"; break;
    case Refusal::kHttpVersion: resp.status = 505; resp.body = "HTTP version not supported"; break;
    case Refusal::kTimeout: resp.status = 408; resp.body = "request timeout"; break;
    case Refusal::kSpoolFull: resp.status = 503; resp.body = "service unavailable"; break;
  }
  if (!detail.empty()) resp.body += ": " + Shorten(detail);
  resp.body += '\n';
  return resp;
}

}  // namespace cmkwatch::collector::internal
