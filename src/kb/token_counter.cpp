#include "kb/token_counter.h"

#include <filesystem>
#include <memory>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace hearth::kb {

TokenCounter make_token_counter(const std::string& tokenizer) {
  if (tokenizer.empty()) return {};
  std::shared_ptr<const hearth::tokenizer::Tokenizer> tok;
  try {
    tok = hearth::tokenizer::Tokenizer::from_gguf(gguf::File::open(tokenizer));
  } catch (const Error& e) {
    std::string why = e.what();
    if (why.find(tokenizer) == std::string::npos) why = tokenizer + ": " + why;
    throw Error(e.kind(), "cannot load the tokenizer chunk sizes are counted with: " + why);
  }
  return [tok](std::string_view text) {
    return static_cast<int>(tok->encode(text, /*add_special=*/false, /*parse_special=*/false).size());
  };
}

std::string token_counter_name(const std::string& tokenizer) {
  if (tokenizer.empty()) return "estimate";
  return std::filesystem::path(tokenizer).filename().string() + " tokenizer";
}

}  // namespace hearth::kb
