// `hearth template FILE --messages FILE.json [--add-generation-prompt] [--tools FILE.json]
//                  [--bos S] [--eos S] [--date YYYY-MM-DD] [--tokens]`:
// renders a chat template (a .jinja file, or a GGUF model's tokenizer.chat_template) for a
// conversation and prints the prompt text exactly, as transformers' apply_chat_template would.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "chat/format.h"
#include "cli/commands.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace hearth::cli {

namespace {

struct TemplateOptions {
  std::string file;
  std::string messages;
  std::string tools;
  std::string bos;
  std::string eos;
  std::string date;
  bool add_generation_prompt = false;
  bool tokens = false;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_error(ErrorKind::not_found, "{}: cannot open file", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

nlohmann::ordered_json read_json(const std::string& path) {
  std::string text = read_file(path);
  try {
    return nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw_error(ErrorKind::format, "{}: not valid JSON: {}", path, e.what());
  }
}

bool is_gguf(const std::string& text) { return text.size() >= 4 && text.compare(0, 4, "GGUF") == 0; }

// Special-token text of a GGUF vocabulary entry named by an id key, if present.
std::string token_text(const gguf::File& f, const char* id_key) {
  auto id = f.find_int(id_key);
  if (!id || !f.has("tokenizer.ggml.tokens")) return "";
  const auto& tokens = f.get_array("tokenizer.ggml.tokens");
  if (*id < 0 || static_cast<size_t>(*id) >= tokens.items.size()) return "";
  const auto* s = tokens.items[static_cast<size_t>(*id)].as_string();
  return s ? *s : "";
}

int run_template(const TemplateOptions& o) {
  chat::ChatInputs in;
  std::string source;
  std::string name = o.file;
  std::string head = read_file(o.file);
  if (is_gguf(head)) {
    auto f = gguf::File::open(o.file);
    auto tmpl = f.find_string("tokenizer.chat_template");
    if (!tmpl) throw_error(ErrorKind::not_found, "{}: the model has no tokenizer.chat_template", o.file);
    source = *tmpl;
    name = o.file + ":tokenizer.chat_template";
    in.bos_token = token_text(f, "tokenizer.ggml.bos_token_id");
    in.eos_token = token_text(f, "tokenizer.ggml.eos_token_id");
  } else {
    source = std::move(head);
  }
  if (!o.bos.empty()) in.bos_token = o.bos;
  if (!o.eos.empty()) in.eos_token = o.eos;

  auto conv = read_json(o.messages);
  if (conv.is_array()) {
    in.messages = conv;
  } else if (conv.is_object() && conv.contains("messages") && conv["messages"].is_array()) {
    in.messages = conv["messages"];
    if (conv.contains("tools")) in.tools = conv["tools"];
  } else {
    throw_error(ErrorKind::invalid_argument, "{}: expected a JSON array of messages or an object with \"messages\"",
                o.messages);
  }
  if (!o.tools.empty()) {
    in.tools = read_json(o.tools);
    if (!in.tools.is_array() && !in.tools.is_null())
      throw_error(ErrorKind::invalid_argument, "{}: expected a JSON array of tools", o.tools);
  }
  in.add_generation_prompt = o.add_generation_prompt;

  chat::jinja::RenderOptions ropts;
  std::string date = o.date;
  if (date.empty())
    if (const char* env = std::getenv("HEARTH_TEMPLATE_DATE")) date = env;
  if (!date.empty()) {
    ropts.now = chat::jinja::parse_fixed_date(date);
    if (!ropts.now) throw_error(ErrorKind::invalid_argument, "--date: expected YYYY-MM-DD, got '{}'", date);
  }
  auto tmpl = chat::jinja::Template::parse(source, name);
  std::string text = chat::apply_chat_template(tmpl, in, ropts);
  if (o.tokens) {
    // The ids the server and `hearth chat` evaluate for this prompt (chat::ChatFormat::tokenize:
    // control tokens parsed, BOS added once if the tokenizer adds it).
    if (!is_gguf(head))
      throw_error(ErrorKind::invalid_argument, "--tokens needs a GGUF model (its tokenizer), not a template file");
    auto f = gguf::File::open(o.file);
    auto tok = tokenizer::Tokenizer::from_gguf(f);
    chat::ChatFormat cf(source, in.bos_token, in.eos_token, name);
    std::string line;
    for (tokenizer::Token t : cf.tokenize(*tok, text)) line += (line.empty() ? "" : " ") + std::to_string(t);
    std::fputs((line + "\n").c_str(), stdout);
    return 0;
  }
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

}  // namespace

void add_template_command(CLI::App& app, Action& action) {
  auto opts = std::make_shared<TemplateOptions>();
  auto* cmd = app.add_subcommand("template", "Render a chat template for a conversation");
  cmd->add_option("file", opts->file, "A .jinja chat template, or a GGUF model (its tokenizer.chat_template)")->required();
  cmd->add_option("--messages", opts->messages,
                  "JSON file: an array of messages, or {\"messages\": [...], \"tools\": [...]}")
      ->required();
  cmd->add_flag("--add-generation-prompt", opts->add_generation_prompt, "End with the assistant turn's opening");
  cmd->add_option("--tools", opts->tools, "JSON file with an array of tool definitions");
  cmd->add_option("--bos", opts->bos, "bos_token text (default: the model's, or empty)");
  cmd->add_option("--eos", opts->eos, "eos_token text (default: the model's, or empty)");
  cmd->add_flag("--tokens", opts->tokens, "Print the prompt's token ids (GGUF models), as the server tokenizes it");
  cmd->add_option("--date", opts->date, "Date strftime_now() uses, YYYY-MM-DD (default: today; env HEARTH_TEMPLATE_DATE)");
  cmd->callback([&action, opts] { action = [opts] { return run_template(*opts); }; });
}

}  // namespace hearth::cli
