#include "server/common.h"

#include <cmath>
#include <ctime>
#include <limits>
#include <random>

#include "chat/format.h"

namespace hearth::server {

json parse_body(const std::string& body) {
  if (body.empty()) throw RequestError(400, "", "the request body is empty: expected a JSON object");
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) {
    // Parse again with exceptions on, only for the position in the message.
    try {
      [[maybe_unused]] const json reparsed = json::parse(body);  // throws; (void) does not silence GCC's warn_unused_result
    } catch (const json::parse_error& e) {
      throw RequestError(400, "", fmt::format("the request body is not valid JSON (at byte {})", e.byte));
    }
    throw RequestError(400, "", "the request body is not valid JSON");
  }
  if (!j.is_object()) throw RequestError(400, "", "the request body must be a JSON object");
  return j;
}

const json* Fields::get(const char* name) const {
  auto it = obj_.find(name);
  if (it == obj_.end() || it->is_null()) return nullptr;
  return &*it;
}

bool Fields::has(const char* name) const { return get(name) != nullptr; }

std::optional<std::string> Fields::str(const char* name) const {
  const json* v = get(name);
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) bad_field(path(name), "'{}' must be a string", path(name));
  return v->get<std::string>();
}

std::optional<bool> Fields::boolean(const char* name) const {
  const json* v = get(name);
  if (v == nullptr) return std::nullopt;
  if (!v->is_boolean()) bad_field(path(name), "'{}' must be true or false", path(name));
  return v->get<bool>();
}

std::optional<double> Fields::number(const char* name, double lo, double hi) const {
  const json* v = get(name);
  if (v == nullptr) return std::nullopt;
  if (!v->is_number()) bad_field(path(name), "'{}' must be a number", path(name));
  const double d = v->get<double>();
  if (!std::isfinite(d) || d < lo || d > hi)
    bad_field(path(name), "'{}' must be between {} and {} (got {})", path(name), lo, hi, d);
  return d;
}

std::optional<int64_t> Fields::integer(const char* name, int64_t lo, int64_t hi) const {
  const json* v = get(name);
  if (v == nullptr) return std::nullopt;
  int64_t i = 0;
  if (v->is_number_integer()) {
    if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      bad_field(path(name), "'{}' must be between {} and {}", path(name), lo, hi);
    i = v->get<int64_t>();
  } else if (v->is_number_float() && std::trunc(v->get<double>()) == v->get<double>() &&
             std::abs(v->get<double>()) < 9e15) {
    i = static_cast<int64_t>(v->get<double>());
  } else {
    bad_field(path(name), "'{}' must be an integer", path(name));
  }
  if (i < lo || i > hi) bad_field(path(name), "'{}' must be between {} and {} (got {})", path(name), lo, hi, i);
  return i;
}

std::optional<std::vector<std::string>> Fields::strings(const char* name, size_t max_items) const {
  const json* v = get(name);
  if (v == nullptr) return std::nullopt;
  std::vector<std::string> out;
  if (v->is_string()) {
    out.push_back(v->get<std::string>());
  } else if (v->is_array()) {
    for (const json& e : *v) {
      if (!e.is_string()) bad_field(path(name), "'{}' must be a string or an array of strings", path(name));
      out.push_back(e.get<std::string>());
    }
  } else {
    bad_field(path(name), "'{}' must be a string or an array of strings", path(name));
  }
  if (out.size() > max_items) bad_field(path(name), "'{}' has {} items; at most {} are allowed", path(name), out.size(), max_items);
  return out;
}

std::vector<Message> parse_messages(const json& body, const char* field) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) bad_field(field, "'{}' is required", field);
  if (!it->is_array()) bad_field(field, "'{}' must be an array of messages", field);
  if (it->empty()) bad_field(field, "'{}' must contain at least one message", field);
  std::vector<Message> out;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& m = (*it)[i];
    const std::string at = fmt::format("{}[{}]", field, i);
    if (!m.is_object()) bad_field(at, "'{}' must be an object with 'role' and 'content'", at);
    Message msg;
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) bad_field(at + ".role", "'{}.role' must be a string", at);
    msg.role = role->get<std::string>();
    if (msg.role != "system" && msg.role != "user" && msg.role != "assistant" && msg.role != "developer" &&
        msg.role != "tool")
      bad_field(at + ".role", "'{}.role' must be one of system, developer, user, assistant, tool (got '{}')", at,
                msg.role);
    auto content = m.find("content");
    if (content == m.end() || content->is_null()) {
      msg.content = "";
      msg.has_content = false;
    } else if (content->is_string()) {
      msg.content = content->get<std::string>();
    } else if (content->is_array()) {
      for (size_t k = 0; k < content->size(); ++k) {
        const json& part = (*content)[k];
        const std::string pat = fmt::format("{}.content[{}]", at, k);
        if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
          bad_field(pat, "'{}' must be an object with a 'type'", pat);
        if (part["type"] != "text")
          bad_field(pat, "'{}': content of type '{}' is not supported (text only)", pat,
                    part["type"].get<std::string>());
        if (!part.contains("text") || !part["text"].is_string()) bad_field(pat, "'{}.text' must be a string", pat);
        msg.content += part["text"].get<std::string>();
      }
    } else {
      bad_field(at + ".content", "'{}.content' must be a string or an array of text parts", at);
    }
    if (m.contains("images") && !m["images"].is_null() && !m["images"].empty())
      bad_field(at + ".images", "'{}.images': images are not supported (text models only)", at);
    if (auto tc = m.find("tool_calls"); tc != m.end() && !tc->is_null()) {
      const std::string tat = at + ".tool_calls";
      if (!tc->is_array()) bad_field(tat, "'{}' must be an array", tat);
      if (msg.role != "assistant") bad_field(tat, "'{}': only assistant messages have tool calls", tat);
      msg.tool_calls = json::array();
      for (size_t k = 0; k < tc->size(); ++k) {
        const json& call = (*tc)[k];
        const std::string cat = fmt::format("{}[{}]", tat, k);
        if (!call.is_object() || !call.contains("function") || !call["function"].is_object())
          bad_field(cat, "'{}' must be an object with a 'function'", cat);
        const json& fn = call["function"];
        if (!fn.contains("name") || !fn["name"].is_string())
          bad_field(cat + ".function.name", "'{}.function.name' must be a string", cat);
        json args = json::object();
        if (fn.contains("arguments") && !fn["arguments"].is_null()) {
          const json& a = fn["arguments"];
          if (a.is_string()) {
            // OpenAI sends arguments as JSON text; templates expect the object.
            args = json::parse(a.get<std::string>(), nullptr, false);
            if (args.is_discarded() || !args.is_object())
              bad_field(cat + ".function.arguments", "'{}.function.arguments' must be a JSON object (as text or as is)",
                        cat);
          } else if (a.is_object()) {
            args = a;
          } else {
            bad_field(cat + ".function.arguments", "'{}.function.arguments' must be a JSON object (as text or as is)", cat);
          }
        }
        json out_call = {{"type", "function"}, {"function", {{"name", fn["name"]}, {"arguments", args}}}};
        if (call.contains("id") && call["id"].is_string()) out_call["id"] = call["id"];
        msg.tool_calls.push_back(std::move(out_call));
      }
    }
    if (auto id = m.find("tool_call_id"); id != m.end() && !id->is_null()) {
      if (!id->is_string()) bad_field(at + ".tool_call_id", "'{}.tool_call_id' must be a string", at);
      msg.tool_call_id = id->get<std::string>();
    }
    for (const char* key : {"name", "tool_name"}) {
      if (auto nm = m.find(key); nm != m.end() && !nm->is_null()) {
        if (!nm->is_string()) bad_field(at + "." + key, "'{}.{}' must be a string", at, key);
        msg.name = nm->get<std::string>();
      }
    }
    out.push_back(std::move(msg));
  }
  return out;
}

json parse_tools(const json& body) {
  auto it = body.find("tools");
  if (it == body.end() || it->is_null()) return nullptr;
  if (!it->is_array()) bad_field("tools", "'tools' must be an array of tools");
  if (it->size() > 128) bad_field("tools", "'tools' has {} items; at most 128 are allowed", it->size());
  for (size_t i = 0; i < it->size(); ++i) {
    const json& t = (*it)[i];
    const std::string at = fmt::format("tools[{}]", i);
    if (!t.is_object()) bad_field(at, "'{}' must be an object", at);
    if (t.contains("type") && !(t["type"].is_string() && t["type"] == "function"))
      bad_field(at + ".type", "'{}.type' must be \"function\"", at);
    if (!t.contains("function") || !t["function"].is_object())
      bad_field(at + ".function", "'{}.function' must be an object with a 'name'", at);
    const json& fn = t["function"];
    if (!fn.contains("name") || !fn["name"].is_string() || fn["name"].get<std::string>().empty())
      bad_field(at + ".function.name", "'{}.function.name' must be a non-empty string", at);
    if (fn.contains("parameters") && !fn["parameters"].is_null() && !fn["parameters"].is_object())
      bad_field(at + ".function.parameters", "'{}.function.parameters' must be a JSON schema object", at);
  }
  if (it->empty()) return nullptr;
  return *it;
}

nlohmann::ordered_json template_messages(const std::vector<Message>& messages) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const Message& msg : messages) {
    nlohmann::ordered_json m = {{"role", msg.role}};
    m["content"] = msg.has_content || msg.tool_calls.is_null() ? nlohmann::ordered_json(msg.content)
                                                              : nlohmann::ordered_json(nullptr);
    if (!msg.tool_calls.is_null()) {
      nlohmann::ordered_json calls = nlohmann::ordered_json::array();
      for (const json& c : msg.tool_calls) {
        nlohmann::ordered_json oc;
        if (c.contains("id")) oc["id"] = c["id"].get<std::string>();
        oc["type"] = "function";
        oc["function"] = {{"name", c["function"]["name"].get<std::string>()},
                          {"arguments", nlohmann::ordered_json::parse(c["function"]["arguments"].dump())}};
        calls.push_back(std::move(oc));
      }
      m["tool_calls"] = std::move(calls);
    }
    if (!msg.tool_call_id.empty()) m["tool_call_id"] = msg.tool_call_id;
    if (!msg.name.empty()) m["name"] = msg.name;
    out.push_back(std::move(m));
  }
  return out;
}

ChatPrompt format_chat(const model::Model& m, const std::vector<Message>& messages, const json& tools) {
  const tokenizer::Tokenizer& tok = m.tokenizer();
  chat::ChatFormat cf = [&] {
    try {
      return chat::ChatFormat::from_model(m.file(), tok);
    } catch (const Error& e) {
      // A template that does not parse: the model's file is at fault, not the request.
      throw Error(ErrorKind::format, fmt::format("the model's chat template cannot be used: {}", e.what()));
    }
  }();
  chat::ChatInputs in;
  in.messages = template_messages(messages);
  if (!tools.is_null()) in.tools = nlohmann::ordered_json::parse(tools.dump());
  in.add_generation_prompt = true;
  std::string text;
  try {
    text = cf.render(std::move(in));
  } catch (const Error& e) {
    throw RequestError(400, "messages", fmt::format("the model's chat template rejected the conversation: {}", e.what()));
  }
  ChatPrompt p;
  p.tokens = cf.tokenize(tok, text);
  p.tool_format = cf.tool_format();
  if (!tools.is_null()) {
    for (const std::string& marker : chat::tool_call_markers(p.tool_format)) {
      const tokenizer::Token id = tok.vocab().find(marker);
      if (id >= 0) p.keep_special.push_back(id);
    }
  }
  return p;
}

namespace {
// A call's arguments as JSON text; bytes that are not UTF-8 (model output can have them in
// XML-style values) become U+FFFD rather than failing the response.
std::string args_text(const chat::ToolCall& c) {
  return c.arguments.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}
}  // namespace

json openai_tool_calls(const std::vector<chat::ToolCall>& calls, chat::ToolFormat format) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  json out = json::array();
  for (const chat::ToolCall& c : calls) {
    out.push_back({{"id", c.id.empty() ? chat::make_tool_call_id(format, rng()) : c.id},
                   {"type", "function"},
                   {"function", {{"name", c.name}, {"arguments", args_text(c)}}}});
  }
  return out;
}

json ollama_tool_calls(const std::vector<chat::ToolCall>& calls) {
  json out = json::array();
  for (const chat::ToolCall& c : calls)
    out.push_back({{"function", {{"name", c.name}, {"arguments", json::parse(args_text(c))}}}});
  return out;
}

json openai_chat_message(const std::string& text, bool tools, chat::ToolFormat format, std::string& finish_reason) {
  if (tools) {
    chat::ParsedOutput parsed = chat::parse_tool_calls(text, format);
    if (!parsed.tool_calls.empty()) {
      finish_reason = "tool_calls";
      return {{"role", "assistant"},
              {"content", parsed.content.empty() ? json(nullptr) : json(parsed.content)},
              {"tool_calls", openai_tool_calls(parsed.tool_calls, format)}};
    }
  }
  return {{"role", "assistant"}, {"content", text}};
}

void Metrics::record(const engine::Event& ev) {
  prompt_tokens += static_cast<uint64_t>(ev.prompt_tokens);
  generated_tokens += static_cast<uint64_t>(ev.completion_tokens);
  gen_ns += static_cast<uint64_t>(ev.gen_s * 1e9);
  if (ev.gen_s > 0 && ev.completion_tokens > 1) {
    std::lock_guard<std::mutex> lock(mu);
    last_tokens_per_second = static_cast<double>(ev.completion_tokens) / ev.gen_s;
  }
}

std::unique_ptr<engine::Lease> acquire_model(engine::Registry& reg, const Job& job) {
  try {
    return reg.acquire(job.model, job.load, job.keep_alive);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::not_found) throw RequestError(404, "model", e.what());
    if (e.kind() == ErrorKind::limit) throw RequestError(503, "model", e.what());
    throw;
  }
}

std::shared_ptr<Running> start(std::unique_ptr<engine::Lease> lease, Job job, double load_s) {
  auto run = std::make_shared<Running>();
  run->lease = std::move(lease);
  run->load_s = load_s;
  engine::Scheduler& sched = (*run->lease)->scheduler();
  const int64_t n_prompt = static_cast<int64_t>(job.req.prompt.size());
  if (n_prompt == 0) throw RequestError(400, "prompt", "the prompt is empty (it encodes to no tokens)");
  if (n_prompt >= sched.n_ctx())
    throw RequestError(400, "prompt",
                       fmt::format("the prompt is {} tokens but the context limit is {} tokens (prompt and output "
                                   "together); shorten it or load the model with a larger context",
                                   n_prompt, sched.n_ctx()));
  for (int i = 0; i < job.n; ++i) {
    engine::Request r = job.req;
    r.sampling.seed = job.req.sampling.seed + static_cast<uint64_t>(i);
    try {
      run->gens.push_back(sched.submit(std::move(r)));
    } catch (const engine::Busy& e) {
      throw RequestError(503, "", e.what());
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::invalid_argument) throw RequestError(400, "", e.what());
      throw;
    }
  }
  return run;
}

bool next_event(Running& run, size_t choice, const ClientConnection& client, engine::Event& ev) {
  engine::Generation& gen = *run.gens.at(choice);
  for (;;) {
    bool timed_out = false;
    const bool got = gen.next_for(ev, std::chrono::milliseconds(100), &timed_out);
    if (got || !timed_out) {
      // After each event (one decoding step), unless it is the last one.
      if (got && !ev.done && client.gone()) break;
      return got;
    }
    if (client.gone()) break;  // queued, or a long prompt evaluation
  }
  for (auto& g : run.gens) g->cancel();
  throw ClientGone();
}

std::chrono::seconds parse_keep_alive(const json& v, const std::string& field) {
  if (v.is_number()) {
    const double d = v.get<double>();
    if (!std::isfinite(d)) bad_field(field, "'{}' must be a finite number of seconds", field);
    if (d < 0) return std::chrono::seconds(-1);
    return std::chrono::seconds(static_cast<int64_t>(std::min(d, 1e12)));
  }
  if (!v.is_string()) bad_field(field, "'{}' must be a duration such as \"5m\" or a number of seconds", field);
  const std::string s = v.get<std::string>();
  if (s.empty()) bad_field(field, "'{}' must not be empty", field);
  if (s[0] == '-') return std::chrono::seconds(-1);
  // Go-style durations: sequences of <number><unit>, unit in h, m, s, ms; a bare number is seconds.
  double total = 0;
  size_t i = 0;
  bool any = false;
  while (i < s.size()) {
    size_t j = i;
    while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '.')) ++j;
    if (j == i) bad_field(field, "'{}': cannot read the duration \"{}\"", field, s);
    const double num = std::strtod(s.substr(i, j - i).c_str(), nullptr);
    size_t k = j;
    while (k < s.size() && std::isalpha(static_cast<unsigned char>(s[k]))) ++k;
    const std::string unit = s.substr(j, k - j);
    double mult = 0;
    if (unit.empty() || unit == "s") mult = 1;
    else if (unit == "m") mult = 60;
    else if (unit == "h") mult = 3600;
    else if (unit == "ms") mult = 0.001;
    else bad_field(field, "'{}': unknown unit '{}' in \"{}\" (use h, m, s or ms)", field, unit, s);
    total += num * mult;
    any = true;
    i = k;
  }
  if (!any) bad_field(field, "'{}': cannot read the duration \"{}\"", field, s);
  return std::chrono::seconds(static_cast<int64_t>(std::min(total, 1e12)));
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string rfc3339(std::chrono::system_clock::time_point t) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ns / 1000000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:09d}Z", buf, ns % 1000000000);
}

std::string rfc3339_now() { return rfc3339(std::chrono::system_clock::now()); }

void stream_response(httplib::Response& res, std::shared_ptr<Running> run, ClientConnection client,
                     const char* content_type, EmitFn emit, std::function<std::string()> trailer, Metrics* metrics) {
  struct State {
    std::shared_ptr<Running> run;
    size_t choice = 0;
    bool done = false;
  };
  auto st = std::make_shared<State>();
  st->run = std::move(run);
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      content_type,
      [st, client, emit, trailer, metrics](size_t, httplib::DataSink& sink) -> bool {
        if (st->done) {
          sink.done();
          return true;
        }
        auto& gens = st->run->gens;
        engine::Event ev;
        bool timed_out = false;
        // Wait for the next event, checking the client every 100 ms.
        for (;;) {
          if (gens[st->choice]->next_for(ev, std::chrono::milliseconds(100), &timed_out)) break;
          if (!timed_out) {  // cannot happen: every generation ends with a done event
            st->done = true;
            sink.done();
            return true;
          }
          // is_writable() alone misses a closed connection while nothing is written (queued,
          // prompt evaluation): the socket itself is asked too.
          if (!sink.is_writable() || client.gone()) {
            for (auto& g : gens) g->cancel();
            return false;
          }
        }
        if (ev.done && metrics != nullptr) metrics->record(ev);
        std::string out = emit(st->choice, ev);
        if (ev.done) {
          ++st->choice;
          if (st->choice == gens.size()) {
            st->done = true;
            out += trailer ? trailer() : std::string();
          }
        }
        if (!out.empty() && !sink.write(out.data(), out.size())) {
          for (auto& g : gens) g->cancel();
          return false;
        }
        if (st->done) sink.done();
        return true;
      },
      [st, metrics](bool) {
        // Released: finished, or the client went away — stop whatever still runs.
        if (!st->done && metrics != nullptr) ++metrics->cancelled;
        for (auto& g : st->run->gens) g->cancel();
      });
}

}  // namespace hearth::server
