// Text in, text out: a loaded model as the layers above the engine (kb/, jobs/) use it, so they
// never touch model/ directly. It counts tokens with the model's tokenizer, renders a chat with
// the model's chat template (or the plain fallback format, chat/format.h) and runs one
// generation through the model's scheduler, streaming the text as it comes.
//
//   auto tm = engine::TextModel::open(registry, "stories260K");
//   std::string prompt = tm->render_chat({{"system", "…"}, {"user", "…"}});
//   int64_t n = tm->count_prompt_tokens(prompt);
//   auto r = tm->generate(prompt, {.max_tokens = 256}, [](const std::string& piece) { … return true; });
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/registry.h"
#include "sample/sampler.h"

namespace hearth::chat {
class ChatFormat;
}

namespace hearth::engine {

struct ChatTurn {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

struct GenerateOptions {
  int64_t max_tokens = 512;        // < 0: until the context is full
  sample::SamplerParams sampling;  // default: temperature 0.8 (see sample/sampler.h)
  std::vector<std::string> stop;   // extra stop strings
};

struct GenerateResult {
  std::string text;
  std::string finish_reason;  // "stop", "length", "cancelled", "error"
  std::string error;          // finish_reason "error": what happened
  int64_t prompt_tokens = 0, cached_tokens = 0, completion_tokens = 0;
  double prompt_s = 0, gen_s = 0;
};

// Receives each piece of generated text (whole UTF-8 characters); returning false cancels.
using TextSink = std::function<bool(const std::string& piece)>;

class TextModel {
 public:
  // Loads the model (or leases the loaded one) from the registry. Throws as Registry::acquire,
  // and Error(format) when the model's chat template does not parse.
  static std::unique_ptr<TextModel> open(Registry& reg, const std::string& name_or_path, LoadParams params = {},
                                         std::optional<std::chrono::seconds> keep_alive = std::nullopt);
  ~TextModel();
  TextModel(const TextModel&) = delete;
  TextModel& operator=(const TextModel&) = delete;

  const std::string& name() const;
  // Tokens of context of one sequence (prompt + answer).
  int64_t n_ctx() const;
  bool has_chat_template() const;

  // Tokens of plain text (no BOS/EOS, control-token text stays text).
  int64_t count_tokens(std::string_view text) const;
  // The prompt text of a conversation, ending where the assistant's answer begins.
  std::string render_chat(const std::vector<ChatTurn>& turns) const;
  // Tokens of a rendered prompt exactly as generate() will submit it (BOS, control tokens).
  int64_t count_prompt_tokens(const std::string& rendered) const;

  // Generates an answer to a rendered prompt. Blocks until done; `sink` sees the text as it is
  // generated. Throws Error(limit) when the prompt does not fit the context, Busy when the
  // model's queue is full.
  GenerateResult generate(const std::string& rendered, const GenerateOptions& options, const TextSink& sink = {});

 private:
  TextModel() = default;
  std::unique_ptr<Lease> lease_;
  std::unique_ptr<chat::ChatFormat> format_;
};

}  // namespace hearth::engine
