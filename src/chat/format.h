// A model's chat format: its Jinja template (tokenizer.chat_template) with the BOS/EOS token
// texts of its vocabulary, or the plain fallback format for models without a template; and the
// rendered prompt → tokens step (control tokens parsed, BOS never doubled). Used by the server
// and by `hearth chat` alike. See docs/chat.md.
//
//   auto fmt = chat::ChatFormat::from_model(model.file(), model.tokenizer());
//   chat::ChatInputs in;  in.messages = ...;  in.add_generation_prompt = true;
//   std::vector<Token> prompt = fmt.tokenize(model.tokenizer(), fmt.render(in));
//   chat::ParsedOutput out = chat::parse_tool_calls(generated_text, fmt.tool_format());
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "chat/tool_calls.h"
#include "tokenizer/tokenizer.h"

namespace hearth::gguf {
class File;
}

namespace hearth::chat {

// The plain format for models without a chat template (docs/chat.md, "Fallback format"):
//   SYSTEM\n\n            (each system/developer message, then a blank line)
//   [tool list and how to call one, when there are tools]
//   User: TEXT\n
//   Assistant: TEXT\n     (tool calls as <tool_call>{"name": …, "arguments": …}</tool_call>)
//   Tool: TEXT\n
//   Assistant:            (with add_generation_prompt)
std::string format_plain(const ChatInputs& in);

class ChatFormat {
 public:
  // The model's tokenizer.chat_template (fallback format if it has none or the key is empty),
  // bos_token/eos_token from the vocabulary's BOS/EOS ids. Throws jinja::TemplateError if the
  // template does not parse.
  static ChatFormat from_model(const gguf::File& f, const tokenizer::Tokenizer& tok);
  // A template from its source (nullopt: the fallback format).
  ChatFormat(std::optional<std::string> source, std::string bos_token, std::string eos_token,
             std::string name = "tokenizer.chat_template");

  bool has_template() const { return tmpl_.has_value(); }
  const std::string& source() const { return source_; }
  const std::string& bos_token() const { return bos_; }
  const std::string& eos_token() const { return eos_; }
  // How this format's model writes tool calls (hermes for the fallback format).
  ToolFormat tool_format() const { return tool_format_; }

  // The prompt text. in.bos_token/in.eos_token are filled from the model when empty.
  // Throws jinja::TemplateError when the template fails or rejects the conversation.
  std::string render(ChatInputs in, const jinja::RenderOptions& options = {}) const;

  // Rendered prompt → token ids. With a template, control-token text ("<|im_start|>") becomes
  // the token (parse_special) and BOS is put first if the tokenizer adds BOS and the text
  // does not already start with it. The fallback format is encoded as plain text (user text
  // that looks like a control token stays text), with BOS as the tokenizer adds it.
  std::vector<tokenizer::Token> tokenize(const tokenizer::Tokenizer& tok, const std::string& prompt) const;

 private:
  std::optional<jinja::Template> tmpl_;
  std::string source_, bos_, eos_;
  ToolFormat tool_format_ = ToolFormat::hermes;
};

// The text of a vocabulary token (empty for id < 0 or out of range).
std::string token_text(const tokenizer::Vocab& v, tokenizer::Token id);

}  // namespace hearth::chat
