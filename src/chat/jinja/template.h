// hearth::chat::jinja — a Jinja interpreter for chat templates (tokenizer.chat_template).
//
// It renders the templates models ship the way Hugging Face transformers renders them with
// Python's jinja2: ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True) with the
// loopcontrols extension and {% generation %}, tojson as json.dumps(ensure_ascii=False, ...),
// raise_exception(msg) and strftime_now(fmt). docs/chat.md lists what is supported.
//
//   auto t = Template::parse(source, "model.jinja");
//   Value ctx = Value::dict();
//   ctx.dict_data().set(Value::string("messages"), value_from_json(messages));
//   std::string prompt = t.render(ctx);
//
// Rendering is bounded (Limits): a hostile template cannot loop forever, exhaust memory or
// overflow the stack; it gets a TemplateError with ErrorKind::limit instead.
#pragma once

#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "chat/jinja/ast.h"
#include "chat/jinja/error.h"
#include "chat/jinja/value.h"

namespace hearth::chat::jinja {

struct Limits {
  uint64_t max_steps = 5'000'000;      // evaluated expressions + executed statements + loop items
  size_t max_output = 32u << 20;       // bytes of the rendered text, and of any one string or list
  uint64_t max_alloc = 512ull << 20;   // bytes of strings / list items created while rendering, in total
  int max_depth = 200;                 // nesting of the template's syntax, and of macro calls
  size_t max_source = 4u << 20;        // bytes of template source
};

struct RenderOptions {
  Limits limits;
  // What strftime_now() formats; unset means the current local time.
  std::optional<std::tm> now;
};

class Template {
 public:
  // Throws TemplateError: ErrorKind::format for syntax errors ("NAME:LINE:COL: ..."),
  // ErrorKind::limit for a source larger or more deeply nested than the limits allow.
  static Template parse(std::string_view source, std::string name = "template", const Limits& limits = {});

  // context must be a dict (its keys are the template's variables). Throws TemplateError.
  std::string render(const Value& context, const RenderOptions& options = {}) const;

  const std::string& name() const { return name_; }

 private:
  std::shared_ptr<const Body> body_;
  std::string name_;
};

// JSON → Value (objects keep their key order). Numbers that fit int64 become ints.
Value value_from_json(const nlohmann::ordered_json& j);

// The date strftime_now() uses in tests and when HEARTH_TEMPLATE_DATE=YYYY-MM-DD is set:
// parses "YYYY-MM-DD" into a local midnight std::tm; nullopt if malformed.
std::optional<std::tm> parse_fixed_date(std::string_view yyyy_mm_dd);

}  // namespace hearth::chat::jinja
