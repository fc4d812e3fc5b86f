// cmkwatch inspect: the first look at what cmkwatch makes of Azure logs.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cmkwatch/collector/reader.h"
#include "cmkwatch/common/event_json.h"
#include "commands.h"

namespace cmkwatch::cli {
namespace {

constexpr char kInspectHelp[] = R"(usage: cmkwatch inspect [OPTIONS] PATH...

Reads Azure log records and prints one normalized event per line (JSON Lines)
on standard output.

PATH is a file, a directory or '-' for standard input. In a directory, files
named *.json, *.jsonl or *.ndjson (optionally .gz) are read, recursively and
in name order; hidden entries are skipped. Files may be gzip-compressed
(detected by content).
Accepted layouts: a JSON array, {"records":[...]} (Storage / Event Hubs),
{"value":[...]} (ARM lists), {"data":[...]} (Resource Graph), JSON Lines
(Storage PT1H.json), concatenated JSON documents; a UTF-8 BOM and CRLF line
ends are fine.

Options:
  --format FORMAT        which parser to use for every record (default: auto,
                         chosen per record from its fields):
                           activity          Activity Log (export and REST schema,
                                             Log Analytics AzureActivity rows)
                           kvaudit           Key Vault AuditEvent (export) and
                                             AZKVAuditLogs rows
                           azurediagnostics  Log Analytics AzureDiagnostics rows
                           eventgrid         Event Grid schema and CloudEvents
                           arm               ARM resource JSON (inventory)
  --raw                  add each record's original text as "raw"
  --max-record-bytes N   refuse records larger than N bytes (default 4194304)
  -h, --help             show this help

Each event has: id, source, time (RFC 3339 UTC), resource_id, resource_kind,
operation, status (succeeded|failed|started|accepted|unknown), http_status,
caller {object_id, app_id, upn, ip}, key {vault, name, version} and changes;
absent values are left out.

A record that cannot be read is quarantined: it is reported on standard
error as one JSON object {"quarantined":{"path","offset","line","format",
"reason"}} and reading goes on with the next record. A one-line summary ends
standard error.

Exit status: 0 every record parsed; 3 some records were quarantined;
2 usage error; 1 a path could not be read.
)";

class PrintingHandler final : public collector::RecordHandler {
 public:
  explicit PrintingHandler(bool include_raw) { options_.include_raw = include_raw; }

  void OnEvent(Event&& event, const collector::RecordLocation&) override {
    std::string line = EventToJson(event, options_);
    line.push_back('\n');
    std::fwrite(line.data(), 1, line.size(), stdout);
  }

  void OnQuarantine(collector::Quarantined&& q) override {
    nlohmann::ordered_json j;
    j["quarantined"] = {{"path", q.path},
                        {"offset", q.offset},
                        {"line", q.line},
                        {"format", q.format_guess},
                        {"reason", q.reason}};
    const std::string text = j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    std::fprintf(stderr, "%s\n", text.c_str());
  }

 private:
  EventJsonOptions options_;
};

}  // namespace

int Inspect(const std::vector<std::string_view>& args) {
  collector::ReadOptions options;
  bool include_raw = false;
  std::vector<std::string_view> paths;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kInspectHelp, stdout);
      return kExitOk;
    }
    if (a == "--format" || a.rfind("--format=", 0) == 0) {
      std::string_view value;
      if (a == "--format") {
        if (i + 1 >= args.size()) {
          std::fprintf(stderr, "cmkwatch inspect: --format needs a value\n");
          return kExitUsage;
        }
        value = args[++i];
      } else {
        value = a.substr(9);
      }
      auto f = collector::FormatFromName(value);
      if (!f) {
        std::fprintf(stderr,
                     "cmkwatch inspect: unknown format '%.*s' (auto, activity, kvaudit, azurediagnostics, "
                     "eventgrid, arm)\n",
                     static_cast<int>(value.size()), value.data());
        return kExitUsage;
      }
      options.format = *f;
    } else if (a == "--raw") {
      include_raw = true;
    } else if (a == "--max-record-bytes") {
      if (i + 1 >= args.size()) {
        std::fprintf(stderr, "cmkwatch inspect: --max-record-bytes needs a value\n");
        return kExitUsage;
      }
      const std::string value(args[++i]);
      char* end = nullptr;
      const unsigned long long n = std::strtoull(value.c_str(), &end, 10);
      if (end == value.c_str() || *end != '\0' || n < 2 || n > (size_t{1} << 30)) {
        std::fprintf(stderr, "cmkwatch inspect: --max-record-bytes must be a number from 2 to 1073741824\n");
        return kExitUsage;
      }
      options.limits.max_record_bytes = static_cast<size_t>(n);
    } else if (a.size() > 1 && a[0] == '-' ) {
      std::fprintf(stderr, "cmkwatch inspect: unknown option '%.*s' (see --help)\n", static_cast<int>(a.size()),
                   a.data());
      return kExitUsage;
    } else {
      paths.push_back(a);
    }
  }
  if (paths.empty()) {
    std::fprintf(stderr, "cmkwatch inspect: no PATH given (use '-' for standard input; see --help)\n");
    return kExitUsage;
  }

  // Large stdout buffer: one write per many events.
  static char out_buffer[1 << 16];
  std::setvbuf(stdout, out_buffer, _IOFBF, sizeof out_buffer);

  PrintingHandler handler(include_raw);
  collector::ReadStats stats;
  bool io_error = false;
  for (auto path : paths) {
    Status st = collector::ReadPath(path, options, handler, stats);
    if (!st.ok()) {
      std::fflush(stdout);
      std::fprintf(stderr, "cmkwatch inspect: %s\n", st.message().c_str());
      io_error = true;
    }
  }
  std::fflush(stdout);
  std::fprintf(stderr, "cmkwatch inspect: %llu events, %llu quarantined, %llu files, %llu bytes\n",
               static_cast<unsigned long long>(stats.events), static_cast<unsigned long long>(stats.quarantined),
               static_cast<unsigned long long>(stats.files), static_cast<unsigned long long>(stats.bytes));
  if (io_error) return kExitIoError;
  return stats.quarantined > 0 ? kExitQuarantined : kExitOk;
}

}  // namespace cmkwatch::cli
