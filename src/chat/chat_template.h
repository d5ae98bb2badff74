// Rendering a model's chat template (tokenizer.chat_template) for a conversation, with the
// variables transformers' apply_chat_template passes: messages, tools (None when there are
// none), documents (None), add_generation_prompt, bos_token, eos_token, plus any extras
// (e.g. enable_thinking).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "chat/jinja/template.h"

namespace hearth::chat {

struct ChatInputs {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  nlohmann::ordered_json tools;  // null: no tools (the template sees None)
  bool add_generation_prompt = false;
  std::string bos_token;
  std::string eos_token;
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();  // more template variables
};

// Throws jinja::TemplateError (a hearth::Error) when the template fails or rejects the input.
std::string apply_chat_template(const jinja::Template& tmpl, const ChatInputs& inputs,
                                const jinja::RenderOptions& options = {});

}  // namespace hearth::chat
