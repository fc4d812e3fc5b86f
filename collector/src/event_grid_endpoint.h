// The Event Grid webhook protocol, as pure functions over a request: which
// requests are answered from their head alone, how a delivery's body splits
// into events, and what each answer looks like. No I/O: EventGridSource
// (event_grid_source.cpp) drives it over PushServer, and the tests and
// fuzz/fuzz_eventgrid_delivery.cpp call it directly. Private to the
// collector library.
//
// Requests (one URL path; anything else 404):
//   OPTIONS   CloudEvents 1.0 webhook abuse protection: WebHook-Request-Origin
//             (required) → 200 with WebHook-Allowed-Origin (the origin
//             echoed) and WebHook-Allowed-Rate (configured, default "*");
//             403 when allowed_origins is set and does not list the origin.
//   POST      a delivery: Event Grid schema events as a JSON array
//             (application/json), one CloudEvent (application/cloudevents
//             +json) or an array of them (application/cloudevents-batch
//             +json); a missing Content-Type counts as application/json.
//             An Event Grid subscription validation event alone in a
//             delivery is the handshake: 200 {"validationResponse": code}.
//   other     405 with Allow: POST, OPTIONS.
// Every request, handshakes included, must carry the shared secret in the
// query parameter or the header configured (see Authenticate); without it
// 401, before any body byte is read. Event Grid puts the query parameter on
// both handshakes because it is part of the endpoint URL.
//
// Body grammar (RFC 8259 JSON, UTF-8, validated whole before anything is
// used; nesting at most limits.max_depth):
//   body  = ws ( "[" ws [ value *( ws "," ws value ) ws ] "]" / object ) ws
// Each array element is one event. An element that is not an object, or
// that the Event Grid parser refuses (parse.h), is quarantined with its
// byte offset and line in the body; its neighbours go on. A body that is not
// valid JSON, is of the wrong shape for its media type, or holds more than
// kMaxEventsPerDelivery elements is refused whole (400 / 413) and recorded as
// one quarantine entry.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cmkwatch/collector/parse.h"
#include "cmkwatch/common/event.h"
#include "cmkwatch/common/hash.h"
#include "cmkwatch/common/http_request.h"
#include "push_server.h"

namespace cmkwatch::collector::internal {

// Event Grid batches at most 5000 events; well above that is not Event Grid.
inline constexpr size_t kMaxEventsPerDelivery = 10'000;
// Bounds on what is echoed back: a validation code (a GUID in practice) and
// a CloudEvents origin (a DNS name).
inline constexpr size_t kMaxValidationCodeBytes = 128;
inline constexpr size_t kMaxOriginBytes = 253;

// Why a request was not taken; labels cmkwatch_eventgrid_deliveries_refused_total.
enum class Refusal : uint8_t {
  kUnauthorized,          // 401: no secret, or a wrong one
  kNotFound,              // 404: another path
  kMethodNotAllowed,      // 405
  kOriginNotAllowed,      // 403: CloudEvents origin not in allowed_origins
  kBadRequest,            // 400: malformed request head, OPTIONS without origin
  kMalformed,             // 400: the body is not a delivery (quarantined)
  kTooLarge,              // 413: body over max_body_bytes or too many events
  kUnsupportedMediaType,  // 415
  kHeadTooLarge,          // 431
  kLengthRequired,        // 411: Transfer-Encoding instead of Content-Length
  kHttpVersion,           // 505
  kTimeout,               // 408
  kSpoolFull,             // 503: back-pressure, Retry-After sent
};
inline constexpr size_t kRefusalCount = 13;
std::string_view RefusalName(Refusal r);
// The refusal behind a status the push server gives on its own.
std::optional<Refusal> RefusalOfServerStatus(int status);

struct EndpointOptions {
  std::string url_path = "/eventgrid";
  std::string secret;                                // required, never logged
  std::string secret_query_parameter = "access_token";  // "" = not accepted there
  std::string secret_header;                         // "" = not accepted there
  size_t max_body_bytes = size_t{1} << 20;
  std::vector<std::string> allowed_origins;  // empty: any origin (after the secret)
  std::string allowed_rate = "*";            // WebHook-Allowed-Rate
  int retry_after_s = 10;                    // Retry-After of a 503
  ParseLimits limits;
};

// What the head alone decides.
struct HeadVerdict {
  enum class Kind {
    kRespond,   // answer `response` now (refused: `refusal` set; or a handshake)
    kReadBody,  // a delivery: read the body, then Endpoint::Deliver
    kTooLarge,  // an authenticated delivery over max_body_bytes: record, then 413
  };
  Kind kind = Kind::kRespond;
  PushResponse response;
  std::optional<Refusal> refusal;
  bool cloudevents_handshake = false;
};

// What a delivery's body holds.
struct DeliveryContent {
  enum class Kind {
    kEvents,                // events and/or quarantined elements: spool, then 200
    kValidation,            // the Event Grid handshake: answer, spool nothing
    kMalformed,             // not a delivery: spool `quarantined` (one entry), then 400
    kTooLarge,              // too many elements: spool `quarantined`, then 413
    kUnsupportedMediaType,  // 415: nothing recorded (Event Grid retries it)
  };
  Kind kind = Kind::kEvents;
  std::vector<Event> events;
  std::vector<QuarantineEntry> quarantined;
  std::string validation_code;  // kValidation
  std::string reason;           // kMalformed / kTooLarge / kUnsupportedMediaType
};

class Endpoint {
 public:
  // `name` names the endpoint in quarantine locations
  // ("eventgrid:<name>/sha256:<16 hex of the body>").
  Endpoint(std::string name, EndpointOptions options);

  HeadVerdict OnHead(const http::Request& head) const;
  // `padded_body` is followed by kPadding readable bytes.
  DeliveryContent Deliver(const http::Request& head, std::string_view padded_body) const;
  // For a kTooLarge head: the quarantine entry recording the refused
  // delivery (its body was never read).
  QuarantineEntry TooLargeEntry(const http::Request& head) const;

  // Whether the request carries the secret: in the query parameter or the
  // header (when configured; for an "Authorization" header, as "Bearer
  // <secret>", CloudEvents webhook spec 3.1). At least one copy must be
  // present and every copy present must match. Compared as SHA-256 digests
  // with CRYPTO_memcmp, so neither the content nor the length of the secret
  // shows in the timing.
  bool Authenticate(const http::Request& head) const;

  // Answers.
  static PushResponse Ok();
  static PushResponse Validation(std::string_view code);
  PushResponse SpoolFull() const;
  static PushResponse Refused(Refusal refusal, std::string_view detail = {});

  const EndpointOptions& options() const { return options_; }

 private:
  std::string Location(std::string_view body) const;
  std::string name_;
  EndpointOptions options_;
  Sha256Digest secret_digest_;
};

// The media type of a delivery (Content-Type without parameters, lower
// case), or nullopt when it is not one a delivery may have (also when a
// charset other than UTF-8 is named).
enum class MediaType : uint8_t { kJson, kCloudEvent, kCloudEventBatch };
std::optional<MediaType> DeliveryMediaType(const http::Request& head);

struct BodyElement {
  std::string_view bytes;  // one array element (or the whole object), trimmed
  uint64_t offset = 0;     // of its first byte in the body
  uint64_t line = 1;
  bool is_object = false;
  bool compact = false;  // no whitespace outside strings
};

// Splits a validated-or-not body per the grammar above. Corruption (not
// JSON, wrong shape, too deep) or LimitExceeded (more than max_elements).
// `padded_body` is followed by kPadding readable bytes.
Result<std::vector<BodyElement>> SplitDeliveryBody(std::string_view padded_body, MediaType type,
                                                   size_t max_depth, size_t max_elements = kMaxEventsPerDelivery);

}  // namespace cmkwatch::collector::internal
