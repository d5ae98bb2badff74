// `hearth chat MODEL`: an interactive conversation in the terminal.
//
// Each turn renders the whole conversation with the model's chat template (or the plain
// fallback format) and submits it to a one-slot engine::Scheduler, whose prompt cache finds
// the previous turns' tokens still in the KV cache: only the new text is evaluated (--verbose
// shows "N reused, M evaluated"). Input comes from libedit (history, line editing) on a
// terminal, or line by line from a pipe for scripting. Multi-line input: end a line with "\"
// or wrap it in """ … """. Ctrl-C stops the answer being written, not the chat.
#include <editline/readline.h>
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "chat/format.h"
#include "cli/commands.h"
#include "engine/scheduler.h"
#include "model/model.h"
#include "util/error.h"

namespace hearth::cli {

namespace {

using ojson = nlohmann::ordered_json;

struct ChatOptions {
  std::string model;
  std::string system;
  float temperature = 0.8f;
  float top_p = 0.95f;
  int top_k = 40;
  uint64_t seed = 0;
  bool seed_set = false;
  int64_t num_predict = -1;  // < 0: until the end of the answer (or the context is full)
  int64_t n_ctx = 0;
  int threads = 0;
  bool verbose = false;
  bool no_history = false;
};

std::atomic<bool> g_interrupted{false};

void on_sigint(int) { g_interrupted.store(true); }

const char* kHelp =
    "Commands:\n"
    "  /set temperature|top_p|top_k|seed|num_predict VALUE   change a sampling parameter\n"
    "  /set                       show the parameters\n"
    "  /system TEXT               set the system message (empty: remove it)\n"
    "  /clear                     forget the conversation (keeps the system message)\n"
    "  /save FILE                 write the conversation as JSON\n"
    "  /load FILE                 read a conversation written by /save\n"
    "  /bye                       leave (also Ctrl-D)\n"
    "Multi-line input: end a line with \\ to continue it, or wrap text in \"\"\" … \"\"\".\n"
    "Ctrl-C stops the answer being written.\n";

// Reads one line: libedit on a terminal, std::getline otherwise. nullopt at end of input.
class LineReader {
 public:
  LineReader(bool tty, std::string history_file) : tty_(tty), history_(std::move(history_file)) {
    if (tty_) {
      using_history();
      stifle_history(1000);
      if (!history_.empty()) read_history(history_.c_str());
    }
  }
  ~LineReader() {
    if (tty_ && !history_.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(std::filesystem::path(history_).parent_path(), ec);
      write_history(history_.c_str());
    }
  }

  std::optional<std::string> line(const char* prompt) {
    if (!tty_) {
      std::string s;
      if (!std::getline(std::cin, s)) return std::nullopt;
      if (!s.empty() && s.back() == '\r') s.pop_back();
      return s;
    }
    for (;;) {
      g_interrupted.store(false);
      char* p = readline(prompt);
      if (p == nullptr) {
        if (g_interrupted.exchange(false)) {  // Ctrl-C at the prompt: a fresh line, not the end
          std::fputs("\n(Use Ctrl-D or /bye to leave.)\n", stdout);
          continue;
        }
        return std::nullopt;
      }
      std::string s(p);
      std::free(p);
      return s;
    }
  }

  // One user input: continues lines ending in "\", and """ blocks.
  std::optional<std::string> input() {
    auto first = line(">>> ");
    if (!first) return std::nullopt;
    std::string text = *first;
    if (text.rfind("\"\"\"", 0) == 0) {
      std::string body = text.substr(3);
      for (;;) {
        const size_t end = body.find("\"\"\"");
        if (end != std::string::npos) {
          body.erase(end);
          break;
        }
        auto more = line("... ");
        if (!more) break;
        body += "\n" + *more;
      }
      text = body;
    } else {
      while (!text.empty() && text.back() == '\\') {
        text.pop_back();
        auto more = line("... ");
        if (!more) break;
        text += "\n" + *more;
      }
    }
    if (tty_ && !text.empty()) add_history(text.c_str());
    return text;
  }

 private:
  bool tty_;
  std::string history_;
};

std::string history_path() {
  if (const char* state = std::getenv("XDG_STATE_HOME"); state && *state) return std::string(state) + "/hearth/chat_history";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.local/state/hearth/chat_history";
  return "";
}

class ChatSession {
 public:
  ChatSession(ChatOptions o) : o_(std::move(o)) {}

  int run() {
    const bool tty = isatty(STDIN_FILENO) != 0;
    const auto t0 = std::chrono::steady_clock::now();
    model_ = model::Model::load(o_.model);
    format_.emplace(chat::ChatFormat::from_model(model_->file(), model_->tokenizer()));
    engine::SchedulerOptions so;
    so.n_parallel = 1;
    so.n_ctx = o_.n_ctx;
    so.n_threads = o_.threads;
    sched_ = std::make_unique<engine::Scheduler>(*model_, so);
    if (!o_.seed_set) o_.seed = std::random_device{}();
    if (o_.verbose) {
      fmt::print(stderr, "loaded {} in {:.3f} s; context {} tokens; chat format: {}\n", o_.model,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), sched_->n_ctx(),
                 format_->has_template() ? "tokenizer.chat_template" : "plain (the model has no chat template)");
    }
    if (!o_.system.empty()) system_ = o_.system;

    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: a blocking read returns, and the flag is seen
    struct sigaction old {};
    sigaction(SIGINT, &sa, &old);

    if (tty) std::fputs("Type /? for help, /bye to leave.\n", stdout);
    LineReader reader(tty, o_.no_history ? "" : history_path());
    int rc = 0;
    for (;;) {
      std::fflush(stdout);
      auto in = reader.input();
      if (!in) break;
      const std::string& text = *in;
      if (text.empty()) continue;
      if (text[0] == '/' && text.rfind("\"\"\"", 0) != 0) {
        if (!command(text)) break;
        continue;
      }
      try {
        turn(text, tty);
      } catch (const std::exception& e) {  // a failed turn is reported; the chat goes on
        fmt::print("error: {}\n", e.what());
      }
    }
    sigaction(SIGINT, &old, nullptr);
    std::fflush(stdout);
    return rc;
  }

 private:
  // Handles a /command; false to leave.
  bool command(const std::string& line) {
    std::istringstream ss(line);
    std::string cmd;
    ss >> cmd;
    std::string rest;
    std::getline(ss, rest);
    const size_t b = rest.find_first_not_of(" \t");
    rest = b == std::string::npos ? "" : rest.substr(b);
    try {
      if (cmd == "/bye" || cmd == "/exit" || cmd == "/quit") return false;
      if (cmd == "/?" || cmd == "/help") {
        std::fputs(kHelp, stdout);
      } else if (cmd == "/set") {
        set(rest);
      } else if (cmd == "/system") {
        system_ = rest;
        fmt::print("{}\n", rest.empty() ? "System message removed." : "System message set.");
      } else if (cmd == "/clear") {
        messages_ = ojson::array();
        fmt::print("Conversation cleared.\n");
      } else if (cmd == "/save") {
        save(rest);
      } else if (cmd == "/load") {
        load(rest);
      } else {
        fmt::print("Unknown command '{}'. Type /? for help.\n", cmd);
      }
    } catch (const std::exception& e) {
      fmt::print("error: {}\n", e.what());
    }
    return true;
  }

  void set(const std::string& args) {
    std::istringstream ss(args);
    std::string name, value;
    ss >> name >> value;
    if (name.empty()) {
      fmt::print("temperature {} top_p {} top_k {} seed {} num_predict {}\n", o_.temperature, o_.top_p, o_.top_k,
                 o_.seed, o_.num_predict);
      return;
    }
    if (value.empty()) throw_error(ErrorKind::invalid_argument, "/set {} needs a value", name);
    auto number = [&](double lo, double hi) {
      char* end = nullptr;
      const double v = std::strtod(value.c_str(), &end);
      if (end == value.c_str() || *end != '\0' || !(v >= lo && v <= hi))
        throw_error(ErrorKind::invalid_argument, "{} must be a number between {} and {} (got '{}')", name, lo, hi,
                    value);
      return v;
    };
    if (name == "temperature") o_.temperature = static_cast<float>(number(0, 10));
    else if (name == "top_p") o_.top_p = static_cast<float>(number(0, 1));
    else if (name == "top_k") o_.top_k = static_cast<int>(number(0, 1 << 20));
    else if (name == "seed") o_.seed = static_cast<uint64_t>(number(0, 1.8e19));
    else if (name == "num_predict") o_.num_predict = static_cast<int64_t>(number(-1, 1 << 24));
    else
      throw_error(ErrorKind::invalid_argument, "unknown parameter '{}' (temperature, top_p, top_k, seed, num_predict)",
                  name);
    fmt::print("Set {} to {}.\n", name, value);
  }

  ojson conversation() const {
    ojson msgs = ojson::array();
    if (!system_.empty()) msgs.push_back({{"role", "system"}, {"content", system_}});
    for (const auto& m : messages_) msgs.push_back(m);
    return msgs;
  }

  void save(const std::string& path) {
    if (path.empty()) throw_error(ErrorKind::invalid_argument, "/save needs a file name");
    ojson j = {{"model", o_.model},
               {"options",
                {{"temperature", o_.temperature}, {"top_p", o_.top_p}, {"top_k", o_.top_k}, {"seed", o_.seed},
                 {"num_predict", o_.num_predict}}},
               {"messages", conversation()}};
    // Written beside the target and renamed into place once closed: "Saved" is only printed
    // when the whole file is on disk, and a failed write never replaces an earlier save.
    const std::string tmp = path + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary);
      if (!out) throw_error(ErrorKind::io, "{}: cannot write", path);
      out << j.dump(2, ' ', false, ojson::error_handler_t::replace) << "\n";  // answers may hold stray bytes
      out.close();
      if (!out) {
        std::remove(tmp.c_str());
        throw_error(ErrorKind::io, "{}: cannot write (disk full?)", path);
      }
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
      std::remove(tmp.c_str());
      throw_error(ErrorKind::io, "{}: cannot write", path);
    }
    fmt::print("Saved {} messages to {}.\n", conversation().size(), path);
  }

  void load(const std::string& path) {
    if (path.empty()) throw_error(ErrorKind::invalid_argument, "/load needs a file name");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw_error(ErrorKind::not_found, "{}: cannot open", path);
    ojson j = ojson::parse(in, nullptr, false);
    if (j.is_discarded()) throw_error(ErrorKind::format, "{}: not valid JSON", path);
    const ojson msgs = j.is_object() && j.contains("messages") ? j["messages"] : j;
    if (!msgs.is_array()) throw_error(ErrorKind::format, "{}: expected {{\"messages\": [...]}} or an array of messages", path);
    std::string system;
    ojson rest = ojson::array();
    for (const auto& m : msgs) {
      if (!m.is_object() || !m.contains("role") || !m["role"].is_string() ||
          (m.contains("content") && !m["content"].is_string() && !m["content"].is_null()))
        throw_error(ErrorKind::format, "{}: every message needs a string 'role' and 'content'", path);
      if (m["role"] == "system" && rest.empty()) system = m.value("content", "");
      else rest.push_back(m);
    }
    system_ = system;
    messages_ = rest;
    if (j.is_object() && j.contains("options") && j["options"].is_object()) {
      const auto& op = j["options"];
      if (op.contains("temperature") && op["temperature"].is_number()) o_.temperature = op["temperature"].get<float>();
      if (op.contains("top_p") && op["top_p"].is_number()) o_.top_p = op["top_p"].get<float>();
      if (op.contains("top_k") && op["top_k"].is_number_integer()) o_.top_k = op["top_k"].get<int>();
      if (op.contains("seed") && op["seed"].is_number_integer()) o_.seed = op["seed"].get<uint64_t>();
      if (op.contains("num_predict") && op["num_predict"].is_number_integer())
        o_.num_predict = op["num_predict"].get<int64_t>();
    }
    fmt::print("Loaded {} messages from {}.\n", msgs.size(), path);
  }

  void turn(const std::string& text, bool tty) {
    ojson msgs = conversation();
    msgs.push_back({{"role", "user"}, {"content", text}});
    chat::ChatInputs in;
    in.messages = msgs;
    in.add_generation_prompt = true;
    std::vector<tokenizer::Token> prompt;
    try {
      prompt = format_->tokenize(model_->tokenizer(), format_->render(in));
    } catch (const std::exception& e) {
      fmt::print("error: {}\n", e.what());
      return;
    }
    if (static_cast<int64_t>(prompt.size()) >= sched_->n_ctx()) {
      fmt::print("error: the conversation is {} tokens but the context holds {}; /clear to start over\n",
                 prompt.size(), sched_->n_ctx());
      return;
    }
    engine::Request req;
    req.prompt = std::move(prompt);
    req.max_tokens = o_.num_predict;
    req.sampling.temperature = o_.temperature;
    req.sampling.top_p = o_.top_p;
    req.sampling.top_k = o_.top_k;
    req.sampling.seed = o_.seed;
    auto gen = sched_->submit(std::move(req));
    g_interrupted.store(false);
    std::string answer;
    engine::Event ev, last;
    bool timed_out = false;
    bool cancelled = false;
    for (;;) {
      if (!gen->next_for(ev, std::chrono::milliseconds(50), &timed_out)) {
        if (!timed_out) break;
      } else {
        answer += ev.text;
        std::fwrite(ev.text.data(), 1, ev.text.size(), stdout);
        std::fflush(stdout);
        if (ev.done) last = ev;
      }
      if (!cancelled && g_interrupted.exchange(false)) {
        gen->cancel();
        cancelled = true;
      }
    }
    std::fputs(tty ? "\n\n" : "\n", stdout);
    if (cancelled) std::fputs("(stopped)\n", stdout);
    if (last.finish_reason == "error") {
      fmt::print("error: {}\n", last.error);
      return;
    }
    messages_.push_back({{"role", "user"}, {"content", text}});
    messages_.push_back({{"role", "assistant"}, {"content", answer}});
    if (o_.verbose) {
      const double tps = last.gen_s > 0 ? static_cast<double>(last.completion_tokens) / last.gen_s : 0.0;
      fmt::print(stderr, "[prompt: {} tokens, {} reused, {} evaluated in {:.3f} s | answer: {} tokens, {:.1f} tokens/s, {}]\n",
                 last.prompt_tokens, last.cached_tokens, last.prompt_tokens - last.cached_tokens, last.prompt_s,
                 last.completion_tokens, tps, cancelled ? "stopped" : last.finish_reason);
    }
  }

  ChatOptions o_;
  std::unique_ptr<model::Model> model_;
  std::optional<chat::ChatFormat> format_;
  std::unique_ptr<engine::Scheduler> sched_;
  std::string system_;
  ojson messages_ = ojson::array();  // user/assistant turns (the system message is apart)
};

}  // namespace

void add_chat_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<ChatOptions>();
  CLI::App* cmd = app.add_subcommand("chat", "Chat with a model in the terminal");
  cmd->add_option("model", o->model, "GGUF model file")->required();
  cmd->add_option("--system", o->system, "System message");
  cmd->add_option("--temp,--temperature", o->temperature, "Temperature (0: greedy)")->capture_default_str();
  cmd->add_option("--top-p", o->top_p, "Nucleus sampling threshold")->capture_default_str();
  cmd->add_option("--top-k", o->top_k, "Keep the k most likely tokens (0: all)")->capture_default_str();
  cmd->add_option_function<uint64_t>("--seed", [o](uint64_t s) { o->seed = s; o->seed_set = true; },
                                     "Random seed (same seed, same answers)");
  cmd->add_option("-n,--num-predict", o->num_predict, "Most tokens per answer (-1: no limit)")->capture_default_str();
  cmd->add_option("--ctx", o->n_ctx, "Context size in tokens (default: min(model, 4096))");
  cmd->add_option("-t,--threads", o->threads, "Threads (default: all cores)");
  cmd->add_flag("--no-history", o->no_history, "Do not read or write the input history file");
  cmd->add_flag("-v,--verbose", o->verbose, "Print prompt tokens reused/evaluated and tokens/s after each answer");
  cmd->callback([&action, o] { action = [o] { return ChatSession(*o).run(); }; });
}

}  // namespace hearth::cli
