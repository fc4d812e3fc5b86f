// The Event Grid push endpoint's protocol on arbitrary bytes: the request
// head parser, the head verdict (path, method, secret, handshake, size),
// and the delivery body split into events — everything a request reaches
// before the spool. The first byte picks what the rest is:
//   0        a whole request, head and body ("POST /eventgrid?access_token=
//            fuzz-secret HTTP/1.1\r\n...\r\n\r\n[...]")
//   1, 2, 3  a body alone, under a valid head with Content-Type
//            application/json, application/cloudevents+json or
//            application/cloudevents-batch+json
// Properties beyond "no crash": every answer serializes; elements lie inside
// the body, in order, trimmed; every element becomes exactly one event or
// one quarantine entry (or the body is refused whole with one entry); the
// quarantine locations name the endpoint and the body's hash; a validation
// answer echoes only a plain token; and the same input gives the same ids.
#include <string>

#include "../collector/src/event_grid_endpoint.h"
#include "cmkwatch/common/hash.h"
#include "fuzz_util.h"

namespace {

using namespace cmkwatch;
using namespace cmkwatch::collector::internal;

const Endpoint& TheEndpoint() {
  static const Endpoint* e = [] {
    EndpointOptions o;
    o.secret = "fuzz-secret";
    o.secret_header = "X-Secret";
    o.max_body_bytes = 65536;
    o.allowed_origins = {"eventgrid.azure.net"};
    return new Endpoint("fuzz", o);
  }();
  return *e;
}

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

void CheckBody(const http::Request& head, std::string_view body) {
  const Endpoint& e = TheEndpoint();
  const std::string padded = std::string(body) + std::string(collector::kPadding, ' ');
  const std::string_view view(padded.data(), body.size());
  const DeliveryContent d = e.Deliver(head, view);
  const std::string location = "eventgrid:fuzz/sha256:" + HexLower(Sha256(body), 8);
  for (const QuarantineEntry& q : d.quarantined) {
    CMK_FUZZ_CHECK(q.path == location);
    CMK_FUZZ_CHECK(q.offset <= body.size());
    CMK_FUZZ_CHECK(!q.reason.empty());
  }
  for (const Event& ev : d.events) {
    CMK_FUZZ_CHECK(!ev.id.empty());
    CMK_FUZZ_CHECK(ev.source == Source::kEventGrid);
  }
  const auto media = DeliveryMediaType(head);
  switch (d.kind) {
    case DeliveryContent::Kind::kUnsupportedMediaType:
      CMK_FUZZ_CHECK(!media);
      CMK_FUZZ_CHECK(d.events.empty() && d.quarantined.empty());
      return;
    case DeliveryContent::Kind::kMalformed:
    case DeliveryContent::Kind::kTooLarge:
      CMK_FUZZ_CHECK(d.events.empty() && d.quarantined.size() == 1);
      CMK_FUZZ_CHECK(Endpoint::Refused(d.kind == DeliveryContent::Kind::kMalformed ? Refusal::kMalformed
                                                                                    : Refusal::kTooLarge,
                                       d.reason)
                         .status >= 400);
      return;
    case DeliveryContent::Kind::kValidation: {
      CMK_FUZZ_CHECK(!d.validation_code.empty() && d.validation_code.size() <= kMaxValidationCodeBytes);
      for (char c : d.validation_code) CMK_FUZZ_CHECK(c != '"' && c != '\\' && static_cast<unsigned char>(c) > 0x20);
      CMK_FUZZ_CHECK(SerializeResponse(Endpoint::Validation(d.validation_code), false).has_value());
      return;
    }
    case DeliveryContent::Kind::kEvents:
      break;
  }
  CMK_FUZZ_CHECK(media.has_value());
  auto elements = SplitDeliveryBody(view, *media, e.options().limits.max_depth);
  CMK_FUZZ_CHECK(elements.ok());
  CMK_FUZZ_CHECK(elements->size() == d.events.size() + d.quarantined.size());
  uint64_t last_end = 0;
  for (const BodyElement& el : *elements) {
    CMK_FUZZ_CHECK(!el.bytes.empty());
    CMK_FUZZ_CHECK(el.bytes.data() >= view.data() && el.bytes.data() + el.bytes.size() <= view.data() + view.size());
    CMK_FUZZ_CHECK(el.offset == static_cast<uint64_t>(el.bytes.data() - view.data()));
    CMK_FUZZ_CHECK(el.offset >= last_end);
    CMK_FUZZ_CHECK(!IsJsonSpace(el.bytes.front()) && !IsJsonSpace(el.bytes.back()));
    CMK_FUZZ_CHECK(el.is_object == (el.bytes.front() == '{'));
    last_end = el.offset + el.bytes.size();
  }
  // Deterministic: a retried delivery gives the same events.
  const DeliveryContent again = e.Deliver(head, view);
  CMK_FUZZ_CHECK(again.events.size() == d.events.size() && again.quarantined.size() == d.quarantined.size());
  for (size_t i = 0; i < d.events.size(); ++i) CMK_FUZZ_CHECK(again.events[i].id == d.events[i].id);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  const Endpoint& e = TheEndpoint();
  if (data[0] >= 1 && data[0] <= 3) {
    static constexpr const char* kTypes[] = {"application/json", "application/cloudevents+json",
                                             "application/cloudevents-batch+json"};
    const std::string head_text = "POST /eventgrid?access_token=fuzz-secret HTTP/1.1\r\nHost: x\r\nContent-Type: " +
                                  std::string(kTypes[data[0] - 1]) + "\r\nContent-Length: " +
                                  std::to_string(input.size()) + "\r\n\r\n";
    auto head = http::ParseRequestHead(head_text);
    CMK_FUZZ_CHECK(head.ok());
    CMK_FUZZ_CHECK(e.OnHead(*head).kind == HeadVerdict::Kind::kReadBody || input.size() > 65536);
    CheckBody(*head, input);
    return 0;
  }
  if (data[0] != 0) return 0;
  const size_t end = input.find("\r\n\r\n");
  if (end == std::string_view::npos) return 0;
  auto head = http::ParseRequestHead(input.substr(0, end + 4));
  if (!head.ok()) return 0;
  const HeadVerdict v = e.OnHead(*head);
  CMK_FUZZ_CHECK(SerializeResponse(v.response, true).has_value());
  if (v.refusal) CMK_FUZZ_CHECK(v.kind == HeadVerdict::Kind::kRespond && v.response.status >= 400);
  if (v.kind != HeadVerdict::Kind::kRespond || v.response.status == 200) {
    // Only an authenticated request gets past the head.
    CMK_FUZZ_CHECK(e.Authenticate(*head));
  }
  if (v.cloudevents_handshake) {
    CMK_FUZZ_CHECK(head->method == "OPTIONS");
    bool echoed = false;
    for (const auto& [name, value] : v.response.headers) {
      if (name == "WebHook-Allowed-Origin") echoed = value == head->Find("webhook-request-origin")->value;
    }
    CMK_FUZZ_CHECK(echoed);
  }
  if (v.kind == HeadVerdict::Kind::kTooLarge) {
    CMK_FUZZ_CHECK(head->content_length.value_or(0) > e.options().max_body_bytes);
    CMK_FUZZ_CHECK(!e.TooLargeEntry(*head).reason.empty());
  }
  if (v.kind == HeadVerdict::Kind::kReadBody) {
    std::string_view body = input.substr(end + 4);
    if (head->content_length) body = body.substr(0, *head->content_length);
    CheckBody(*head, body);
  }
  return 0;
}
