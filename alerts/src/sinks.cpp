// The sinks, and the name → factory map MakeSink picks them from.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>

#include <nlohmann/json.hpp>

#include "cmkwatch/alerts/sink.h"
#include "cmkwatch/common/time.h"
#include "format.h"
#include "transport.h"

#ifndef CMKWATCH_VERSION
#define CMKWATCH_VERSION "0.1.0"
#endif

namespace cmkwatch::alerts {
namespace {

using internal::Templates;

Result<Templates> BuildTemplates(const SinkConfig& c) {
  Templates t = internal::DefaultTemplates();
  struct {
    const std::string& text;
    internal::Template* out;
    const char* key;
  } const all[] = {{c.title_template, &t.title, "title"},
                   {c.title_resolved_template, &t.title_resolved, "title_resolved"},
                   {c.text_template, &t.text, "text"}};
  for (const auto& [text, out, key] : all) {
    if (text.empty()) continue;
    auto parsed = internal::Template::Parse(text);
    if (!parsed.ok()) {
      return Status::InvalidArgument("sink " + c.name + ": templates." + key + ": " + parsed.status().message());
    }
    *out = std::move(*parsed);
  }
  return t;
}

// The file sink's and the JSON console's line: the change, its outbox seq
// and the alert as `cmkwatch alerts --json` prints it.
std::string ChangeLine(const Message& m) {
  std::string line = "{\"change\":\"" + std::string(analyzer::ToString(m.kind)) + "\",\"seq\":" +
                     std::to_string(m.seq) + ",\"committed\":\"" + FormatTimestamp(m.committed_ns) +
                     "\",\"alert\":" + analyzer::AlertToJson(m.alert) + "}\n";
  return line;
}

class ConsoleSink final : public Sink {
 public:
  explicit ConsoleSink(bool json) : json_(json) {}
  SendResult Send(std::span<const Message> messages) override {
    for (const Message& m : messages) {
      std::string line;
      if (json_) {
        line = ChangeLine(m);
      } else {
        const Alert& a = m.alert;
        std::string affected;
        for (const std::string& id : a.affected) {
          affected += (affected.empty() ? "" : ", ") + id.substr(id.rfind('/') + 1);
        }
        line = "ALERT " + std::string(analyzer::ToString(m.kind)) + " " + std::string(analyzer::ToString(a.severity)) +
               " " + a.rule + " " + internal::CleanText(a.title) +
               " | affected: " + (affected.empty() ? "none known" : internal::CleanText(affected)) + " | " + a.id + "\n";
      }
      if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size() || std::fflush(stdout) != 0) {
        return {SendResult::Outcome::kRetry, 0, std::string("stdout: ") + std::strerror(errno), 0};
      }
    }
    return {SendResult::Outcome::kDelivered, 0, "written to stdout", 0};
  }

 private:
  bool json_;
};

// JSON Lines, appended and flushed to disk before the change counts as
// delivered. Reopened when the path no longer names the open file (after
// logrotate moved it).
class FileSink final : public Sink {
 public:
  explicit FileSink(std::string path) : path_(std::move(path)) {}
  ~FileSink() override {
    if (fd_ >= 0) ::close(fd_);
  }
  SendResult Send(std::span<const Message> messages) override {
    if (Status st = EnsureOpen(); !st.ok()) return {SendResult::Outcome::kRetry, 0, st.message(), 0};
    std::string lines;
    for (const Message& m : messages) lines += ChangeLine(m);
    size_t done = 0;
    while (done < lines.size()) {
      const ssize_t n = ::write(fd_, lines.data() + done, lines.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Fail("write");
      done += static_cast<size_t>(n);
    }
    if (::fdatasync(fd_) != 0) return Fail("fdatasync");
    return {SendResult::Outcome::kDelivered, 0, "appended to " + path_, 0};
  }

 private:
  SendResult Fail(const char* what) {
    SendResult r{SendResult::Outcome::kRetry, 0, path_ + ": " + what + ": " + std::strerror(errno), 0};
    ::close(fd_);
    fd_ = -1;
    return r;
  }
  Status EnsureOpen() {
    if (fd_ >= 0) {
      struct stat by_path {}, open_file {};
      if (::stat(path_.c_str(), &by_path) == 0 && ::fstat(fd_, &open_file) == 0 &&
          by_path.st_ino == open_file.st_ino && by_path.st_dev == open_file.st_dev) {
        return Status::Ok();
      }
      ::close(fd_);
      fd_ = -1;
    }
    fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd_ < 0) return Status::IoError(path_ + ": " + std::strerror(errno));
    return Status::Ok();
  }
  std::string path_;
  int fd_ = -1;
};

// Slack, Teams, PagerDuty and the generic webhook: a JSON POST each.
class HttpSink final : public Sink {
 public:
  using Build = std::function<std::string(const Message&, const Templates&)>;
  HttpSink(internal::HttpTarget target, Templates t, Build build) :
      target_(std::move(target)), t_(std::move(t)), build_(std::move(build)) {}
  SendResult Send(std::span<const Message> messages) override {
    const Message& m = messages.front();
    const std::string body = build_(m, t_);
    return internal::ClassifyHttp(client_.Post(target_, body, {}), WallClockNs());
  }

 private:
  internal::HttpTarget target_;
  Templates t_;
  Build build_;
  internal::HttpClient client_;
};

// Standard Webhooks: webhook-id is the change's, the same on every retry;
// the timestamp is the attempt's (receivers refuse old ones, so a retry is
// signed afresh).
class WebhookSink final : public Sink {
 public:
  WebhookSink(internal::HttpTarget target, std::vector<uint8_t> key,
              std::vector<std::pair<std::string, std::string>> headers) :
      target_(std::move(target)), key_(std::move(key)), headers_(std::move(headers)) {}
  SendResult Send(std::span<const Message> messages) override {
    const Message& m = messages.front();
    const std::string body = internal::WebhookPayload(m);
    const std::string id = internal::WebhookId(m);
    const int64_t now = WallClockNs();
    const int64_t ts = now / 1'000'000'000;
    std::vector<std::string> h;
    for (const auto& [name, value] : headers_) h.push_back(name + ": " + value);
    h.push_back("webhook-id: " + id);
    h.push_back("webhook-timestamp: " + std::to_string(ts));
    if (!key_.empty()) h.push_back("webhook-signature: " + internal::WebhookSignature(key_, id, ts, body));
    return internal::ClassifyHttp(client_.Post(target_, body, h), now);
  }

 private:
  internal::HttpTarget target_;
  std::vector<uint8_t> key_;
  std::vector<std::pair<std::string, std::string>> headers_;
  internal::HttpClient client_;
};

class EmailSink final : public Sink {
 public:
  EmailSink(internal::SmtpTarget target, Templates t, internal::EmailOptions o, std::string envelope_from,
            int64_t window_ns, size_t max) :
      target_(std::move(target)), t_(std::move(t)), o_(std::move(o)), envelope_from_(std::move(envelope_from)),
      window_ns_(window_ns), max_(max) {}
  SendResult Send(std::span<const Message> messages) override {
    const std::string mail = internal::EmailMessage(messages, t_, o_, WallClockNs());
    return internal::SendMail(target_, envelope_from_, o_.to, mail);
  }
  size_t max_batch() const override { return window_ns_ > 0 ? max_ : 1; }
  int64_t batch_window_ns() const override { return window_ns_; }

 private:
  internal::SmtpTarget target_;
  Templates t_;
  internal::EmailOptions o_;
  std::string envelope_from_;
  int64_t window_ns_;
  size_t max_;
};

class SyslogSink final : public Sink {
 public:
  SyslogSink(std::string address, Templates t, internal::SyslogOptions o, int64_t timeout_ns) :
      sender_(std::move(address)), t_(std::move(t)), o_(std::move(o)), timeout_ns_(timeout_ns) {}
  SendResult Send(std::span<const Message> messages) override {
    const Message& m = messages.front();
    return sender_.Send(internal::SyslogFrame(m, t_, o_, WallClockNs(), CMKWATCH_VERSION), timeout_ns_);
  }

 private:
  internal::TcpSender sender_;
  Templates t_;
  internal::SyslogOptions o_;
  int64_t timeout_ns_;
};

// "Name <a@b>" → "a@b"; a bare address as is.
std::string EnvelopeAddress(const std::string& from) {
  const size_t lt = from.rfind('<');
  const size_t gt = from.rfind('>');
  if (lt != std::string::npos && gt != std::string::npos && gt > lt) return from.substr(lt + 1, gt - lt - 1);
  return from;
}

Result<internal::HttpTarget> Target(const SinkConfig& c, std::string url) {
  internal::HttpTarget t;
  if (!url.starts_with("https://") && !url.starts_with("http://")) {
    // The URL may be a credential (Slack's, Teams'): say what is wrong, not what it is.
    return Status::InvalidArgument("sink " + c.name + ": the URL does not start with https:// (or http://)");
  }
  t.url = std::move(url);
  t.ca_file = c.ca_file;
  t.client_cert = c.client_cert;
  t.client_key = c.client_key;
  t.timeout_ns = c.timeout_ns;
  return t;
}

using Factory = std::function<Result<std::unique_ptr<Sink>>(const SinkConfig&, Templates)>;

Result<std::unique_ptr<Sink>> MakeChat(const SinkConfig& c, Templates t, HttpSink::Build build) {
  auto url = ReadSecret(c.url_secret, "sink " + c.name + " url");
  if (!url.ok()) return url.status();
  auto target = Target(c, std::move(*url));
  if (!target.ok()) return target.status();
  return std::unique_ptr<Sink>(std::make_unique<HttpSink>(std::move(*target), std::move(t), std::move(build)));
}

const std::map<std::string, Factory>& Factories() {
  static const std::map<std::string, Factory> factories = {
      {"console",
       [](const SinkConfig& c, Templates) -> Result<std::unique_ptr<Sink>> {
         return std::unique_ptr<Sink>(std::make_unique<ConsoleSink>(c.format == "json"));
       }},
      {"file",
       [](const SinkConfig& c, Templates) -> Result<std::unique_ptr<Sink>> {
         if (c.path.empty()) return Status::InvalidArgument("sink " + c.name + ": a path is required");
         return std::unique_ptr<Sink>(std::make_unique<FileSink>(c.path));
       }},
      {"slack",
       [](const SinkConfig& c, Templates t) {
         return MakeChat(c, std::move(t), [](const Message& m, const Templates& tpl) { return internal::SlackPayload(m, tpl); });
       }},
      {"teams",
       [](const SinkConfig& c, Templates t) {
         return MakeChat(c, std::move(t), [](const Message& m, const Templates& tpl) { return internal::TeamsPayload(m, tpl); });
       }},
      {"pagerduty",
       [](const SinkConfig& c, Templates t) -> Result<std::unique_ptr<Sink>> {
         auto key = ReadSecret(c.routing_key, "sink " + c.name + " routing key");
         if (!key.ok()) return key.status();
         auto target = Target(c, c.url);
         if (!target.ok()) return target.status();
         return std::unique_ptr<Sink>(std::make_unique<HttpSink>(
             std::move(*target), std::move(t), [key = *key](const Message& m, const Templates& tpl) {
               return internal::PagerDutyPayload(m, tpl, key);
             }));
       }},
      {"webhook",
       [](const SinkConfig& c, Templates) -> Result<std::unique_ptr<Sink>> {
         auto url = ReadSecret(c.url_secret, "sink " + c.name + " url");
         if (!url.ok()) return url.status();
         auto target = Target(c, std::move(*url));
         if (!target.ok()) return target.status();
         std::vector<uint8_t> key;
         if (!c.hmac_secret.empty()) {
           auto secret = ReadSecret(c.hmac_secret, "sink " + c.name + " secret");
           if (!secret.ok()) return secret.status();
           auto decoded = internal::DecodeWebhookSecret(*secret);
           if (!decoded.ok()) return Status::InvalidArgument("sink " + c.name + " secret: " + decoded.status().message());
           key = std::move(*decoded);
         }
         return std::unique_ptr<Sink>(std::make_unique<WebhookSink>(std::move(*target), std::move(key), c.headers));
       }},
      {"email",
       [](const SinkConfig& c, Templates t) -> Result<std::unique_ptr<Sink>> {
         internal::SmtpTarget target;
         target.url = c.smtp_url;
         target.ca_file = c.ca_file;
         target.timeout_ns = c.timeout_ns;
         target.username = c.username;
         if (!c.username.empty()) {
           auto password = ReadSecret(c.password, "sink " + c.name + " password");
           if (!password.ok()) return password.status();
           target.password = std::move(*password);
         }
         internal::EmailOptions o;
         o.from = c.from;
         o.to = c.to;
         const std::string envelope = EnvelopeAddress(c.from);
         if (const size_t at = envelope.find('@'); at != std::string::npos) o.domain = envelope.substr(at + 1);
         return std::unique_ptr<Sink>(std::make_unique<EmailSink>(std::move(target), std::move(t), std::move(o),
                                                                  envelope, c.digest_window_ns, c.digest_max));
       }},
      {"syslog",
       [](const SinkConfig& c, Templates t) -> Result<std::unique_ptr<Sink>> {
         internal::SyslogOptions o;
         o.facility = c.facility;
         char host[256] = {};
         if (::gethostname(host, sizeof host - 1) == 0 && host[0] != '\0') o.hostname = host;
         return std::unique_ptr<Sink>(std::make_unique<SyslogSink>(c.address, std::move(t), std::move(o), c.timeout_ns));
       }},
  };
  return factories;
}

}  // namespace

std::string_view ToString(SendResult::Outcome o) {
  switch (o) {
    case SendResult::Outcome::kDelivered: return "delivered";
    case SendResult::Outcome::kRetry: return "retry";
    case SendResult::Outcome::kPermanent: return "permanent";
  }
  return "retry";
}

std::vector<std::string> SinkTypes() {
  std::vector<std::string> names;
  for (const auto& [name, factory] : Factories()) names.push_back(name);
  return names;
}

Result<std::unique_ptr<Sink>> MakeSink(const SinkConfig& config) {
  const auto& factories = Factories();
  auto it = factories.find(config.type);
  if (it == factories.end()) return Status::InvalidArgument("sink " + config.name + ": no sink type '" + config.type + "'");
  auto templates = BuildTemplates(config);
  if (!templates.ok()) return templates.status();
  return it->second(config, std::move(*templates));
}

}  // namespace cmkwatch::alerts

namespace cmkwatch::alerts {

Message SampleMessage(int64_t now_ns) {
  Message m;
  m.seq = 0;
  m.kind = AlertChange::Kind::kOpened;
  m.committed_ns = now_ns;
  Alert& a = m.alert;
  a.id = "CMK003-0000000000000000";
  a.rule = "CMK003";
  a.title = "TEST from cmkwatch test-sink: key ai-cmk-key in vault contoso-kv was deleted";
  a.severity = Severity::kCritical;
  a.status = AlertStatus::kOpen;
  a.resource_id =
      "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg-sample/providers/"
      "microsoft.keyvault/vaults/contoso-kv/keys/ai-cmk-key";
  a.affected = {"/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg-sample/providers/"
                "microsoft.cognitiveservices/accounts/contoso-foundry"};
  a.operation = "KeyDelete";
  a.actor.upn = "test-sink@example.com";
  a.actor.ip = "203.0.113.7";
  a.time = a.first_seen = a.last_seen = now_ns;
  a.count = 1;
  a.evidence = {"test-sink-sample"};
  a.why = "This is a test message: no key was deleted. A real CMK003 alert means the AI resource cannot "
          "unwrap its data encryption key and stops serving.";
  a.remediation = "Nothing to do: this message checks that the sink delivers.";
  return m;
}

}  // namespace cmkwatch::alerts
