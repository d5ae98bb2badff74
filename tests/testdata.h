// Where tests find ../shared/testdata. HEARTH_TESTDATA overrides the compiled-in default.
// A missing directory is a test failure with a message saying how to fix it, never a skip.
#pragma once

#include <string>

namespace hearth::test {

// Absolute path of the test data directory; throws std::runtime_error if it does not exist.
std::string testdata_dir();
// testdata_dir() + "/" + relative; throws if that file does not exist.
std::string testdata_file(const std::string& relative);
// The repository root (for models/stories260K.gguf).
std::string source_dir();
// The built hearth binary (for CLI tests).
std::string hearth_binary();
// A fresh empty directory under the system temp dir, removed at process exit.
std::string temp_dir();

// Runs a shell command line; `out` is what it wrote to stdout (add " 2>&1" for stderr too) and
// `code` its exit status (-1 if it did not exit normally).
struct CommandResult {
  int code = -1;
  std::string out;
};
CommandResult run_command(const std::string& command_line);
// s single-quoted for the shell.
std::string shell_quote(const std::string& s);

}  // namespace hearth::test
