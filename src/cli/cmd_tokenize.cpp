// `hearth tokenize --model FILE [--ids-only] [--no-special] [--parse-special] TEXT | --file F`:
// the token ids (and pieces) a model's tokenizer gives for a text.
#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace hearth::cli {

namespace {

struct TokenizeOptions {
  std::string model;
  std::string text;
  std::string file;
  bool ids_only = false;
  bool no_special = false;
  bool parse_special = false;
};

// Pieces may hold spaces, newlines, control bytes or partial UTF-8: show them unambiguously.
std::string escape_piece(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (c == '\\') out += "\\\\";
    else if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
    else out += static_cast<char>(c);
  }
  return out;
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_error(ErrorKind::not_found, "{}: cannot open text file", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int run_tokenize(const TokenizeOptions& o) {
  if (!o.file.empty() && !o.text.empty()) {
    throw_error(ErrorKind::invalid_argument, "give either TEXT or --file, not both");
  }
  if (o.file.empty() && o.text.empty()) {
    throw_error(ErrorKind::invalid_argument, "nothing to tokenize: give TEXT or --file F");
  }
  std::string text = o.file.empty() ? o.text : read_text_file(o.file);
  gguf::File f = gguf::File::open(o.model);
  auto tok = tokenizer::Tokenizer::from_gguf(f);
  std::vector<tokenizer::Token> ids = tok->encode(text, !o.no_special, o.parse_special);
  if (o.ids_only) {
    std::string line;
    for (size_t i = 0; i < ids.size(); ++i) line += (i ? " " : "") + std::to_string(ids[i]);
    fmt::print("{}\n", line);
    return 0;
  }
  for (auto id : ids) {
    fmt::print("{:>8}  '{}'\n", id, escape_piece(tok->token_to_piece(id, /*render_special=*/true)));
  }
  fmt::print(stderr, "{} tokens ({} tokenizer, {} bytes of text)\n", ids.size(), tok->kind(), text.size());
  return 0;
}

}  // namespace

void add_tokenize_command(CLI::App& app, Action& action) {
  auto opts = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Show the tokens a model's tokenizer makes of a text");
  cmd->add_option("--model,-m", opts->model, "GGUF file whose tokenizer to use")->required();
  cmd->add_option("text", opts->text, "Text to tokenize");
  cmd->add_option("--file,-f", opts->file, "Read the text from a file");
  cmd->add_flag("--ids-only", opts->ids_only, "Print only the ids, on one line");
  cmd->add_flag("--no-special", opts->no_special, "Do not add BOS/EOS (or CLS/SEP)");
  cmd->add_flag("--parse-special", opts->parse_special, "Turn special-token text like <|im_start|> into its id");
  cmd->callback([&action, opts] { action = [opts] { return run_tokenize(*opts); }; });
}

}  // namespace hearth::cli
