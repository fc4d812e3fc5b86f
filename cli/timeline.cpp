// cmkwatch timeline: what happened to a resource, in event-time order, read
// from the analyzer's timeline database.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "cmkwatch/analyzer/timeline.h"
#include "cmkwatch/common/event_json.h"
#include "cmkwatch/common/resource_id.h"
#include "cmkwatch/common/time.h"
#include "commands.h"

namespace cmkwatch::cli {

FlagValue TakeFlagValue(const std::vector<std::string_view>& args, size_t& i, std::string_view name,
                        std::string_view* value) {
  const std::string_view a = args[i];
  if (a == name) {
    if (i + 1 >= args.size()) return FlagValue::kMissing;
    *value = args[++i];
    return FlagValue::kFound;
  }
  if (a.size() > name.size() && a.substr(0, name.size()) == name && a[name.size()] == '=') {
    *value = a.substr(name.size() + 1);
    return FlagValue::kFound;
  }
  return FlagValue::kNotThisFlag;
}

Status CheckTimelineFileExists(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) {
    if (ec && ec != std::errc::no_such_file_or_directory) {
      return Status::IoError("cannot read " + path + ": " + ec.message());
    }
    return Status::NotFound("no timeline database at " + path +
                            " (read commands never create one; check --db, or start the analyzer first)");
  }
  if (!fs::is_regular_file(st)) return Status::InvalidArgument(path + " is not a regular file");
  // A timeline, even a new one, has at least its SQLite header page (WAL mode
  // is recorded there). An empty file is not one yet, and opening it would
  // write a schema into it.
  const auto size = fs::file_size(path, ec);
  if (ec) return Status::IoError("cannot read " + path + ": " + ec.message());
  if (size == 0) return Status::InvalidArgument(path + " is empty: not a cmkwatch timeline");
  return Status::Ok();
}

std::string ForTerminal(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = '?';
  }
  return out;
}

namespace {

constexpr size_t kDefaultLimit = 10'000;
// Events decoded per query: memory stays bounded by the page, not by
// --limit (up to kMaxQueryEvents), and output starts at once.
constexpr size_t kPageEvents = 2'000;

constexpr char kTimelineHelp[] = R"(usage: cmkwatch timeline --db FILE [OPTIONS]

Prints the events stored in a cmkwatch timeline database (the analyzer's
--timeline file) in event-time order: those of one resource, or of every
resource. The file is only read; a running analyzer may go on writing it.

Options:
  --db FILE        the timeline database (required; must exist)
  --resource ID    only this resource's events. An ARM id as Azure prints it,
                   in any case ("/SUBSCRIPTIONS/.../VAULTS/CONTOSO-KV" works);
                   without it, every resource's events, merged by time
  --since T        only events at or after T
  --until T        only events before T
                   T is RFC 3339 ("2026-03-02T09:15:00Z", "...+01:00"; no
                   offset means UTC) or a plain UTC date: "--since 2026-03-02"
                   starts at that day's midnight, "--until 2026-03-02" ends at
                   the end of that day (so both together give the whole day)
  --limit N        print at most N events (default 10000, at most 1000000);
                   when more match, standard error says so
  --json           JSON Lines, one event per line, with the fields of
                   'cmkwatch inspect' (id, source, time, resource_id, ...)
  -h, --help       show this help

Without --json the output is a table: TIME (RFC 3339 UTC), SOURCE,
OPERATION, OUTCOME (status and HTTP status), ACTOR (user principal name or
object id, and IP address), and RESOURCE when listing every resource.

Exit status: 0 the events were printed (none may match); 2 usage error;
1 the database is missing or could not be read (a stored event that does
not decode is reported too: run 'cmkwatch verify').
)";

std::string ActorText(const Actor& a) {
  std::string who = !a.upn.empty() ? a.upn : !a.object_id.empty() ? a.object_id : a.app_id;
  if (!a.ip.empty()) who += who.empty() ? a.ip : " " + a.ip;
  return who.empty() ? "-" : who;
}

std::string OutcomeText(const Event& e) {
  std::string s(ToString(e.outcome));
  if (e.http_status != 0) s += " " + std::to_string(e.http_status);
  return s;
}

class Printer {
 public:
  Printer(bool json, bool with_resource) : json_(json), with_resource_(with_resource) {}

  void Header() {
    if (json_) return;
    if (with_resource_) {
      std::printf("%-28s %-14s %-44s %-13s %-36s %s\n", "TIME", "SOURCE", "OPERATION", "OUTCOME", "ACTOR", "RESOURCE");
    } else {
      std::printf("%-28s %-14s %-44s %-13s %s\n", "TIME", "SOURCE", "OPERATION", "OUTCOME", "ACTOR");
    }
  }

  void Print(const Event& e) {
    if (json_) {
      std::string line = EventToJson(e);
      line.push_back('\n');
      std::fwrite(line.data(), 1, line.size(), stdout);
      return;
    }
    const std::string time = FormatTimestamp(e.time);
    const std::string operation = ForTerminal(e.operation);
    const std::string actor = ForTerminal(ActorText(e.actor));
    if (with_resource_) {
      std::printf("%-28s %-14s %-44s %-13s %-36s %s\n", time.c_str(), std::string(ToString(e.source)).c_str(),
                  operation.c_str(), OutcomeText(e).c_str(), actor.c_str(),
                  e.resource_id.empty() ? "-" : ForTerminal(e.resource_id).c_str());
    } else {
      std::printf("%-28s %-14s %-44s %-13s %s\n", time.c_str(), std::string(ToString(e.source)).c_str(),
                  operation.c_str(), OutcomeText(e).c_str(), actor.c_str());
    }
  }

 private:
  bool json_;
  bool with_resource_;
};

int UsageError(const std::string& message) {
  std::fprintf(stderr, "cmkwatch timeline: %s (see --help)\n", message.c_str());
  return kExitUsage;
}

}  // namespace

int TimelineCommand(const std::vector<std::string_view>& args) {
  std::string db_path;
  std::optional<std::string> resource;
  int64_t since = INT64_MIN;
  int64_t until = INT64_MAX;
  size_t limit = kDefaultLimit;
  bool json = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kTimelineHelp, stdout);
      return kExitOk;
    }
    if (a == "--json") {
      json = true;
      continue;
    }
    std::string_view value;
    bool matched = false;
    for (std::string_view flag : {"--db", "--resource", "--since", "--until", "--limit"}) {
      const FlagValue f = TakeFlagValue(args, i, flag, &value);
      if (f == FlagValue::kNotThisFlag) continue;
      if (f == FlagValue::kMissing) return UsageError(std::string(flag) + " needs a value");
      matched = true;
      if (flag == "--db") {
        if (value.empty()) return UsageError("--db needs a file name");
        db_path = value;
      } else if (flag == "--resource") {
        resource = CanonicalResourceId(value);
        if (resource->empty()) return UsageError("--resource needs an ARM resource id");
      } else if (flag == "--since" || flag == "--until") {
        const bool is_until = flag == "--until";
        auto ns = ParseBound(value, is_until);
        if (!ns) {
          return UsageError(std::string(flag) + " '" + ForTerminal(value) +
                            "' is not an RFC 3339 time (2026-03-02T09:15:00Z) or a date (2026-03-02)");
        }
        (is_until ? until : since) = *ns;
      } else {
        const std::string text(value);
        char* end = nullptr;
        const unsigned long long n = std::strtoull(text.c_str(), &end, 10);
        if (text.empty() || text[0] == '-' || *end != '\0' || n < 1 || n > analyzer::kMaxQueryEvents) {
          return UsageError("--limit must be a number from 1 to " + std::to_string(analyzer::kMaxQueryEvents));
        }
        limit = static_cast<size_t>(n);
      }
      break;
    }
    if (matched) continue;
    if (!a.empty() && a[0] == '-') return UsageError("unknown option '" + ForTerminal(a) + "'");
    return UsageError("unexpected argument '" + ForTerminal(a) + "'");
  }
  if (db_path.empty()) return UsageError("--db FILE is required");
  if (since >= until) return UsageError("--since must be before --until");

  if (Status s = CheckTimelineFileExists(db_path); !s.ok()) {
    std::fprintf(stderr, "cmkwatch timeline: %s\n", s.message().c_str());
    return kExitIoError;
  }
  analyzer::TimelineOptions options;
  options.compress = false;  // nothing is written
  auto opened = analyzer::Timeline::Open(db_path, options);
  if (!opened.ok()) {
    std::fprintf(stderr, "cmkwatch timeline: cannot open %s: %s\n", db_path.c_str(), opened.status().message().c_str());
    return kExitIoError;
  }
  analyzer::Timeline& timeline = **opened;

  static char out_buffer[1 << 16];
  std::setvbuf(stdout, out_buffer, _IOFBF, sizeof out_buffer);
  Printer printer(json, !resource.has_value());
  printer.Header();

  // Paged by time. Each page restarts at the last printed event's time and
  // skips the events of that instant already printed (ties come back in
  // insertion order, and a tie inserted meanwhile sorts after them). One
  // event more than still wanted is asked for, to tell whether --limit cut
  // the output.
  size_t printed = 0;
  int64_t from = since;
  size_t printed_at_from = 0;  // events with time == from already printed
  bool cut = false;
  for (;;) {
    const size_t want = std::min(kPageEvents, limit - printed) + 1;
    if (printed_at_from >= analyzer::kMaxQueryEvents - want) {
      std::fflush(stdout);
      std::fprintf(stderr, "cmkwatch timeline: more than %zu events share the time %s; stopping there\n",
                   printed_at_from, FormatTimestamp(from).c_str());
      return kExitIoError;
    }
    const size_t ask = printed_at_from + want;
    auto page = resource ? timeline.EventsFor(*resource, from, until, ask) : timeline.EventsBetween(from, until, ask);
    if (!page.ok()) {
      std::fflush(stdout);
      std::fprintf(stderr, "cmkwatch timeline: reading %s: %s\n", db_path.c_str(), page.status().message().c_str());
      return kExitIoError;
    }
    const std::vector<Event>& events = *page;
    for (size_t k = printed_at_from; k < events.size(); ++k) {
      if (printed == limit) {
        cut = true;
        break;
      }
      const Event& e = events[k];
      printer.Print(e);
      ++printed;
      if (e.time == from) {
        ++printed_at_from;
      } else {
        from = e.time;
        printed_at_from = 1;
      }
    }
    if (cut || events.size() < ask) break;  // cut, or nothing more matches
  }
  std::fflush(stdout);
  if (cut) {
    std::fprintf(stderr,
                 "cmkwatch timeline: output cut at --limit %zu events; more match (raise --limit or narrow "
                 "--since/--until)\n",
                 limit);
  } else if (printed == 0) {
    std::fprintf(stderr, "cmkwatch timeline: no events match%s%s\n", resource ? " for resource " : "",
                 resource ? ForTerminal(*resource).c_str() : "");
  }
  if (std::ferror(stdout)) {
    std::fprintf(stderr, "cmkwatch timeline: cannot write standard output\n");
    return kExitIoError;
  }
  return kExitOk;
}

// A --since/--until value. A plain date names a whole day: as --until it
// means the end of that day, which is what "until March 2nd" means to people.
std::optional<int64_t> ParseBound(std::string_view text, bool is_until) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  auto ns = ParseTimestamp(text);
  if (!ns) return std::nullopt;
  const bool plain_date = text.size() == 10;  // "YYYY-MM-DD": ParseTimestamp took it as midnight
  if (plain_date && is_until) {
    constexpr int64_t kDay = 86'400 * kNanosPerSecond;
    if (*ns > INT64_MAX - kDay) return std::nullopt;
    *ns += kDay;
  }
  return ns;
}

}  // namespace cmkwatch::cli
