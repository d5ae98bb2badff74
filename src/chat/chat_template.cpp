#include "chat/chat_template.h"

namespace hearth::chat {

std::string apply_chat_template(const jinja::Template& tmpl, const ChatInputs& inputs,
                                const jinja::RenderOptions& options) {
  using jinja::Value;
  Value ctx = Value::dict();
  auto& d = ctx.dict_data();
  d.set(Value::string("messages"), jinja::value_from_json(inputs.messages));
  d.set(Value::string("tools"), jinja::value_from_json(inputs.tools));
  d.set(Value::string("documents"), Value::none());
  d.set(Value::string("add_generation_prompt"), Value::boolean(inputs.add_generation_prompt));
  d.set(Value::string("bos_token"), Value::string(inputs.bos_token));
  d.set(Value::string("eos_token"), Value::string(inputs.eos_token));
  if (inputs.extra.is_object()) {
    for (auto it = inputs.extra.begin(); it != inputs.extra.end(); ++it)
      d.set(Value::string(it.key()), jinja::value_from_json(it.value()));
  }
  return tmpl.render(ctx, options);
}

}  // namespace hearth::chat
