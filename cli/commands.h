// The operator CLI's subcommands. Each takes its own arguments (after the
// subcommand name) and returns the process exit code.
#pragma once

#include <string_view>
#include <vector>

namespace cmkwatch::cli {

// Exit codes shared by all subcommands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitIoError = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitQuarantined = 3;

int Inspect(const std::vector<std::string_view>& args);
int Keygen(const std::vector<std::string_view>& args);

}  // namespace cmkwatch::cli
