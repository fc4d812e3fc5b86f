#include "test_support.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "cmkwatch/collector/parse.h"
#include "cmkwatch/collector/reader.h"

extern char** environ;

namespace cmkwatch::test {

std::filesystem::path CorpusDir() {
  if (const char* env = std::getenv("CMKWATCH_CORPUS_DIR"); env != nullptr && *env != '\0') return env;
  return CMKWATCH_CORPUS_DIR;
}

bool CorpusAvailable() {
  std::error_code ec;
  return std::filesystem::is_directory(CorpusDir(), ec);
}

bool RunningUnderCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && *ci != '\0' && std::string_view(ci) != "false";
}
std::filesystem::path FixturesDir() { return CMKWATCH_FIXTURES_DIR; }
std::filesystem::path CorpusFile(std::string_view relative) { return CorpusDir() / relative; }
std::filesystem::path FixtureFile(std::string_view relative) { return FixturesDir() / relative; }

std::string ReadFileOrFail(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "cannot read " << path;
    return {};
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string JsonAtText(std::string_view json_text, std::string_view pointer) {
  auto j = nlohmann::json::parse(json_text, nullptr, false);
  if (j.is_discarded()) {
    ADD_FAILURE() << "not JSON";
    return {};
  }
  nlohmann::json::json_pointer ptr{std::string(pointer)};
  if (!j.contains(ptr)) {
    ADD_FAILURE() << "no value at " << pointer;
    return {};
  }
  return j.at(ptr).dump();
}

std::string JsonAt(const std::filesystem::path& path, std::string_view pointer) {
  return JsonAtText(ReadFileOrFail(path), pointer);
}

std::vector<std::string> SplitRecords(std::string_view json_text) {
  std::vector<std::string> out;
  auto j = nlohmann::json::parse(json_text, nullptr, false);
  if (j.is_discarded()) {
    ADD_FAILURE() << "not JSON";
    return out;
  }
  const nlohmann::json* list = nullptr;
  if (j.is_array()) {
    list = &j;
  } else if (j.is_object()) {
    for (const char* key : {"records", "value", "data"}) {
      if (j.contains(key) && j[key].is_array()) {
        list = &j[key];
        break;
      }
    }
  }
  if (list == nullptr) {
    out.push_back(j.dump());
    return out;
  }
  for (const auto& item : *list) out.push_back(item.dump());
  return out;
}

Event ParseOrFail(std::string_view record, std::string_view format) {
  auto f = collector::FormatFromName(format);
  if (!f) {
    ADD_FAILURE() << "unknown format " << format;
    return {};
  }
  auto result = collector::ParseRecord(record, *f);
  if (!result.ok()) {
    ADD_FAILURE() << "parse failed: " << result.status().ToString() << "\nrecord: " << record.substr(0, 400);
    return {};
  }
  return std::move(result).value();
}

void ExpectSameNormalized(const Event& a, const Event& b, const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(a.source, b.source);
  EXPECT_EQ(a.time, b.time);
  EXPECT_EQ(a.resource_id, b.resource_id);
  EXPECT_EQ(a.resource_kind, b.resource_kind);
  EXPECT_EQ(a.operation, b.operation);
  EXPECT_EQ(a.outcome, b.outcome);
  EXPECT_EQ(a.http_status, b.http_status);
  EXPECT_EQ(a.correlation_id, b.correlation_id);
  EXPECT_EQ(a.actor.object_id, b.actor.object_id);
  EXPECT_EQ(a.actor.app_id, b.actor.app_id);
  EXPECT_EQ(a.actor.upn, b.actor.upn);
  EXPECT_EQ(a.actor.ip, b.actor.ip);
  EXPECT_EQ(a.actor, b.actor);
  EXPECT_EQ(a.key, b.key);
  EXPECT_EQ(a.changes.vault.has_value(), b.changes.vault.has_value());
  EXPECT_EQ(a.changes.key.has_value(), b.changes.key.has_value());
  EXPECT_EQ(a.changes, b.changes);
}

const std::vector<Event>& SampleAndFixtureEvents() {
  struct Collect final : collector::RecordHandler {
    std::vector<Event> events;
    void OnEvent(Event&& e, const collector::RecordLocation&) override { events.push_back(std::move(e)); }
    void OnQuarantine(QuarantineEntry&&) override {}
  };
  static const std::vector<Event> events = [] {
    Collect c;
    collector::ReadStats stats;
    EXPECT_TRUE(collector::ReadPath(std::string(CMKWATCH_SOURCE_DIR) + "/samples", {}, c, stats).ok());
    EXPECT_TRUE(collector::ReadPath(FixturesDir().string(), {}, c, stats).ok());
    std::vector<Event> unique;
    std::set<std::string> seen;
    for (auto& e : c.events) {
      if (seen.insert(e.id).second) unique.push_back(std::move(e));
    }
    return unique;
  }();
  return events;
}

std::string BusiestResource(const std::vector<Event>& events) {
  std::map<std::string, size_t> count;
  for (const auto& e : events) ++count[e.resource_id];
  if (count.empty()) return {};
  return std::max_element(count.begin(), count.end(), [](auto& a, auto& b) { return a.second < b.second; })->first;
}

TestDir::TestDir(std::string_view tag) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info != nullptr ? std::string(info->test_suite_name()) + "-" + info->name() : "none";
  for (char& c : name) {
    if (c == '/') c = '_';  // parameterized names
  }
  path_ = std::filesystem::temp_directory_path() /
          ("cmkwatch-" + std::string(tag) + "-" + std::to_string(::getpid()) + "-" + name);
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

TestDir::~TestDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

transport::KeyPair WriteKeyPairOrFail(const std::filesystem::path& prefix) {
  auto keys = transport::GenerateKeyPair();
  EXPECT_TRUE(keys.ok()) << keys.status().ToString();
  if (!keys.ok()) return {};
  std::filesystem::create_directories(prefix.parent_path());
  const Status written = transport::WriteKeyPair(prefix.string(), *keys);
  EXPECT_TRUE(written.ok()) << written.ToString();
  return *keys;
}

CommandResult RunCommand(const std::vector<std::string>& argv) {
  CommandResult r;
  if (argv.empty()) return r;
  const TestDir dir("run");
  const std::string out = (dir / "stdout").string(), err = (dir / "stderr").string();
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int in = ::open("/dev/null", O_RDONLY);
    const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in < 0 || o < 0 || e < 0) ::_exit(127);
    ::dup2(in, 0);
    ::dup2(o, 1);
    ::dup2(e, 2);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid) {
    ADD_FAILURE() << "could not run " << argv[0];
    return r;
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = ReadFileOrFail(out);
  r.err = ReadFileOrFail(err);
  return r;
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::filesystem::path& log) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = argv.empty() ? EINVAL : posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    ADD_FAILURE() << "cannot start " << (argv.empty() ? "(nothing)" : argv[0]) << ": " << std::strerror(rc);
    return;
  }
  pid_ = pid;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    Wait();
  }
}

void ChildProcess::Signal(int sig) const {
  if (pid_ > 0) ::kill(pid_, sig);
}

int ChildProcess::Wait(int timeout_ms) {
  if (pid_ <= 0) return exit_code_;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return exit_code_;
    }
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace cmkwatch::test
