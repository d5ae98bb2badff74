// The token counter a knowledge base's chunk sizes are measured with: the tokenizer of the GGUF
// model named at `kb create --tokenizer` (KbInfo::tokenizer), else estimate_tokens.
// The tokenizer is built straight from the file's metadata (tokenizer/, a lower layer); no
// weights are loaded.
#pragma once

#include <string>

#include "kb/chunk.h"

namespace hearth::kb {

// Counter for a knowledge base's `tokenizer` (a GGUF file path): empty (= estimate_tokens) for "", else one
// that counts encode(text, no BOS/EOS, no special parsing) of that model's tokenizer. Throws
// hearth::Error naming the file when it cannot be opened or holds no usable tokenizer.
TokenCounter make_token_counter(const std::string& tokenizer);

// How sizes are counted, for people: "stories260K.gguf tokenizer" or "estimate" (for "").
std::string token_counter_name(const std::string& tokenizer);

}  // namespace hearth::kb
