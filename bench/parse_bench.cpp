// cmkwatch-bench-parse: single-thread parse throughput of the collector.
//
// For each file on the command line: load it into memory once (not timed),
// then measure on the calling thread
//   pipeline    collector::ReadBuffer over the whole buffer: framing,
//               detection, parsing and normalization, exactly what
//               `cmkwatch-collector` and replay do per record;
//   parse only  the records pre-split at '\n', each handed to
//               collector::ParseRecord(PaddedRecord) in place (the buffer
//               keeps kPadding readable bytes after every record);
//   nlohmann    nlohmann::json::parse of the same records, reading the same
//               handful of fields (and the JSON-in-string request/response
//               bodies), for comparison only; a short, single run.
// Throughput is in MB/s with 1 MB = 1e6 bytes of the input file, and in
// records/s. Every mode is timed over whole passes, repeated until the
// total passes `--min-seconds`; the table shows the best and the median run
// (wall clock) and the best run by this thread's CPU time, which is the
// figure to trust on a machine shared with other work.
//
// Benchmarks are not tests: the program reports, it does not assert, except
// that it warns when generated data does not parse cleanly.
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "cmkwatch/collector/parse.h"
#include "cmkwatch/collector/reader.h"
#include "cmkwatch/common/event.h"
#include "cmkwatch/common/event_json.h"

namespace {

namespace collector = cmkwatch::collector;

struct Options {
  std::vector<std::string> files;
  double min_seconds = 3.0;       // per mode, over all timed runs
  int runs = 5;                   // timed runs per mode (best / median taken over these)
  double nlohmann_seconds = 1.0;  // the comparison's single run stops after this
  int cpu = -1;                   // pin to this CPU when >= 0
  int show = 0;                   // print the first N normalized events of each file, untimed
  std::string modes = "pipeline,parse,nlohmann";  // which modes to run (--modes), e.g. for profiling one
};

constexpr const char* kUsage =
    "usage: cmkwatch-bench-parse [--min-seconds S] [--runs N] [--nlohmann-seconds S] [--cpu N] [--show N]\n"
    "                            [--modes LIST] FILE...\n"
    "\n"
    "Measures single-thread parse throughput of each JSON Lines FILE\n"
    "(made by cmkwatch-bench-gen): the ReadBuffer pipeline, ParseRecord alone,\n"
    "and nlohmann::json for comparison. 1 MB = 1e6 bytes.\n"
    "\n"
    "  --min-seconds S       timed seconds per mode and file, over all runs (3)\n"
    "  --runs N              timed runs per mode; best and median are over these (5)\n"
    "  --nlohmann-seconds S  length of the single nlohmann::json run (1)\n"
    "  --cpu N               pin the thread to CPU N\n"
    "  --show N              first print the first N events of each file as the parsers normalize them\n"
    "  --modes LIST          comma-separated subset of pipeline,parse,nlohmann (all)\n";

// ---------------------------------------------------------------------------
// Timing

struct Clock {
  std::chrono::steady_clock::time_point wall;
  double cpu = 0;  // this thread's CPU seconds
  static Clock Now() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return {std::chrono::steady_clock::now(), static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9};
  }
};

struct Span {
  double wall = 0;
  double cpu = 0;
};

Span Since(const Clock& start) {
  const Clock now = Clock::Now();
  return {std::chrono::duration<double>(now.wall - start.wall).count(), now.cpu - start.cpu};
}

// Work done by one pass, to check that every pass saw the same input and
// to keep the compiler from discarding results.
struct PassResult {
  uint64_t records = 0;
  uint64_t failed = 0;
  uint64_t checksum = 0;
  std::string first_failure;  // location and reason of the first failure
};

struct ModeResult {
  std::string mode;
  std::string runs;             // "5x2": runs x passes per run; "1x0.25": a quarter of one pass
  double bytes_per_run = 0;     // input bytes covered by one timed run
  double records_per_run = 0;   // records parsed by one timed run
  uint64_t records_per_pass = 0;  // events out of one pass (0 for the comparison)
  std::vector<Span> spans;      // one per timed run
  uint64_t failed = 0;          // per pass
  std::string first_failure;
};

uint64_t g_sink = 0;  // printed at the end so no result is optimized away

// Runs `pass` once untimed (warm-up: parser buffers, caches, page faults),
// then `runs` timed runs of enough whole passes to reach min_seconds in total.
ModeResult Measure(std::string mode, const std::function<PassResult()>& pass, double bytes, const Options& opt) {
  ModeResult r;
  r.mode = std::move(mode);

  const Clock warm_start = Clock::Now();
  PassResult warm = pass();
  const Span warm_span = Since(warm_start);
  g_sink += warm.checksum;
  r.records_per_pass = warm.records;
  r.failed = warm.failed;
  r.first_failure = std::move(warm.first_failure);

  const double per_run = opt.min_seconds / opt.runs;
  const double one = std::max(warm_span.wall, 1e-6);
  const int passes = std::max(1, static_cast<int>(std::ceil(per_run / one)));
  r.runs = std::to_string(opt.runs) + "x" + std::to_string(passes);
  // Records that did not parse were read too: count them in records/s.
  r.records_per_run = static_cast<double>(passes) * static_cast<double>(warm.records + warm.failed);
  r.bytes_per_run = static_cast<double>(passes) * bytes;
  for (int run = 0; run < opt.runs; ++run) {
    const Clock start = Clock::Now();
    for (int p = 0; p < passes; ++p) g_sink += pass().checksum;
    r.spans.push_back(Since(start));
  }
  return r;
}

// ---------------------------------------------------------------------------
// The three modes

class CountingHandler final : public collector::RecordHandler {
 public:
  void OnEvent(cmkwatch::Event&& event, const collector::RecordLocation&) override {
    ++result.records;
    result.checksum += static_cast<uint64_t>(event.time) + event.operation.size() + event.actor.object_id.size() +
                       static_cast<uint64_t>(event.http_status);
  }
  void OnQuarantine(collector::Quarantined&& entry) override {
    ++result.failed;
    if (result.first_failure.empty()) {
      result.first_failure = "line " + std::to_string(entry.line) + " (" + entry.format_guess + "): " + entry.reason;
    }
  }
  PassResult result;
};

PassResult PipelinePass(std::string_view bytes, std::string_view name) {
  CountingHandler handler;
  collector::ReadOptions options;
  collector::ReadStats stats;
  const cmkwatch::Status st = collector::ReadBuffer(bytes, name, options, handler, stats);
  if (!st.ok()) throw std::runtime_error("ReadBuffer failed: " + st.ToString());
  handler.result.checksum += stats.bytes;
  return std::move(handler.result);
}

PassResult ParseOnlyPass(const std::vector<std::string_view>& records) {
  PassResult r;
  for (size_t i = 0; i < records.size(); ++i) {
    auto event = collector::ParseRecord(collector::PaddedRecord{records[i]});
    if (event.ok()) {
      ++r.records;
      r.checksum += static_cast<uint64_t>(event->time) + event->operation.size() + event->actor.object_id.size() +
                    static_cast<uint64_t>(event->http_status);
    } else {
      ++r.failed;
      if (r.first_failure.empty()) r.first_failure = "record " + std::to_string(i + 1) + ": " + event.status().ToString();
    }
  }
  return r;
}

// The fields the real parsers read, fetched the idiomatic nlohmann way.
uint64_t ReadFieldsNlohmann(const nlohmann::json& j, int level);

uint64_t StringSize(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get_ref<const std::string&>().size() : 0;
}

uint64_t EmbeddedBody(const nlohmann::json& props, const char* key, int level) {
  const auto it = props.find(key);
  if (it == props.end() || !it->is_string() || level > 0) return 0;
  const auto body = nlohmann::json::parse(it->get_ref<const std::string&>(), nullptr, /*allow_exceptions=*/false);
  return body.is_discarded() ? 0 : ReadFieldsNlohmann(body, level + 1);
}

uint64_t ReadFieldsNlohmann(const nlohmann::json& j, int level) {
  if (!j.is_object()) return 0;
  uint64_t sum = 0;
  for (const char* key : {"time", "operationName", "resourceId", "category", "resultType", "resultSignature",
                          "correlationId", "callerIpAddress", "id", "type", "kind", "location"}) {
    sum += StringSize(j, key);
  }
  if (const auto identity = j.find("identity"); identity != j.end() && identity->is_object()) {
    for (const char* claims_key : {"claim", "claims"}) {
      if (const auto claims = identity->find(claims_key); claims != identity->end() && claims->is_object()) {
        for (const char* key : {"http://schemas.microsoft.com/identity/claims/objectidentifier", "oid", "appid",
                                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", "upn"}) {
          sum += StringSize(*claims, key);
        }
      }
    }
  }
  const auto props = j.find("properties");
  if (props == j.end()) {
    if (const auto upper = j.find("Properties"); upper != j.end() && upper->is_object()) {
      sum += StringSize(*upper, "PrincipalId") + StringSize(*upper, "RoleDefinitionId") + StringSize(*upper, "Scope");
    }
    return sum;
  }
  if (!props->is_object()) return sum;
  sum += StringSize(*props, "id") + StringSize(*props, "requestUri");
  if (const auto code = props->find("httpStatusCode"); code != props->end() && code->is_number_integer()) {
    sum += code->get<uint64_t>();
  }
  if (const auto enc = props->find("encryption"); enc != props->end() && enc->is_object()) {
    sum += StringSize(*enc, "keySource");
    if (const auto kv = enc->find("keyVaultProperties"); kv != enc->end() && kv->is_object()) {
      sum += StringSize(*kv, "keyName") + StringSize(*kv, "keyVersion") + StringSize(*kv, "keyVaultUri");
    }
  }
  if (const auto acls = props->find("networkAcls"); acls != props->end() && acls->is_object()) {
    sum += StringSize(*acls, "defaultAction") + StringSize(*acls, "bypass");
  }
  if (const auto policies = props->find("accessPolicies"); policies != props->end() && policies->is_array()) {
    sum += policies->size();
  }
  sum += EmbeddedBody(*props, "requestbody", level) + EmbeddedBody(*props, "responseBody", level);
  return sum;
}

// Time-limited: stops after opt.nlohmann_seconds even mid-file; the result
// is scaled from the records it reached.
ModeResult MeasureNlohmann(const std::vector<std::string_view>& records, double file_bytes, const Options& opt) {
  ModeResult r;
  r.mode = "nlohmann::json (short)";
  uint64_t done = 0;
  double done_bytes = 0;
  const Clock start = Clock::Now();
  for (const std::string_view record : records) {
    const auto j = nlohmann::json::parse(record, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      ++r.failed;
      if (r.first_failure.empty()) r.first_failure = "record " + std::to_string(done + 1) + ": not JSON";
    } else {
      g_sink += ReadFieldsNlohmann(j, 0);
    }
    ++done;
    done_bytes += static_cast<double>(record.size() + 1);
    if ((done & 63) == 0 && Since(start).wall >= opt.nlohmann_seconds) break;
  }
  r.spans.push_back(Since(start));
  r.bytes_per_run = done_bytes;
  r.records_per_run = static_cast<double>(done);
  char label[32];
  std::snprintf(label, sizeof label, "1x%.2f", done_bytes / file_bytes);
  r.runs = label;
  return r;
}

// ---------------------------------------------------------------------------
// Loading and reporting

// The file's bytes followed by kPadding spaces, so that every record (the
// last one included) has kPadding readable bytes after it.
std::string LoadPadded(const std::string& path, size_t& size) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  in.seekg(0, std::ios::end);
  const std::streamoff end = in.tellg();
  if (end < 0) throw std::runtime_error("cannot size " + path);
  size = static_cast<size_t>(end);
  in.seekg(0, std::ios::beg);
  std::string buffer(size + collector::kPadding, ' ');
  if (!in.read(buffer.data(), static_cast<std::streamsize>(size))) throw std::runtime_error("cannot read " + path);
  return buffer;
}

std::vector<std::string_view> SplitLines(std::string_view bytes) {
  std::vector<std::string_view> records;
  size_t pos = 0;
  while (pos < bytes.size()) {
    size_t end = bytes.find('\n', pos);
    if (end == std::string_view::npos) end = bytes.size();
    std::string_view line = bytes.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") != std::string_view::npos) records.push_back(line);
    pos = end + 1;
  }
  return records;
}

std::string BaseName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct Row {
  std::string file, mode, goal;
  std::string runs;
  double mbs_best = 0, mbs_median = 0, mbs_cpu = 0, rps_best = 0, rps_median = 0;
  uint64_t quarantined = 0;
};

Row MakeRow(const std::string& file, const ModeResult& m, double goal_mbs) {
  Row row;
  row.file = file;
  row.mode = m.mode;
  row.quarantined = m.failed;
  std::vector<double> mbs, rps;
  for (const Span& s : m.spans) {
    mbs.push_back(m.bytes_per_run / std::max(s.wall, 1e-9) / 1e6);
    rps.push_back(m.records_per_run / std::max(s.wall, 1e-9));
    row.mbs_cpu = std::max(row.mbs_cpu, m.bytes_per_run / std::max(s.cpu, 1e-9) / 1e6);
  }
  row.mbs_best = *std::max_element(mbs.begin(), mbs.end());
  row.mbs_median = Median(mbs);
  row.rps_best = *std::max_element(rps.begin(), rps.end());
  row.rps_median = Median(rps);
  row.runs = m.runs;
  char buf[32];
  if (goal_mbs > 0) {
    std::snprintf(buf, sizeof buf, "%s %.0f", row.mbs_cpu >= goal_mbs ? "met" : "below", goal_mbs);
    row.goal = buf;
  } else {
    row.goal = "-";
  }
  return row;
}

void PrintTable(const std::vector<Row>& rows) {
  std::printf("\n%-20s %-24s %-8s %9s %9s %9s %12s %12s %11s %s\n", "file", "mode", "runs", "MB/s", "MB/s", "MB/s",
              "records/s", "records/s", "quarantined", "goal MB/s");
  std::printf("%-20s %-24s %-8s %9s %9s %9s %12s %12s %11s %s\n", "", "", "", "best", "median", "cpu", "best",
              "median", "", "(by cpu)");
  for (const Row& r : rows) {
    std::printf("%-20s %-24s %-8s %9.1f %9.1f %9.1f %12.0f %12.0f %11llu %s\n", r.file.c_str(), r.mode.c_str(),
                r.runs.c_str(), r.mbs_best, r.mbs_median, r.mbs_cpu, r.rps_best, r.rps_median,
                static_cast<unsigned long long>(r.quarantined), r.goal.c_str());
  }
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      return colon == std::string::npos ? line : line.substr(colon + 2);
    }
  }
  return "unknown";
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

bool ParseNumber(std::string_view text, double& value) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size();
}

bool ParseArgs(int argc, char** argv, Options& opt) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (arg == "--modes" && i + 1 < argc) {
      opt.modes = argv[++i];
      continue;
    }
    if (arg.size() > 2 && arg.substr(0, 2) == "--") {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "cmkwatch-bench-parse: %s needs a value\n%s", argv[i], kUsage);
        return false;
      }
      double value = 0;
      if (!ParseNumber(argv[i + 1], value) || value < 0) {
        std::fprintf(stderr, "cmkwatch-bench-parse: %s: not a number: %s\n", argv[i], argv[i + 1]);
        return false;
      }
      ++i;
      if (arg == "--min-seconds") {
        opt.min_seconds = value;
      } else if (arg == "--runs") {
        opt.runs = std::max(1, static_cast<int>(value));
      } else if (arg == "--nlohmann-seconds") {
        opt.nlohmann_seconds = value;
      } else if (arg == "--cpu") {
        opt.cpu = static_cast<int>(value);
      } else if (arg == "--show") {
        opt.show = static_cast<int>(value);
      } else {
        std::fprintf(stderr, "cmkwatch-bench-parse: unknown option %s\n%s", argv[i - 1], kUsage);
        return false;
      }
    } else {
      opt.files.emplace_back(arg);
    }
  }
  if (opt.files.empty()) {
    std::fputs(kUsage, stderr);
    return false;
  }
  return true;
}

int Run(const Options& opt) {
  if (opt.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(opt.cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) std::perror("cmkwatch-bench-parse: sched_setaffinity");
  }
  std::printf("cmkwatch parse benchmark: one thread%s; 1 MB = 1e6 bytes\n",
              opt.cpu >= 0 ? (" pinned to cpu " + std::to_string(opt.cpu)).c_str() : "");
  std::printf("cpu: %s; %ld online; load average at start: %s\n", CpuModel().c_str(), sysconf(_SC_NPROCESSORS_ONLN),
              LoadAverage().c_str());

  std::vector<Row> rows;
  bool warned = false;
  for (const std::string& path : opt.files) {
    size_t size = 0;
    const std::string buffer = LoadPadded(path, size);
    const std::string_view bytes(buffer.data(), size);
    const std::vector<std::string_view> records = SplitLines(bytes);
    const std::string name = BaseName(path);

    // The goal depends on what the file holds: detect it from the first record.
    double goal = 0;
    std::string format = "unknown";
    if (!records.empty()) {
      const auto detected = collector::DetectFormat(records.front());
      if (detected.ok()) {
        format = std::string(collector::FormatName(*detected));
        if (*detected == collector::Format::kKeyVaultAudit) goal = 1000;
        if (*detected == collector::Format::kActivityLog) goal = 500;
      } else {
        format = "unknown (" + detected.status().ToString() + ")";
      }
    }
    std::printf("%s: %zu records, %zu bytes (%.1f MB, %.0f bytes/record), format %s\n", name.c_str(), records.size(),
                size, static_cast<double>(size) / 1e6,
                records.empty() ? 0.0 : static_cast<double>(size) / static_cast<double>(records.size()),
                format.c_str());
    for (size_t i = 0; i < records.size() && i < static_cast<size_t>(opt.show); ++i) {
      const auto event = collector::ParseRecord(collector::PaddedRecord{records[i]});
      std::printf("  %s\n", event.ok() ? cmkwatch::EventToJson(*event).c_str() : event.status().ToString().c_str());
    }
    std::fflush(stdout);

    const double file_bytes = static_cast<double>(size);
    std::vector<ModeResult> modes;
    const auto wanted = [&](std::string_view mode) {
      return ("," + opt.modes + ",").find("," + std::string(mode) + ",") != std::string::npos;
    };
    if (wanted("pipeline")) {
      modes.push_back(Measure("pipeline (ReadBuffer)", [&] { return PipelinePass(bytes, path); }, file_bytes, opt));
    }
    if (wanted("parse")) {
      modes.push_back(Measure("parse only (ParseRecord)", [&] { return ParseOnlyPass(records); }, file_bytes, opt));
    }
    if (wanted("nlohmann")) modes.push_back(MeasureNlohmann(records, file_bytes, opt));
    for (const ModeResult& m : modes) {
      rows.push_back(MakeRow(name, m, m.mode.rfind("nlohmann", 0) == 0 ? 0 : goal));
      if (m.failed > 0) {
        warned = true;
        std::fprintf(stderr, "WARNING: %s, %s: %llu records quarantined/failed per pass; first: %s\n",
                     name.c_str(), m.mode.c_str(), static_cast<unsigned long long>(m.failed),
                     m.first_failure.c_str());
      }
      const bool compared = m.mode.rfind("nlohmann", 0) == 0;
      if (!compared && m.failed == 0 && m.records_per_pass != records.size()) {
        warned = true;
        std::fprintf(stderr, "WARNING: %s, %s: %llu events from %zu lines\n", name.c_str(), m.mode.c_str(),
                     static_cast<unsigned long long>(m.records_per_pass), records.size());
      }
    }
  }
  PrintTable(rows);
  std::printf("\nload average at end: %s; checksum %llu\n", LoadAverage().c_str(),
              static_cast<unsigned long long>(g_sink));
  if (warned) std::printf("WARNING: some records did not parse (see stderr); figures for them are not comparable\n");
  return warned ? 3 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Options opt;
    if (!ParseArgs(argc, argv, opt)) return 2;
    return Run(opt);
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "cmkwatch-bench-parse: %s\n", ex.what());
    return 1;
  }
}
