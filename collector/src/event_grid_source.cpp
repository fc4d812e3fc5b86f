// EventGridSource: PushServer (the sockets) + Endpoint (the protocol) →
// SourceSink (the spool). The contract is in source.h.
//
// One RunOnce step:
//   1. A delivery held by back-pressure is offered to the sink again; on
//      success it is answered and the step ends (one batch per step).
//   2. The server is stepped: up to timeout_ms of socket I/O (0 when
//      requests are already waiting), heads go through Endpoint::OnHead,
//      which answers refusals and the CloudEvents handshake at once.
//   3. Complete requests are taken one by one: the Event Grid handshake
//      and 415s are answered; the first one that has something for the
//      spool is handed to the sink and answered according to the outcome.
#include <array>
#include <chrono>
#include <optional>

#include "cmkwatch/collector/source.h"
#include "event_grid_endpoint.h"
#include "push_server.h"
#include "stop_signal.h"

namespace cmkwatch::collector {
namespace {

using Clock = std::chrono::steady_clock;
using internal::DeliveryContent;
using internal::Endpoint;
using internal::HeadVerdict;
using internal::PushResponse;
using internal::Refusal;

constexpr auto kRefusalLogInterval = std::chrono::seconds(60);
constexpr size_t kMaxShownHeaderBytes = 128;

// A header value as a log line may show it: printable ASCII, bounded.
std::string Shown(const http::Request& head, std::string_view name) {
  const http::Header* h = head.Find(name);
  if (h == nullptr) return "";
  std::string out;
  for (char c : std::string_view(h->value).substr(0, kMaxShownHeaderBytes)) {
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  return out;
}

}  // namespace

struct EventGridSource::Impl {
  Impl(EventGridSourceOptions o, SourceSink& s, metrics::Registry* m, log::Logger* l)
      : options(std::move(o)), sink(s), registry(m), logger(l) {}

  EventGridSourceOptions options;
  SourceSink& sink;
  metrics::Registry* registry;
  log::Logger* logger;
  internal::StopSignal stop;
  std::unique_ptr<Endpoint> endpoint;
  std::unique_ptr<internal::PushServer> server;
  const std::vector<FileCheckpoint> no_checkpoints;

  // A delivery waiting for room in the spool.
  struct Held {
    uint64_t request = 0;
    std::vector<Event> events;
    std::vector<QuarantineEntry> quarantined;
    PushResponse success;  // the answer once spooled (200, or the 400/413 it records)
    std::optional<Refusal> refusal;  // counted once spooled (400/413)
    Clock::time_point until;
  };
  std::optional<Held> held;

  EventGridSourceStats stats;
  internal::PushServerStats last_server_stats;

  // Metrics (handles do nothing without a registry).
  metrics::Counter m_accepted, m_events, m_quarantined, m_tls_failures, m_connections;
  metrics::Counter m_handshake_eventgrid, m_handshake_cloudevents;
  std::array<metrics::Counter, internal::kRefusalCount> m_refused;
  metrics::Gauge m_open;

  // Rate-limited refusal logging, per reason.
  std::array<Clock::time_point, internal::kRefusalCount> last_logged{};
  std::array<uint64_t, internal::kRefusalCount> unlogged{};

  Status RegisterMetrics() {
    if (registry == nullptr) return Status::Ok();
    const metrics::Labels l = {{"endpoint", options.name}};
    struct C {
      metrics::Counter* out;
      const char* name;
      const char* help;
    };
    for (const C& c : {C{&m_accepted, "cmkwatch_eventgrid_deliveries_accepted_total",
                         "Event Grid deliveries answered 200 after their batch was spooled."},
                       C{&m_events, "cmkwatch_eventgrid_events_total", "Events from Event Grid deliveries spooled."},
                       C{&m_quarantined, "cmkwatch_eventgrid_quarantined_total",
                         "Quarantine entries (refused bodies and events) from Event Grid deliveries spooled."},
                       C{&m_tls_failures, "cmkwatch_eventgrid_tls_failures_total",
                         "TLS handshakes or records that failed on the Event Grid endpoint."},
                       C{&m_connections, "cmkwatch_eventgrid_connections_total",
                         "Connections accepted by the Event Grid endpoint."}}) {
      auto r = registry->AddCounter(c.name, c.help, l);
      if (!r.ok()) return r.status();
      *c.out = *r;
    }
    for (auto [out, kind] : {std::pair{&m_handshake_eventgrid, "eventgrid"}, std::pair{&m_handshake_cloudevents, "cloudevents"}}) {
      auto r = registry->AddCounter("cmkwatch_eventgrid_handshakes_total",
                                    "Subscription validation handshakes answered (Event Grid event or CloudEvents OPTIONS).",
                                    {{"endpoint", options.name}, {"kind", kind}});
      if (!r.ok()) return r.status();
      *out = *r;
    }
    for (size_t i = 0; i < internal::kRefusalCount; ++i) {
      auto r = registry->AddCounter("cmkwatch_eventgrid_deliveries_refused_total",
                                    "Requests to the Event Grid endpoint answered with an error, by reason.",
                                    {{"endpoint", options.name},
                                     {"reason", std::string(internal::RefusalName(static_cast<Refusal>(i)))}});
      if (!r.ok()) return r.status();
      m_refused[i] = *r;
    }
    auto g = registry->AddGauge("cmkwatch_eventgrid_connections_open", "Connections open on the Event Grid endpoint.", l);
    if (!g.ok()) return g.status();
    m_open = *g;
    return Status::Ok();
  }

  void CountRefusal(Refusal r) {
    const auto i = static_cast<size_t>(r);
    m_refused[i].Inc();
    ++stats.refused[std::string(internal::RefusalName(r))];
    if (logger == nullptr) return;
    // The first of each reason is logged, then at most one line a minute
    // with how many there were: a scanner hammering the port cannot flood
    // the log.
    const auto now = Clock::now();
    ++unlogged[i];
    if (last_logged[i] != Clock::time_point{} && now - last_logged[i] < kRefusalLogInterval) return;
    logger->Warning("Event Grid endpoint refused requests",
                    {{"endpoint", options.name}, {"reason", internal::RefusalName(r)}, {"count", unlogged[i]}});
    last_logged[i] = now;
    unlogged[i] = 0;
  }

  Status Setup() {
    if (options.listen.empty()) return Status::InvalidArgument("eventgrid source " + options.name + ": no listen address");
    if (options.url_path.empty() || options.url_path.front() != '/' ||
        options.url_path.find_first_of("?# ") != std::string::npos) {
      return Status::InvalidArgument("eventgrid source " + options.name + ": url_path must start with '/' and have no query");
    }
    if (options.secret_query_parameter.empty() && options.secret_header.empty()) {
      return Status::InvalidArgument("eventgrid source " + options.name +
                                     ": the secret must be accepted somewhere (secret_query_parameter or secret_header)");
    }
    if (options.backpressure_hold_ms < 0 || options.backpressure_hold_ms > 25'000) {
      // Event Grid gives up on an answer after 30 s.
      return Status::InvalidArgument("eventgrid source " + options.name + ": backpressure_hold_ms must be 0..25000");
    }
    auto secret = config::ReadSecret(options.secret, "eventgrid source " + options.name + " secret");
    if (!secret.ok()) return secret.status();
    internal::EndpointOptions eo;
    eo.url_path = options.url_path;
    eo.secret = std::move(*secret);
    eo.secret_query_parameter = options.secret_query_parameter;
    eo.secret_header = options.secret_header;
    eo.max_body_bytes = options.max_body_bytes;
    eo.allowed_origins = options.allowed_origins;
    eo.allowed_rate = options.allowed_rate;
    eo.retry_after_s = options.retry_after_s;
    eo.limits = options.limits;
    endpoint = std::make_unique<Endpoint>(options.name, std::move(eo));

    if (Status s = stop.Open(); !s.ok()) return s;
    if (Status s = RegisterMetrics(); !s.ok()) return s;
    internal::PushServerOptions so;
    so.listen = options.listen;
    so.cert_file = options.tls_cert_file;
    so.key_file = options.tls_key_file;
    so.max_body_bytes = options.max_body_bytes;
    so.max_connections = options.max_connections;
    so.request_timeout_ms = options.request_timeout_ms;
    so.idle_timeout_ms = options.idle_timeout_ms;
    auto started = internal::PushServer::Start(
        so, [this](const http::Request& head) { return OnHead(head); },
        [this](int status) {
          if (auto r = internal::RefusalOfServerStatus(status)) CountRefusal(*r);
        });
    if (!started.ok()) {
      return started.status().WithContext("eventgrid source " + options.name + ": ");
    }
    server = std::move(*started);
    if (logger != nullptr) {
      logger->Info("Event Grid endpoint listening", {{"endpoint", options.name},
                                                     {"listen", options.listen},
                                                     {"port", static_cast<uint64_t>(server->port())},
                                                     {"path", options.url_path},
                                                     {"tls", server->tls()}});
    }
    return Status::Ok();
  }

  internal::HeadDecision OnHead(const http::Request& head) {
    const HeadVerdict v = endpoint->OnHead(head);
    switch (v.kind) {
      case HeadVerdict::Kind::kReadBody: return {internal::HeadDecision::Kind::kReadBody, {}};
      case HeadVerdict::Kind::kTooLarge: return {internal::HeadDecision::Kind::kDefer, {}};
      case HeadVerdict::Kind::kRespond: break;
    }
    if (v.refusal) CountRefusal(*v.refusal);
    if (v.cloudevents_handshake) {
      ++stats.cloudevents_handshakes;
      m_handshake_cloudevents.Inc();
      if (logger != nullptr) {
        logger->Info("CloudEvents webhook handshake answered",
                     {{"endpoint", options.name}, {"origin", Shown(head, "webhook-request-origin")}});
      }
    }
    return {internal::HeadDecision::Kind::kRespond, v.response};
  }

  void Accepted(size_t events, size_t quarantined) {
    stats.events += events;
    stats.quarantined += quarantined;
    m_events.Inc(events);
    m_quarantined.Inc(quarantined);
  }

  // Offers a held batch again. True when it was taken (and answered).
  Status OfferHeld() {
    Held& h = *held;
    const size_t n_events = h.events.size(), n_quarantined = h.quarantined.size();
    Status s = sink.OnBatch(std::move(h.events), std::move(h.quarantined), no_checkpoints);
    if (!s.ok()) {
      ++stats.rejected_batches;
      return s;
    }
    Accepted(n_events, n_quarantined);
    if (h.refusal) {
      CountRefusal(*h.refusal);
    } else {
      ++stats.deliveries_accepted;
      m_accepted.Inc();
    }
    server->Respond(h.request, std::move(h.success));
    held.reset();
    return Status::Ok();
  }

  void SyncServerStats() {
    const internal::PushServerStats s = server->Stats();
    m_connections.Inc(s.connections - last_server_stats.connections);
    m_tls_failures.Inc(s.tls_failures - last_server_stats.tls_failures);
    stats.connections = s.connections;
    stats.tls_failures = s.tls_failures;
    m_open.Set(static_cast<double>(s.open_connections));
    last_server_stats = s;
  }

  // Handles one taken request. Returns the sink's verdict when the request
  // went to the sink, nullopt when it was answered without it.
  std::optional<Status> Handle(internal::PushRequest& req) {
    DeliveryContent content;
    PushResponse success = Endpoint::Ok();
    std::optional<Refusal> refusal;
    if (!req.body_read) {
      content.kind = DeliveryContent::Kind::kTooLarge;
      content.quarantined.push_back(endpoint->TooLargeEntry(req.head));
    } else {
      content = endpoint->Deliver(req.head, req.body());
    }
    switch (content.kind) {
      case DeliveryContent::Kind::kValidation:
        ++stats.eventgrid_handshakes;
        m_handshake_eventgrid.Inc();
        if (logger != nullptr) {
          logger->Info("Event Grid subscription validation answered",
                       {{"endpoint", options.name}, {"subscription", Shown(req.head, "aeg-subscription-name")}});
        }
        server->Respond(req.id, Endpoint::Validation(content.validation_code));
        return std::nullopt;
      case DeliveryContent::Kind::kUnsupportedMediaType:
        // Not recorded: Event Grid retries a 415, so nothing is lost yet,
        // and recording every retry would say the same thing many times.
        CountRefusal(Refusal::kUnsupportedMediaType);
        server->Respond(req.id, Endpoint::Refused(Refusal::kUnsupportedMediaType, content.reason));
        return std::nullopt;
      case DeliveryContent::Kind::kMalformed:
        refusal = Refusal::kMalformed;
        success = Endpoint::Refused(Refusal::kMalformed, content.reason);
        break;
      case DeliveryContent::Kind::kTooLarge:
        refusal = Refusal::kTooLarge;
        success = Endpoint::Refused(Refusal::kTooLarge, content.reason);
        success.close = !req.body_read;  // its body is still on the wire
        break;
      case DeliveryContent::Kind::kEvents:
        if (content.events.empty() && content.quarantined.empty()) {
          // "[]": nothing to keep.
          ++stats.deliveries_accepted;
          m_accepted.Inc();
          server->Respond(req.id, Endpoint::Ok());
          return std::nullopt;
        }
        break;
    }
    if (held) {
      // The spool is known to be full: one delivery waits, the rest are
      // sent back at once.
      CountRefusal(Refusal::kSpoolFull);
      server->Respond(req.id, endpoint->SpoolFull());
      return std::nullopt;
    }
    held = Held{req.id, std::move(content.events), std::move(content.quarantined), std::move(success), refusal,
                Clock::now() + std::chrono::milliseconds(options.backpressure_hold_ms)};
    Status s = OfferHeld();
    if (s.ok()) return s;
    if (!s.IsLimitExceeded() || options.backpressure_hold_ms == 0) {
      // Not back-pressure (the spool failed): no point waiting.
      CountRefusal(Refusal::kSpoolFull);
      server->Respond(held->request, endpoint->SpoolFull());
      held.reset();
    }
    return s;
  }

  Result<bool> RunOnce(int timeout_ms) {
    if (stop.raised()) return false;
    if (!server) return Status::InvalidArgument("EventGridSource::RunOnce before Setup");
    std::optional<Status> blocked;
    if (held) {
      Status s = OfferHeld();
      if (s.ok()) return true;
      if (Clock::now() >= held->until) {
        CountRefusal(Refusal::kSpoolFull);
        server->Respond(held->request, endpoint->SpoolFull());
        held.reset();
      }
      blocked = std::move(s);
    }
    const int wait = (held || server->HasRequests()) ? 0 : std::max(timeout_ms, 0);
    Status step = server->Step(wait, stop.fd());
    SyncServerStats();
    if (!step.ok()) return step;
    if (stop.raised()) return false;
    while (auto req = server->TakeRequest()) {
      auto handed = Handle(*req);
      if (!handed) continue;
      if (handed->ok()) return true;
      return std::move(*handed);
    }
    if (blocked) return std::move(*blocked);
    return false;
  }
};

EventGridSource::EventGridSource(EventGridSourceOptions options, SourceSink& sink, metrics::Registry* metrics,
                                 log::Logger* logger)
    : impl_(std::make_unique<Impl>(std::move(options), sink, metrics, logger)) {}
EventGridSource::~EventGridSource() = default;

Status EventGridSource::Setup() { return impl_->Setup(); }
Result<bool> EventGridSource::RunOnce(int timeout_ms) { return impl_->RunOnce(timeout_ms); }
void EventGridSource::Stop() { impl_->stop.Raise(); }
uint16_t EventGridSource::port() const { return impl_->server ? impl_->server->port() : 0; }
EventGridSourceStats EventGridSource::Stats() const { return impl_->stats; }

}  // namespace cmkwatch::collector
