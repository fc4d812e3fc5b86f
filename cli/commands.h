// The operator CLI's subcommands. Each takes its own arguments (after the
// subcommand name) and returns the process exit code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cmkwatch/common/status.h"

namespace cmkwatch::cli {

// Exit codes shared by all subcommands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitIoError = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitQuarantined = 3;
inline constexpr int kExitVerifyFailed = 4;  // `verify`: a chain is broken

int Alerts(const std::vector<std::string_view>& args);
int Backup(const std::vector<std::string_view>& args);
int Config(const std::vector<std::string_view>& args);
int Inspect(const std::vector<std::string_view>& args);
int Inventory(const std::vector<std::string_view>& args);
int Keygen(const std::vector<std::string_view>& args);
int Migrate(const std::vector<std::string_view>& args);
int Replay(const std::vector<std::string_view>& args);
int Rules(const std::vector<std::string_view>& args);
int TestSink(const std::vector<std::string_view>& args);
int TimelineCommand(const std::vector<std::string_view>& args);
int Verify(const std::vector<std::string_view>& args);

// ---- Helpers for the commands that read a timeline (timeline.cpp) ----------

// A flag that takes a value, given as "--name VALUE" or "--name=VALUE".
enum class FlagValue { kNotThisFlag, kFound, kMissing };
// Looks at args[i]: when it is `name`, sets *value and moves i onto the
// value's own argument (if separate), so the caller's ++i skips it.
FlagValue TakeFlagValue(const std::vector<std::string_view>& args, size_t& i, std::string_view name,
                        std::string_view* value);

// A --since/--until value: RFC 3339, or a plain UTC date, which names a
// whole day (as --until, the end of it). nullopt when it is neither.
std::optional<int64_t> ParseBound(std::string_view text, bool is_until);

// Ok when `path` is an existing, non-empty regular file. Read commands call
// this BEFORE Timeline::Open, which would otherwise create an empty timeline
// where the operator mistyped a path (and report "intact, 0 events").
Status CheckTimelineFileExists(const std::string& path);

// Replaces control characters with '?': text from the database goes to a
// terminal, and whoever could write the file must not drive that terminal
// with escape sequences.
std::string ForTerminal(std::string_view text);

}  // namespace cmkwatch::cli
