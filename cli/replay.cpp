// cmkwatch replay: archived logs through the analyzer's storage, state,
// rules and alert lifecycle, in process and in event-time order, into a
// timeline database; then a JSON and an HTML report (issue 6).
//
// Flow: list the inputs (inventory snapshots first, then the logs), hash
// each file, parse every record into the external sorter (bounded memory:
// sorted runs spill to disk), drain the sorter in (time, id) order into
// batches the timeline stores with the rules as its hook — exactly the
// analyzer's path — ticking the rules' clock with event time, never the
// wall clock. The report is built from what was stored.
#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cmkwatch/alerts/config.h"
#include "cmkwatch/alerts/dispatcher.h"
#include "cmkwatch/analyzer/config.h"
#include "cmkwatch/analyzer/rules.h"
#include "cmkwatch/analyzer/timeline.h"
#include "cmkwatch/collector/reader.h"
#include "cmkwatch/common/hash.h"
#include "cmkwatch/common/resource_id.h"
#include "cmkwatch/common/time.h"
#include "commands.h"
#include "replay_report.h"
#include "replay_sort.h"

namespace cmkwatch::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using analyzer::Alert;
using analyzer::AlertChange;

constexpr char kReplayHelp[] = R"(usage: cmkwatch replay --db FILE [options] PATH...

Replays archived Azure logs (files or directories, recursively; gzip too;
any format cmkwatch reads, mixed) through the analyzer's storage, resource
state, rules and alert lifecycle, in event-time order, into the timeline
database FILE, and reports what happened: which keys and vaults changed, who
did it, which AI resources broke, and which alerts that raised.

The same input in any file order gives the same alerts (same ids) and the
same timeline hashes: events are ordered by (event time, event id), and the
rules' clock is event time, never the wall clock. Memory stays bounded: past
--memory, sorted runs spill to a temporary directory beside the database.

Options:
  --db FILE            the timeline database (created when missing; a fresh
                       file gives a report of this input alone). A new one
                       is built as FILE.partial and renamed to FILE when
                       complete, so a failed or killed run leaves no
                       half-built FILE
  --config FILE        an analyzer configuration: its rules section (enabled
                       rules, severities, suppressions) and, with --deliver,
                       its alerts.sinks
  --inventory PATH     ARM snapshots (az ... show) read first, so the rules
                       know the estate; may be repeated
  --since T, --until T only events with since <= time < until (RFC 3339 or
                       a UTC date)
  --json-report FILE   write the JSON report
  --report FILE.html   write the self-contained HTML report
  --deliver            also send the alerts raised to the configured sinks,
                       titles marked "[replay]" (default: report and
                       database only)
  --memory MIB         events buffered before spilling (default 128)
  --no-progress        no progress line on a terminal
  -h, --help           show this help

Exit status: 0 replayed; 3 some records could not be read (each is counted
and listed in the report); 1 a file or the database could not be read or
written; 2 usage error.
)";

int UsageError(const std::string& message) {
  std::fprintf(stderr, "cmkwatch replay: %s (see --help)\n", message.c_str());
  return kExitUsage;
}

Result<std::string> Sha256File(const std::string& path, uint64_t* bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError(path + ": cannot be read");
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) return Status::Internal("sha256 unavailable");
  std::vector<char> buf(1 << 20);
  *bytes = 0;
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto n = static_cast<size_t>(in.gcount());
    if (n == 0) break;
    *bytes += n;
    EVP_DigestUpdate(ctx.get(), buf.data(), n);
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  return HexLower(std::string_view(reinterpret_cast<const char*>(md), len));
}

// The progress line on a terminal: bytes and events read, rate, ETA.
class Progress {
 public:
  Progress(bool enabled, uint64_t total_bytes) : enabled_(enabled), total_(total_bytes), start_(Clock::now()) {}
  // Callable from any thread.
  void Update(const char* phase, uint64_t bytes, uint64_t events, bool force = false) {
    if (!enabled_) return;
    std::lock_guard lock(mu_);
    const auto now = Clock::now();
    if (!force && now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    const double s = std::chrono::duration<double>(now - start_).count();
    const double rate = s > 0 ? static_cast<double>(events) / s : 0;
    const double frac = total_ > 0 ? std::min(1.0, static_cast<double>(bytes) / static_cast<double>(total_)) : 1.0;
    const int width = 24, filled = static_cast<int>(frac * width);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(width, '.');
    const double eta = frac > 0.01 ? s / frac - s : 0;
    std::fprintf(stderr, "\r%-8s [%s] %5.1f%%  %.1f/%.1f MB  %llu events  %.0f ev/s  ETA %.0fs   ", phase,
                 bar.c_str(), frac * 100, static_cast<double>(bytes) / 1e6, static_cast<double>(total_) / 1e6,
                 static_cast<unsigned long long>(events), rate, eta);
  }
  void Done() {
    if (enabled_) std::fputs("\n", stderr);
  }

 private:
  using Clock = std::chrono::steady_clock;
  std::mutex mu_;
  bool enabled_;
  uint64_t total_;
  Clock::time_point start_, last_{};
};

// What the report needs, gathered while events are stored (bounded).
class ReportData {
 public:
  // The report stays readable and its memory bounded whatever the archive:
  // per-resource and total event caps, raw records cut and, past a total
  // budget, left out (the timeline database has them all).
  static constexpr size_t kMaxResources = 2000;
  static constexpr size_t kMaxEventsPerResource = 200;
  static constexpr size_t kMaxEvents = 20'000;
  static constexpr size_t kMaxRawBytes = 16 << 10;
  static constexpr size_t kMaxTotalRawBytes = size_t{32} << 20;
  static constexpr size_t kMaxQuarantine = 100;
  static constexpr size_t kMaxAlerts = 5000;

  void OnStored(const Event& e) {
    ++by_source_[std::string(ToString(e.source))];
    if (first_ == 0 || e.time < first_) first_ = e.time;
    last_ = std::max(last_, e.time);
    if (e.resource_id.empty()) return;
    auto it = resources_.find(e.resource_id);
    if (it == resources_.end()) {
      if (resources_.size() >= kMaxResources) {
        ++resources_omitted_;
        return;
      }
      it = resources_.emplace(e.resource_id, Resource{}).first;
      it->second.kind = e.resource_kind;
    }
    Resource& r = it->second;
    ++r.total;
    if (!Matters(e)) return;
    if (r.events.size() >= kMaxEventsPerResource || events_ >= kMaxEvents) {
      ++r.omitted;
      return;
    }
    ++events_;
    const bool with_raw = raw_bytes_ < kMaxTotalRawBytes;
    json ej = EventJson(e, with_raw);
    if (with_raw) raw_bytes_ += ej["raw"].get_ref<const std::string&>().size();
    r.events.push_back(std::move(ej));
  }
  void OnQuarantine(const QuarantineEntry& q) {
    ++quarantined_;
    if (quarantine_.size() < kMaxQuarantine) {
      quarantine_.push_back(
          {{"path", q.path}, {"offset", q.offset}, {"line", q.line}, {"format", q.format_guess}, {"reason", q.reason}});
    }
  }

  json Build(json input, json counts, const std::vector<Alert>& alerts, const analyzer::RuleEngine& engine,
             const std::string& run_hash) const {
    json report = json::object();
    report["cmkwatch_replay_report"] = 1;
    report["version"] = CMKWATCH_VERSION;
    input["first_event"] = first_ ? json(FormatTimestamp(first_)) : json(nullptr);
    input["last_event"] = first_ ? json(FormatTimestamp(last_)) : json(nullptr);
    report["input"] = std::move(input);
    counts["by_source"] = by_source_;
    json by_rule = json::object(), by_severity = json::object();
    for (const Alert& a : alerts) {
      by_rule[a.rule] = by_rule.value(a.rule, 0) + 1;
      const std::string sev(analyzer::ToString(a.severity));
      by_severity[sev] = by_severity.value(sev, 0) + 1;
    }
    counts["alerts_by_rule"] = std::move(by_rule);
    counts["alerts_by_severity"] = std::move(by_severity);
    counts["quarantined"] = quarantined_;
    counts["resources_omitted"] = resources_omitted_;
    report["counts"] = std::move(counts);
    report["quarantine"] = quarantine_;
    json rules = json::array();
    for (const auto& r : analyzer::RuleCatalogue()) {
      rules.push_back({{"id", r.id},
                       {"title", r.what},
                       {"severity_bound", analyzer::ToString(r.bound)},
                       {"severity_unbound", r.unbound ? json(analyzer::ToString(*r.unbound)) : json(nullptr)}});
    }
    report["rules"] = std::move(rules);
    json alert_list = json::array();
    for (const Alert& a : alerts) {
      if (alert_list.size() >= kMaxAlerts) break;
      alert_list.push_back(json::parse(analyzer::AlertToJson(a)));
    }
    report["counts"]["alerts"] = alerts.size();
    report["counts"]["alerts_omitted"] = alerts.size() - alert_list.size();
    report["alerts"] = std::move(alert_list);
    json bindings = json::array();
    for (const auto& [id, r] : resources_) {
      if (r.kind != ResourceKind::kVault) continue;
      for (const std::string& ai : engine.AffectedByVault(id)) bindings.push_back({{"ai_resource", ai}, {"vault", id}});
    }
    report["bindings"] = std::move(bindings);
    json resources = json::array();
    for (const auto& [id, r] : resources_) {
      resources.push_back({{"id", id},
                           {"kind", KindName(r.kind)},
                           {"name", DisplayName(id)},
                           {"events_total", r.total},
                           {"events", r.events},
                           {"events_omitted", r.omitted}});
    }
    report["resources"] = std::move(resources);
    report["run_hash"] = run_hash;
    return report;
  }

  int64_t first() const { return first_; }
  int64_t last() const { return last_; }

 private:
  struct Resource {
    ResourceKind kind = ResourceKind::kUnknown;
    uint64_t total = 0, omitted = 0;
    std::vector<json> events;
  };

  // Configuration changes, key lifecycle, access changes and failures; not
  // the routine successful reads, wraps and unwraps that make up most of a
  // vault's log.
  static bool Matters(const Event& e) {
    if (e.outcome == Outcome::kFailed || e.http_status >= 400) return true;
    if (!e.changes.empty()) return true;
    if (e.source == Source::kActivityLog || e.source == Source::kEventGrid) return true;
    static constexpr std::string_view kRoutine[] = {"keyget",    "keylist",       "keywrap",  "keyunwrap", "keysign",
                                                    "keyverify", "keyencrypt",    "keydecrypt", "vaultget", "secretget",
                                                    "secretlist", "certificateget", "keylistversions", "authentication"};
    const std::string op = AsciiLower(e.operation);
    for (std::string_view r : kRoutine) {
      if (op == r) return false;
    }
    return true;
  }

  static std::string KindName(ResourceKind k) {
    switch (k) {
      case ResourceKind::kVault: return "vault";
      case ResourceKind::kKey: return "key";
      case ResourceKind::kAiAccount: return "ai_account";
      case ResourceKind::kMlWorkspace: return "ai_workspace";
      case ResourceKind::kRoleAssignment: return "role_assignment";
      default: return "other";
    }
  }

  // "contoso-kv", "contoso-kv/keys/cmk", "contoso-foundry".
  static std::string DisplayName(const std::string& id) {
    const size_t providers = id.rfind("/providers/");
    std::string tail = providers == std::string::npos ? id : id.substr(providers + 11);
    // microsoft.keyvault/vaults/kv/keys/k → kv/keys/k
    const size_t a = tail.find('/');
    const size_t b = a == std::string::npos ? std::string::npos : tail.find('/', a + 1);
    return b == std::string::npos ? tail : tail.substr(b + 1);
  }

  static json EventJson(const Event& e, bool with_raw) {
    json actor = json::object();
    if (!e.actor.upn.empty()) actor["upn"] = e.actor.upn;
    if (!e.actor.object_id.empty()) actor["object_id"] = e.actor.object_id;
    if (!e.actor.app_id.empty()) actor["app_id"] = e.actor.app_id;
    if (!e.actor.ip.empty()) actor["ip"] = e.actor.ip;
    std::string who = !e.actor.upn.empty() ? e.actor.upn : !e.actor.app_id.empty() ? e.actor.app_id : e.actor.object_id;
    std::string summary = e.operation + " " + std::string(ToString(e.outcome));
    if (e.http_status != 0) summary += " " + std::to_string(e.http_status);
    if (!who.empty()) summary += " by " + who;
    std::string raw = !with_raw ? std::string("(not in the report: its raw-record budget was used; "
                                              "`cmkwatch timeline --json` has it)")
                      : e.raw.size() > kMaxRawBytes ? e.raw.substr(0, kMaxRawBytes) + "…"
                                                    : e.raw;
    return {{"id", e.id},
            {"time", FormatTimestamp(e.time)},
            {"source", ToString(e.source)},
            {"operation", e.operation},
            {"status", ToString(e.outcome)},
            {"http_status", e.http_status},
            {"actor", std::move(actor)},
            {"summary", std::move(summary)},
            {"raw", std::move(raw)}};
  }

  std::map<std::string, Resource> resources_;
  std::map<std::string, uint64_t> by_source_;
  std::vector<json> quarantine_;
  uint64_t quarantined_ = 0, resources_omitted_ = 0;
  size_t events_ = 0, raw_bytes_ = 0;
  int64_t first_ = 0, last_ = 0;
};

// The rules as the timeline's hook: each newly stored event is judged, and
// the alert changes commit with it; the report sees it too.
class Judge : public analyzer::StoredEventsHook {
 public:
  Judge(analyzer::RuleEngine& engine, ReportData& report) : engine_(engine), report_(report) {}
  std::vector<AlertChange> OnStored(const std::vector<const Event*>& events) override {
    std::vector<AlertChange> changes;
    for (const Event* e : events) {
      report_.OnStored(*e);
      for (AlertChange& c : engine_.Process(*e)) changes.push_back(std::move(c));
    }
    ++stored_batches_;
    stored_ += events.size();
    return changes;
  }
  uint64_t stored() const { return stored_; }

 private:
  analyzer::RuleEngine& engine_;
  ReportData& report_;
  uint64_t stored_ = 0, stored_batches_ = 0;
};

// One reading thread's handler: events into the shared sorter (under its
// lock), quarantine entries kept apart until every thread is done.
class Collect : public collector::RecordHandler {
 public:
  Collect(EventSorter& sorter, std::mutex& sorter_mu, int64_t since, int64_t until) :
      sorter_(sorter), sorter_mu_(sorter_mu), since_(since), until_(until) {}
  void OnEvent(Event&& event, const collector::RecordLocation&) override {
    ++records_;
    if (event.time < since_ || event.time >= until_) {
      ++filtered_;
      return;
    }
    std::lock_guard lock(sorter_mu_);
    if (Status st = sorter_.Add(std::move(event)); !st.ok() && error_.ok()) error_ = st;
  }
  void OnQuarantine(collector::Quarantined&& q) override {
    ++records_;
    quarantine_.push_back(std::move(q));
  }
  uint64_t records() const { return records_; }
  uint64_t filtered() const { return filtered_; }
  const Status& error() const { return error_; }
  std::vector<QuarantineEntry>& quarantine() { return quarantine_; }

 private:
  EventSorter& sorter_;
  std::mutex& sorter_mu_;
  std::vector<QuarantineEntry> quarantine_;
  int64_t since_, until_;
  uint64_t records_ = 0, filtered_ = 0;
  Status error_;
};

// Batches drained from the sorter, with each event's canonical encoding,
// handed from the draining thread to the storing one. Bounded: the drain
// runs at most `capacity` batches ahead.
struct PreparedBatch {
  wire::Batch batch;
  std::vector<std::string> encoded;
  // Set when the draining thread judged the batch already (see below):
  // the alert changes its events make, and those of the rules' clock
  // after it.
  bool judged = false;
  std::vector<AlertChange> changes, ticked;
};

// The timeline's hook for a batch judged ahead: hands over its changes.
class Judged : public analyzer::StoredEventsHook {
 public:
  explicit Judged(std::vector<AlertChange>& changes) : changes_(changes) {}
  std::vector<AlertChange> OnStored(const std::vector<const Event*>& events) override {
    stored_ += events.size();
    return std::move(changes_);
  }
  uint64_t stored() const { return stored_; }

 private:
  std::vector<AlertChange>& changes_;
  uint64_t stored_ = 0;
};

class BatchQueue {
 public:
  explicit BatchQueue(size_t capacity) : capacity_(capacity) {}
  // False once the consumer cancelled: the producer stops.
  bool Push(PreparedBatch&& b) {
    std::unique_lock lock(mu_);
    not_full_.wait(lock, [&] { return cancelled_ || queue_.size() < capacity_; });
    if (cancelled_) return false;
    queue_.push_back(std::move(b));
    not_empty_.notify_one();
    return true;
  }
  // The producer is done; `status` says whether it finished or failed.
  void Close(Status status) {
    std::lock_guard lock(mu_);
    closed_ = true;
    status_ = std::move(status);
    not_empty_.notify_all();
  }
  void Cancel() {
    std::lock_guard lock(mu_);
    cancelled_ = true;
    not_full_.notify_all();
  }
  // The next batch, or nothing once the producer closed and all are taken.
  std::optional<PreparedBatch> Pop() {
    std::unique_lock lock(mu_);
    not_empty_.wait(lock, [&] { return closed_ || !queue_.empty(); });
    if (queue_.empty()) return std::nullopt;
    PreparedBatch b = std::move(queue_.front());
    queue_.pop_front();
    not_full_.notify_one();
    return b;
  }
  Status status() {
    std::lock_guard lock(mu_);
    return status_;
  }

 private:
  std::mutex mu_;
  std::condition_variable not_full_, not_empty_;
  std::deque<PreparedBatch> queue_;
  size_t capacity_;
  bool closed_ = false, cancelled_ = false;
  Status status_;
};

Status WriteFile(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) return Status::IoError(path + ": cannot be written");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return Status::IoError(path + ": " + ec.message());
  return Status::Ok();
}

// --deliver: the alert changes this replay committed go to the configured
// sinks through the same outbox sender as the analyzer's, titles marked
// "[replay]". Waits until every sink has taken them (or a minute passes:
// what is left stays in the database's outbox, and is said).
// A database replay creates is built as FILE.partial, bulk-loaded
// (TimelineOptions::bulk_load: much faster, but a crash would leave the
// file unusable), and renamed to FILE only once complete. So a run that
// fails or is killed never leaves a half-built database under the name
// asked for; the next run removes the .partial a killed one left.
class AsideBuild {
 public:
  explicit AsideBuild(std::string final_path) : final_(std::move(final_path)), partial_(final_ + ".partial") {}
  ~AsideBuild() {
    if (!committed_) RemovePartial();
  }
  AsideBuild(const AsideBuild&) = delete;
  AsideBuild& operator=(const AsideBuild&) = delete;

  const std::string& path() const { return partial_; }
  void RemovePartial() {
    for (const char* suffix : {"", "-journal", "-wal", "-shm"}) {
      std::error_code ec;
      fs::remove(partial_ + suffix, ec);
    }
  }
  // After the timeline is closed: the file takes its name, and the
  // directory is synced so the rename survives a power loss.
  Status Commit() {
    // Never over a FILE that appeared meanwhile (another run, a user):
    // then the finished database stays where it is, under its .partial name.
    int rc = ::renameat2(AT_FDCWD, partial_.c_str(), AT_FDCWD, final_.c_str(), RENAME_NOREPLACE);
    if (rc != 0 && errno == EINVAL) {
      // A file system without RENAME_NOREPLACE: check, then rename.
      std::error_code ec;
      if (fs::exists(final_, ec)) {
        errno = EEXIST;
      } else {
        rc = ::rename(partial_.c_str(), final_.c_str());
      }
    }
    if (rc != 0) {
      const int err = errno;
      if (err == EEXIST) {
        committed_ = true;  // kept: it is complete
        return Status::IoError(final_ + " was created by something else while replaying and is left alone; " +
                               "this replay's database is complete as " + partial_);
      }
      return Status::IoError("cannot rename " + partial_ + " to " + final_ + ": " + std::strerror(err));
    }
    committed_ = true;
    const fs::path dir = fs::absolute(final_).parent_path();
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || ::fsync(fd) != 0) {
      const std::string why = std::strerror(errno);
      if (fd >= 0) ::close(fd);
      return Status::IoError("cannot sync " + dir.string() + " after renaming " + final_ + ": " + why);
    }
    ::close(fd);
    return Status::Ok();
  }

 private:
  std::string final_, partial_;
  bool committed_ = false;
};

int DeliverReplayed(const std::string& db_path, const alerts::AlertsConfig& config, int64_t after_seq) {
  auto last = alerts::LastChangeSeq(db_path);
  if (!last.ok()) {
    std::fprintf(stderr, "cmkwatch replay: %s\n", last.status().message().c_str());
    return kExitIoError;
  }
  if (*last <= after_seq) {
    std::printf("replay: no alert changes to deliver\n");
    return kExitOk;
  }
  std::vector<std::pair<alerts::SinkConfig, std::unique_ptr<alerts::Sink>>> sinks;
  for (const alerts::SinkConfig& c : config.sinks) {
    auto s = alerts::MakeSink(c);
    if (!s.ok()) {
      std::fprintf(stderr, "cmkwatch replay: %s\n", s.status().message().c_str());
      return kExitUsage;
    }
    sinks.emplace_back(c, std::move(*s));
  }
  log::Logger logger(log::Format::kKeyValue, log::Level::kWarning);
  alerts::DispatcherOptions o;
  o.db_path = db_path;
  o.retry = config.retry;
  o.start_after_seq = after_seq;
  o.title_prefix = "[replay] ";
  auto dispatcher = alerts::Dispatcher::Start(o, std::move(sinks), logger);
  if (!dispatcher.ok()) {
    std::fprintf(stderr, "cmkwatch replay: %s\n", dispatcher.status().message().c_str());
    return kExitIoError;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool done = false;
  while (!done && std::chrono::steady_clock::now() < deadline) {
    done = true;
    for (const auto& s : (*dispatcher)->Stats()) done = done && s.cursor >= *last;
    if (!done) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  (*dispatcher)->Stop();
  int rc = kExitOk;
  for (const auto& s : (*dispatcher)->Stats()) {
    std::printf("replay: sink %s: %llu delivered, %llu dead-lettered%s\n", s.name.c_str(),
                static_cast<unsigned long long>(s.delivered), static_cast<unsigned long long>(s.dead_lettered),
                s.cursor >= *last ? "" : "; the rest is still in the outbox (the endpoint did not take it in time)");
    if (s.cursor < *last) rc = kExitIoError;
  }
  return rc;
}

}  // namespace

int Replay(const std::vector<std::string_view>& args) {
  std::string db_path, config_path, json_report, html_report;
  std::vector<std::string> inventory, paths;
  std::optional<int64_t> since, until;
  bool deliver = false, progress_flag = true;
  size_t memory_mib = 128;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kReplayHelp, stdout);
      return kExitOk;
    }
    if (a == "--deliver") {
      deliver = true;
      continue;
    }
    if (a == "--no-progress") {
      progress_flag = false;
      continue;
    }
    std::string_view v;
    auto flag = [&](std::string_view name) {
      const FlagValue f = TakeFlagValue(args, i, name, &v);
      if (f == FlagValue::kMissing) return std::optional<bool>(false);
      if (f == FlagValue::kFound) return std::optional<bool>(true);
      return std::optional<bool>();
    };
    std::optional<bool> got;
    if ((got = flag("--db"))) {
      if (!*got || v.empty()) return UsageError("--db needs a file");
      db_path = std::string(v);
    } else if ((got = flag("--config"))) {
      if (!*got || v.empty()) return UsageError("--config needs a file");
      config_path = std::string(v);
    } else if ((got = flag("--inventory"))) {
      if (!*got || v.empty()) return UsageError("--inventory needs a path");
      inventory.emplace_back(v);
    } else if ((got = flag("--json-report"))) {
      if (!*got || v.empty()) return UsageError("--json-report needs a file");
      json_report = std::string(v);
    } else if ((got = flag("--report"))) {
      if (!*got || v.empty()) return UsageError("--report needs a file");
      html_report = std::string(v);
    } else if ((got = flag("--since")) || (got = flag("--until"))) {
      const bool is_until = a.starts_with("--until");
      if (!*got) return UsageError(std::string(is_until ? "--until" : "--since") + " needs a time");
      auto t = ParseBound(v, is_until);
      if (!t) return UsageError("'" + ForTerminal(v) + "' is not an RFC 3339 time or a date");
      (is_until ? until : since) = *t;
    } else if ((got = flag("--memory"))) {
      char* end = nullptr;
      const std::string s(v);
      const unsigned long long m = std::strtoull(s.c_str(), &end, 10);
      if (!*got || end == s.c_str() || *end != '\0' || m < 1 || m > 65536) {
        return UsageError("--memory needs a number of MiB, 1 to 65536");
      }
      memory_mib = static_cast<size_t>(m);
    } else if (a.size() > 1 && a[0] == '-') {
      return UsageError("unknown option '" + ForTerminal(a) + "'");
    } else {
      paths.emplace_back(a);
    }
  }
  if (db_path.empty()) return UsageError("--db FILE is required");
  if (paths.empty() && inventory.empty()) return UsageError("name at least one log file or directory");
  if (since && until && *since >= *until) return UsageError("--since must be before --until");

  // Configuration: the rules (and sinks, for --deliver) as the analyzer has them.
  analyzer::RulesConfig rules;
  std::optional<alerts::AlertsConfig> alerts_config;
  if (!config_path.empty()) {
    auto loaded = analyzer::LoadAnalyzerConfig(config_path, alerts::AlertsSectionReader(&alerts_config));
    if (!loaded.ok()) {
      std::fprintf(stderr, "cmkwatch replay: %s\n", loaded.status().message().c_str());
      return kExitUsage;
    }
    rules = loaded->analyzer.rules;
  }
  if (deliver && !alerts_config) return UsageError("--deliver needs --config with an alerts: section naming the sinks");

  // Where the time went, for the summary: operators size archives and
  // machines by it.
  struct Phase {
    const char* name;
    double seconds;
  };
  std::vector<Phase> phases;
  auto phase_start = std::chrono::steady_clock::now();
  auto end_phase = [&](const char* name) {
    const auto now = std::chrono::steady_clock::now();
    phases.push_back({name, std::chrono::duration<double>(now - phase_start).count()});
    phase_start = now;
  };

  // Inputs, each hashed for the report.
  struct Input {
    std::string path;
    bool inventory;
    uint64_t bytes = 0;
    std::string sha256;
  };
  std::vector<Input> inputs;
  for (int pass = 0; pass < 2; ++pass) {
    for (const std::string& p : pass == 0 ? inventory : paths) {
      auto files = collector::ListLogFiles(p);
      if (!files.ok()) {
        std::fprintf(stderr, "cmkwatch replay: %s\n", ForTerminal(files.status().message()).c_str());
        return kExitIoError;
      }
      for (std::string& f : *files) inputs.push_back({std::move(f), pass == 0, 0, {}});
    }
  }
  uint64_t total_bytes = 0;
  for (Input& in : inputs) {
    std::error_code ec;
    const auto size = fs::file_size(in.path, ec);
    if (!ec) total_bytes += size;
  }

  // Replay can be run again from its inputs, so its commits need not each
  // reach the disk (Checkpoint at the end syncs everything). A database
  // that does not exist yet is built aside as a bulk load (AsideBuild).
  analyzer::TimelineOptions timeline_options;
  timeline_options.durable_commits = false;
  std::error_code exists_ec;
  std::optional<AsideBuild> aside;
  if (!fs::exists(db_path, exists_ec) && !exists_ec) {
    aside.emplace(db_path);
    aside->RemovePartial();
    timeline_options.bulk_load = true;
    // A new database starts empty, so the draining thread below drops
    // every repeat of an id before it reaches the timeline (judge_ahead).
    timeline_options.bulk_ids_unique = true;
  }
  const std::string build_path = aside ? aside->path() : db_path;
  auto timeline = analyzer::Timeline::Open(build_path, timeline_options);
  if (!timeline.ok()) {
    std::fprintf(stderr, "cmkwatch replay: %s\n", timeline.status().message().c_str());
    return kExitIoError;
  }
  auto changes_before = alerts::LastChangeSeq(build_path);
  if (!changes_before.ok()) {
    std::fprintf(stderr, "cmkwatch replay: %s\n", changes_before.status().message().c_str());
    return kExitIoError;
  }
  // What the database already holds is the rules' starting state, as when
  // the analyzer starts.
  analyzer::RuleEngine engine(rules);
  uint64_t already = 0;
  if (Status st = (*timeline)->ForEachEvent([&](const Event& e) {
        (void)engine.Process(e);
        ++already;
        return Status::Ok();
      });
      !st.ok()) {
    std::fprintf(stderr, "cmkwatch replay: %s\n", st.message().c_str());
    return kExitIoError;
  }
  if (already > 0) end_phase("loading the database's events");

  // Reading: the files are hashed (for the report) and parsed by a few
  // threads, one file at a time each, into one sorter. The sorter's order
  // is total, so which thread read what changes nothing downstream; the
  // quarantine is put in (file, offset) order afterwards for the same reason.
  const bool tty = progress_flag && ::isatty(STDERR_FILENO) == 1;
  Progress progress(tty, total_bytes);
  ReportData report;
  const fs::path spill_parent = fs::absolute(db_path).parent_path();
  EventSorter sorter(spill_parent, memory_mib << 20);
  std::mutex sorter_mu;
  const size_t readers =
      std::max<size_t>(1, std::min<size_t>({inputs.size(), std::max(1u, std::thread::hardware_concurrency()), 4}));
  std::vector<std::unique_ptr<Collect>> collects;
  for (size_t i = 0; i < readers; ++i) {
    collects.push_back(
        std::make_unique<Collect>(sorter, sorter_mu, since.value_or(INT64_MIN), until.value_or(INT64_MAX)));
  }
  std::atomic<size_t> next_input{0};
  std::atomic<uint64_t> read_bytes{0};
  std::atomic<bool> failed{false};
  std::vector<std::string> errors(inputs.size());  // per input, printed in input order
  std::vector<bool> fatal(inputs.size(), false);
  auto read_files = [&](Collect& collect) {
    for (size_t i; !failed && (i = next_input++) < inputs.size();) {
      Input& in = inputs[i];
      auto h = Sha256File(in.path, &in.bytes);
      if (!h.ok()) {
        errors[i] = ForTerminal(h.status().message());
        fatal[i] = true;
        failed = true;
        return;
      }
      in.sha256 = std::move(*h);
      collector::ReadOptions options;
      if (in.inventory) options.format = collector::Format::kArm;
      collector::ReadStats stats;
      if (Status st = collector::ReadPath(in.path, options, collect, stats); !st.ok()) {
        errors[i] = ForTerminal(st.message());
      }
      if (!collect.error().ok()) {
        errors[i] = collect.error().message();
        fatal[i] = true;
        failed = true;
        return;
      }
      read_bytes += in.bytes;
      uint64_t added;
      {
        std::lock_guard lock(sorter_mu);
        added = sorter.added();
      }
      progress.Update("reading", read_bytes, added);
    }
  };
  {
    std::vector<std::thread> threads;
    for (size_t i = 1; i < readers; ++i) threads.emplace_back(read_files, std::ref(*collects[i]));
    read_files(*collects[0]);
    for (std::thread& t : threads) t.join();
  }
  bool io_error = false;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (errors[i].empty()) continue;
    std::fprintf(stderr, "cmkwatch replay: %s\n", errors[i].c_str());
    if (fatal[i]) return kExitIoError;
    io_error = true;
  }
  progress.Update("reading", read_bytes, sorter.added(), true);
  progress.Done();
  uint64_t records = 0, filtered = 0;
  std::vector<QuarantineEntry> quarantine;
  for (auto& c : collects) {
    records += c->records();
    filtered += c->filtered();
    for (QuarantineEntry& q : c->quarantine()) quarantine.push_back(std::move(q));
  }
  std::stable_sort(quarantine.begin(), quarantine.end(), [](const QuarantineEntry& a, const QuarantineEntry& b) {
    return a.path != b.path ? a.path < b.path : a.offset < b.offset;
  });
  for (const QuarantineEntry& q : quarantine) report.OnQuarantine(q);
  end_phase("reading and sorting");

  // Store in event-time order, the rules judging each new event. The
  // sorter drains on its own thread a few batches ahead: merging the runs
  // and decoding and encoding each event is a good part of the work, and
  // storing (hashing, compressing, SQLite) keeps this one busy.
  //
  // Who judges: the rules may only see events the timeline newly stores.
  // When the database held no events at the start, that is every event
  // but repeats of an id, and repeats come out of the sorter next to each
  // other (same time, same id): the draining thread drops them and judges
  // the rest itself, and the changes commit with their batch as usual.
  // Otherwise the timeline says which events are new, inside the
  // transaction (the live analyzer's path), and the rules run there.
  const bool judge_ahead = already == 0;
  Judge judge(engine, report);
  uint64_t judged_stored = 0, repeats = 0;
  const uint64_t base_sequence = static_cast<uint64_t>(WallClockNs());
  uint64_t batches = 0, duplicates = 0, drained = 0;
  constexpr size_t kBatchEvents = 2000;
  Progress storing(tty, sorter.added());
  auto store = [&](wire::Batch& batch, const std::vector<std::string_view>* bytes,
                   PreparedBatch* ahead) -> Status {
    if (batch.events.empty() && batch.quarantined.empty()) return Status::Ok();
    batch.collector_id = "replay";
    batch.sequence = base_sequence + ++batches;
    const int64_t at = batch.events.empty() ? report.last() : batch.events.back().time;
    std::vector<AlertChange> ticked;
    if (ahead != nullptr && ahead->judged) {
      Judged hook(ahead->changes);
      auto r = (*timeline)->InsertEncodedBatches({{&batch, bytes}}, at, &hook);
      if (!r.ok()) return r.status();
      if ((*r)[0].duplicates > 0) {
        // Only another writer to the same file could have stored them.
        return Status::Internal("replay: " + std::to_string((*r)[0].duplicates) +
                                " events were stored by someone else while replaying into " + db_path +
                                "; replay into a database no analyzer writes to");
      }
      judged_stored += hook.stored();
      ticked = std::move(ahead->ticked);
    } else {
      auto r = (*timeline)->InsertEncodedBatches({{&batch, bytes}}, at, &judge);
      if (!r.ok()) return r.status();
      duplicates += (*r)[0].duplicates;
      // The rules' clock is the replayed time: silence and expiry are
      // judged as of the newest event stored so far.
      ticked = engine.Tick(at);
    }
    drained += batch.events.size();
    if (!ticked.empty()) CMK_RETURN_IF_ERROR((*timeline)->StoreAlertChanges(ticked, at));
    storing.Update("storing", drained, drained);
    return Status::Ok();
  };
  Status drain;
  for (size_t i = 0; i < quarantine.size() && drain.ok(); i += wire::kMaxItems) {
    const size_t end = std::min(quarantine.size(), i + wire::kMaxItems);
    wire::Batch batch;
    batch.quarantined.assign(quarantine.begin() + static_cast<ptrdiff_t>(i), quarantine.begin() + static_cast<ptrdiff_t>(end));
    drain = store(batch, nullptr, nullptr);
  }
  if (drain.ok()) {
    BatchQueue queue(2);
    std::thread producer([&] {
      PreparedBatch next;
      std::string last_id;
      int64_t last_time = 0;
      // The engine and the report are this thread's while it runs (the
      // storing thread touches them only when judge_ahead is false).
      auto hand_over = [&]() -> bool {
        if (judge_ahead) {
          for (const Event& e : next.batch.events) {
            report.OnStored(e);
            for (AlertChange& c : engine.Process(e)) next.changes.push_back(std::move(c));
          }
          next.ticked = engine.Tick(next.batch.events.back().time);
          next.judged = true;
        }
        if (!queue.Push(std::move(next))) return false;
        next = PreparedBatch{};
        return true;
      };
      Status st = sorter.Drain([&](Event&& e) -> Status {
        if (judge_ahead) {
          if (e.time == last_time && e.id == last_id) {
            ++repeats;
            return Status::Ok();
          }
          last_time = e.time;
          last_id = e.id;
        }
        next.encoded.push_back(wire::EncodeEvent(e));
        next.batch.events.push_back(std::move(e));
        if (next.batch.events.size() < kBatchEvents) return Status::Ok();
        return hand_over() ? Status::Ok() : Status::Internal("storing stopped");
      });
      if (st.ok() && !next.batch.events.empty() && !hand_over()) st = Status::Internal("storing stopped");
      queue.Close(std::move(st));
    });
    std::vector<std::string_view> views;
    while (auto b = queue.Pop()) {
      views.assign(b->encoded.begin(), b->encoded.end());
      drain = store(b->batch, &views, &*b);
      if (!drain.ok()) {
        queue.Cancel();
        break;
      }
    }
    producer.join();
    if (drain.ok()) drain = queue.status();
  }
  // Repeats dropped ahead count as what the timeline would have called them.
  duplicates += repeats;
  drained += repeats;
  const uint64_t stored = judge.stored() + judged_stored;
  if (drain.ok()) drain = (*timeline)->Checkpoint();
  storing.Update("storing", drained, drained, true);
  storing.Done();
  if (!drain.ok()) {
    std::fprintf(stderr, "cmkwatch replay: %s\n", drain.message().c_str());
    return kExitIoError;
  }
  end_phase("storing and judging");

  // The run hash: every chain head and every alert, each in id order.
  auto heads = (*timeline)->ChainHeads();
  if (!heads.ok()) {
    std::fprintf(stderr, "cmkwatch replay: %s\n", heads.status().message().c_str());
    return kExitIoError;
  }
  if (aside) {
    Status done = (*timeline)->FinishBulkLoad();
    timeline->reset();  // closed before the file is renamed
    if (done.ok()) done = aside->Commit();
    if (!done.ok()) {
      std::fprintf(stderr, "cmkwatch replay: %s\n", done.message().c_str());
      return kExitIoError;
    }
    end_phase("indexing and syncing");
  }
  std::vector<Alert> alerts = engine.Alerts();
  std::sort(alerts.begin(), alerts.end(), [](const Alert& a, const Alert& b) {
    return a.first_seen != b.first_seen ? a.first_seen < b.first_seen : a.id < b.id;
  });
  std::string material;
  for (const auto& [id, hash] : *heads) material += id + "\n" + HexLower(hash) + "\n";
  std::vector<std::string> alert_json;
  for (const Alert& a : alerts) alert_json.push_back(analyzer::AlertToJson(a));
  std::sort(alert_json.begin(), alert_json.end());
  for (const std::string& a : alert_json) material += a + "\n";
  const std::string run_hash = HexLower(Sha256(material));

  json files = json::array();
  std::vector<const Input*> sorted;
  for (const Input& in : inputs) sorted.push_back(&in);
  std::sort(sorted.begin(), sorted.end(), [](const Input* a, const Input* b) { return a->path < b->path; });
  for (const Input* in : sorted) files.push_back({{"path", in->path}, {"bytes", in->bytes}, {"sha256", in->sha256}});
  json input = {{"files", std::move(files)},
                {"since", since ? json(FormatTimestamp(*since)) : json(nullptr)},
                {"until", until ? json(FormatTimestamp(*until)) : json(nullptr)}};
  json counts = {{"records", records},
                 {"events", drained},
                 {"filtered_out", filtered},
                 {"stored", stored},
                 {"duplicates", duplicates},
                 {"already_in_database", already}};
  const json doc = report.Build(std::move(input), std::move(counts), alerts, engine, run_hash);
  if (!json_report.empty()) {
    if (Status st = WriteFile(json_report, doc.dump(2, ' ', false, json::error_handler_t::replace) + "\n"); !st.ok()) {
      std::fprintf(stderr, "cmkwatch replay: %s\n", st.message().c_str());
      return kExitIoError;
    }
  }
  if (!html_report.empty()) {
    if (Status st = WriteFile(html_report, RenderReportHtml(doc)); !st.ok()) {
      std::fprintf(stderr, "cmkwatch replay: %s\n", st.message().c_str());
      return kExitIoError;
    }
  }
  end_phase("reports");

  // The summary.
  std::printf("replay: %zu files, %.1f MB; %llu records: %llu events (%llu newly stored, %llu already there), "
              "%zu quarantined\n",
              inputs.size(), static_cast<double>(total_bytes) / 1e6, static_cast<unsigned long long>(records),
              static_cast<unsigned long long>(drained), static_cast<unsigned long long>(stored),
              static_cast<unsigned long long>(duplicates), quarantine.size());
  if (sorter.runs() > 0) {
    std::printf("replay: sorted in %zu runs spilled to disk (over --memory %zu MiB)\n", sorter.runs(), memory_mib);
  }
  if (report.first() != 0) {
    std::printf("replay: events from %s to %s\n", FormatTimestamp(report.first()).c_str(),
                FormatTimestamp(report.last()).c_str());
  }
  double took = 0;
  for (const Phase& p : phases) took += p.seconds;
  std::printf("replay: took %.1f s (", took);
  for (size_t i = 0; i < phases.size(); ++i) std::printf("%s%s %.1f s", i ? ", " : "", phases[i].name, phases[i].seconds);
  std::printf(")\n");
  std::map<std::string, int> by_rule;
  std::map<analyzer::Severity, int, std::greater<>> by_severity;
  for (const Alert& a : alerts) {
    ++by_rule[a.rule];
    ++by_severity[a.severity];
  }
  std::printf("replay: %zu alerts", alerts.size());
  for (const auto& [sev, n] : by_severity) std::printf(", %d %s", n, std::string(analyzer::ToString(sev)).c_str());
  std::printf("\n");
  for (const auto& [rule, n] : by_rule) std::printf("  %s  %d\n", rule.c_str(), n);
  constexpr size_t kListed = 20;
  for (size_t i = 0; i < alerts.size() && i < kListed; ++i) {
    const Alert& a = alerts[i];
    std::printf("  %-8s %-8s %s\n", std::string(analyzer::ToString(a.severity)).c_str(),
                std::string(analyzer::ToString(a.status)).c_str(), ForTerminal(a.title).c_str());
  }
  if (alerts.size() > kListed) std::printf("  ... and %zu more (in the reports and `cmkwatch alerts`)\n", alerts.size() - kListed);
  std::printf("replay: run hash %s\n", run_hash.c_str());
  if (!json_report.empty()) std::printf("replay: JSON report %s\n", json_report.c_str());
  if (!html_report.empty()) std::printf("replay: HTML report %s\n", html_report.c_str());

  if (deliver) {
    if (int rc = DeliverReplayed(db_path, *alerts_config, *changes_before); rc != kExitOk) return rc;
  }
  if (io_error) return kExitIoError;
  return quarantine.empty() ? kExitOk : kExitQuarantined;
}

}  // namespace cmkwatch::cli
