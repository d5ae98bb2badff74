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

}  // namespace hearth::test
