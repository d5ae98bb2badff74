#include "server/common.h"

#include <cmath>
#include <ctime>
#include <limits>

namespace hearth::server {

json parse_body(const std::string& body) {
  if (body.empty()) throw RequestError(400, "", "the request body is empty: expected a JSON object");
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) {
    // Parse again with exceptions on, only for the position in the message.
    try {
      (void)json::parse(body);
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
    out.push_back(std::move(msg));
  }
  return out;
}

std::string format_chat(const model::Model& m, const std::vector<Message>& messages) {
  // TODO(chat): render tokenizer.chat_template with src/chat's Jinja interpreter when the model
  // has one. Until then every model gets the plain format below.
  std::string out;
  for (const Message& msg : messages) {
    if (msg.role == "system" || msg.role == "developer") {
      out += msg.content;
      out += "\n\n";
    } else if (msg.role == "user") {
      out += "User: " + msg.content + "\n";
    } else if (msg.role == "assistant") {
      out += "Assistant: " + msg.content + "\n";
    } else {
      out += "Tool: " + msg.content + "\n";
    }
  }
  out += "Assistant:";
  return out;
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

void stream_response(httplib::Response& res, std::shared_ptr<Running> run, const char* content_type, EmitFn emit,
                     std::function<std::string()> trailer, Metrics* metrics) {
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
      [st, emit, trailer, metrics](size_t, httplib::DataSink& sink) -> bool {
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
          if (!sink.is_writable()) {
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
