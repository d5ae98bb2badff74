// Pieces shared by the OpenAI and Ollama routes: request-field validation, chat formatting,
// metrics, and running one request on the engine.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "chat/tool_calls.h"
#include "engine/registry.h"
#include "server/connection.h"
#include "util/error.h"

namespace hearth::server {

using json = nlohmann::json;

// A request error that names the offending field ("param" in OpenAI's error object).
class RequestError : public Error {
 public:
  RequestError(int status, std::string param, std::string message)
      : Error(ErrorKind::invalid_argument, std::move(message)), status_(status), param_(std::move(param)) {}
  int status() const { return status_; }
  const std::string& param() const { return param_; }

 private:
  int status_;
  std::string param_;
};

template <typename... Args>
[[noreturn]] void bad_field(const std::string& field, fmt::format_string<Args...> f, Args&&... args) {
  throw RequestError(400, field, fmt::format(f, std::forward<Args>(args)...));
}

// Parses a request body as a JSON object (400 naming the problem otherwise).
json parse_body(const std::string& body);

// Typed, range-checked access to the fields of a JSON object. `prefix` names the object in
// messages ("options." for Ollama's options). null counts as absent.
class Fields {
 public:
  Fields(const json& obj, std::string prefix = "") : obj_(obj), prefix_(std::move(prefix)) {}
  bool has(const char* name) const;
  std::optional<std::string> str(const char* name) const;
  std::optional<bool> boolean(const char* name) const;
  std::optional<double> number(const char* name, double lo, double hi) const;
  std::optional<int64_t> integer(const char* name, int64_t lo, int64_t hi) const;
  // A string or an array of strings (stop sequences).
  std::optional<std::vector<std::string>> strings(const char* name, size_t max_items) const;
  const json* get(const char* name) const;
  std::string path(const char* name) const { return prefix_ + name; }

 private:
  const json& obj_;
  std::string prefix_;
};

// A chat message, as both APIs send it.
struct Message {
  std::string role;
  std::string content;
  bool has_content = true;      // false: content was null/absent (assistant turns with tool calls)
  json tool_calls;              // assistant: [{id, type, function: {name, arguments: {...}}}] or null
  std::string tool_call_id;     // tool: the call it answers (OpenAI)
  std::string name;             // tool: the function's name (OpenAI name, Ollama tool_name)
};

// Parses "messages" (array of {role, content}); content may be a string or OpenAI's array of
// {type: "text", text} parts. Assistant tool_calls (arguments as a JSON string or an object)
// and tool results (tool_call_id, name / tool_name) are kept for the template.
std::vector<Message> parse_messages(const json& body, const char* field = "messages");

// Validates a request's "tools" (an array of {type: "function", function: {name, ...}});
// returns them, or null when absent or empty.
json parse_tools(const json& body);

// A chat's prompt for a model: its chat template (tokenizer.chat_template) rendered with the
// messages and tools, or the plain fallback format of docs/chat.md for models without one.
struct ChatPrompt {
  std::vector<tokenizer::Token> tokens;
  chat::ToolFormat tool_format = chat::ToolFormat::none;  // how the model writes tool calls
  std::vector<tokenizer::Token> keep_special;             // tool-call marker tokens to keep in the output
};
// A template that rejects the conversation (e.g. no system role) is a 400 on "messages".
ChatPrompt format_chat(const model::Model& m, const std::vector<Message>& messages, const json& tools = nullptr);

// The messages as the template sees them (transformers' shape; arguments as objects).
nlohmann::ordered_json template_messages(const std::vector<Message>& messages);

// Tool calls in each API's response shape. OpenAI: [{id, type: "function", function: {name,
// arguments: "<JSON text>"}}]; Ollama: [{function: {name, arguments: {...}}}].
json openai_tool_calls(const std::vector<chat::ToolCall>& calls, chat::ToolFormat format);
json ollama_tool_calls(const std::vector<chat::ToolCall>& calls);

// The OpenAI chat message for a finished generation: with tools, calls parsed out of `text`
// become message.tool_calls and finish_reason becomes "tool_calls"; otherwise content = text.
json openai_chat_message(const std::string& text, bool tools, chat::ToolFormat format, std::string& finish_reason);

// Counters for GET /metrics.
struct Metrics {
  std::atomic<uint64_t> requests{0}, errors{0}, prompt_tokens{0}, generated_tokens{0}, cancelled{0};
  std::atomic<uint64_t> gen_ns{0};  // total generation time (for tokens/s)
  std::mutex mu;
  double last_tokens_per_second = 0;
  void record(const engine::Event& final_event);
};

// What a route hands to the engine once it has validated the request.
struct Job {
  std::string model;
  std::optional<std::chrono::seconds> keep_alive;
  engine::LoadParams load;
  engine::Request req;
  int n = 1;  // choices (OpenAI n): n generations with seeds seed, seed+1, …
};

// A running job: the model lease and the generations.
struct Running {
  std::unique_ptr<engine::Lease> lease;
  std::vector<std::shared_ptr<engine::Generation>> gens;
  double load_s = 0;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  ~Running() {
    for (auto& g : gens) g->cancel();  // no-op for finished ones; stops abandoned ones
  }
};

// Loaded model by name (404 if unknown) — used before tokenizing.
std::unique_ptr<engine::Lease> acquire_model(engine::Registry& reg, const Job& job);
// Checks the prompt length against the context (400 naming both) and submits n generations
// (503 when the queue is full).
std::shared_ptr<Running> start(std::unique_ptr<engine::Lease> lease, Job job, double load_s);

// For non-streaming answers: the next event of generation `choice`, like Generation::next, but
// waiting at most 100 ms at a time and checking after every event and every wait that the
// client is still connected. When it is gone, every generation of the run is cancelled (their
// slots are free at the next step) and ClientGone is thrown.
bool next_event(Running& run, size_t choice, const ClientConnection& client, engine::Event& ev);

// Parses Ollama-style keep_alive: a number of seconds or a duration string ("5m", "1h30m",
// "-1"); negative means forever.
std::chrono::seconds parse_keep_alive(const json& v, const std::string& field);

// Seconds since the epoch; RFC 3339 time with nanoseconds for Ollama's created_at.
int64_t unix_now();
std::string rfc3339_now();
std::string rfc3339(std::chrono::system_clock::time_point t);

// Drives a streamed response: the content provider waits for the next event (checking that the
// client is still there every 100 ms, through `client` and the sink) and writes what `emit`
// makes of it; the generation is cancelled if the client goes away.
using EmitFn = std::function<std::string(size_t choice, const engine::Event& ev)>;
void stream_response(httplib::Response& res, std::shared_ptr<Running> run, ClientConnection client,
                     const char* content_type, EmitFn emit, std::function<std::string()> trailer, Metrics* metrics);

}  // namespace hearth::server
