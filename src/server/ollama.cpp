// Ollama-compatible routes: /api/generate, /api/chat (NDJSON streaming), /api/tags, /api/show,
// /api/ps, /api/version.
#include <chrono>
#include <random>

#include "gguf/summary.h"
#include "server/routes.h"
#include "util/version.h"

namespace hearth::server {

namespace {

using engine::Event;

int64_t ns(double seconds) { return static_cast<int64_t>(seconds * 1e9); }

// Ollama's "options" object → sampling, length and load parameters.
void parse_options(const json& body, Job& job) {
  sample::SamplerParams& sp = job.req.sampling;
  // Ollama's defaults.
  sp.temperature = 0.8f;
  sp.top_k = 40;
  sp.top_p = 0.9f;
  sp.min_p = 0.0f;
  sp.repeat_penalty = 1.1f;
  sp.penalty_last_n = 64;
  sp.seed = std::random_device{}();
  job.req.max_tokens = -1;
  auto it = body.find("options");
  if (it == body.end() || it->is_null()) return;
  if (!it->is_object()) bad_field("options", "'options' must be an object");
  Fields f(*it, "options.");
  if (auto v = f.number("temperature", 0, 100)) sp.temperature = static_cast<float>(*v);
  if (auto v = f.integer("top_k", 0, 1 << 20)) sp.top_k = static_cast<int32_t>(*v);
  if (auto v = f.number("top_p", 0, 1)) sp.top_p = static_cast<float>(*v);
  if (auto v = f.number("min_p", 0, 1)) sp.min_p = static_cast<float>(*v);
  if (auto v = f.number("typical_p", 0, 1)) sp.typical_p = static_cast<float>(*v);
  if (auto v = f.number("repeat_penalty", 0.01, 100)) sp.repeat_penalty = static_cast<float>(*v);
  if (auto v = f.integer("repeat_last_n", -1, 1 << 20)) sp.penalty_last_n = static_cast<int32_t>(*v);
  if (auto v = f.number("presence_penalty", -100, 100)) sp.presence_penalty = static_cast<float>(*v);
  if (auto v = f.number("frequency_penalty", -100, 100)) sp.frequency_penalty = static_cast<float>(*v);
  if (auto v = f.integer("seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()))
    sp.seed = static_cast<uint64_t>(*v);
  if (auto v = f.integer("num_predict", -2, 1 << 24)) job.req.max_tokens = *v < 0 ? -1 : *v;
  if (auto v = f.strings("stop", 16)) job.req.stop = *v;
  if (auto v = f.integer("num_ctx", 0, 1 << 20)) {
    if (*v > 0 && *v < 16) bad_field("options.num_ctx", "'options.num_ctx' must be at least 16 (got {})", *v);
    job.load.n_ctx = *v;
  }
  if (auto v = f.integer("num_thread", 0, 1024)) job.load.n_threads = static_cast<int>(*v);
  // Accepted and ignored (no effect on a CPU engine): num_batch, num_gpu, main_gpu, use_mmap, …
}

void parse_common(const json& body, Job& job, bool& stream) {
  Fields f(body);
  const auto model = f.str("model");
  if (!model || model->empty()) bad_field("model", "'model' is required");
  job.model = *model;
  stream = f.boolean("stream").value_or(true);
  job.req.cache_prompt = f.boolean("cache_prompt").value_or(true);  // extension
  if (const json* ka = f.get("keep_alive")) job.keep_alive = parse_keep_alive(*ka, "keep_alive");
  if (const json* fmt_ = f.get("format")) {
    // "json": constrained sampling keeps the output a JSON object (docs/server.md).
    if (fmt_->is_string() && fmt_->get<std::string>() == "json") job.req.json_mode = true;
    else if (fmt_->is_object())
      bad_field("format", "'format' with a JSON schema is not supported yet (use \"json\")");
    else if (!(fmt_->is_string() && fmt_->get<std::string>().empty()))
      bad_field("format", "'format' must be \"json\" (or a JSON schema, not supported yet)");
  }
  parse_options(body, job);
}

json details_json(const gguf::Summary& s) {
  std::string quant;
  for (const auto& [type, totals] : s.by_type)
    if (quant.empty() || totals.bytes > s.by_type.at(quant).bytes) quant = type;
  return json{{"parent_model", ""},
              {"format", "gguf"},
              {"family", s.architecture},
              {"families", json::array({s.architecture})},
              {"parameter_size", gguf::human_count(s.n_parameters)},
              {"quantization_level", quant}};
}

gguf::Summary summary_of(const std::string& path) {
  return gguf::summarize(gguf::File::open(path));
}

// The timing/count fields of Ollama's final object.
void add_final_fields(json& j, const Event& ev, double load_s, double total_s) {
  j["done_reason"] = ev.finish_reason == "length" ? "length" : "stop";
  j["total_duration"] = ns(total_s);
  j["load_duration"] = ns(load_s);
  j["prompt_eval_count"] = ev.prompt_tokens;
  j["prompt_eval_duration"] = ns(ev.prompt_s);
  j["eval_count"] = ev.completion_tokens;
  j["eval_duration"] = ns(ev.gen_s);
}

void handle(const httplib::Request& hreq, httplib::Response& res, engine::Registry& reg, Metrics& metrics, bool chat) {
  const json body = parse_body(hreq.body);
  Job job;
  bool stream = true;
  parse_common(body, job, stream);
  Fields f(body);
  std::vector<Message> messages;
  std::string prompt, system;
  bool raw = false;
  std::vector<tokenizer::Token> context;
  json tools;  // chat: the tools shown to the model (null: none)
  if (chat) {
    if (f.has("messages")) messages = parse_messages(body);
    tools = parse_tools(body);
  } else {
    prompt = f.str("prompt").value_or("");
    system = f.str("system").value_or("");
    raw = f.boolean("raw").value_or(false);
    if (auto t = f.str("template"); t && !t->empty()) bad_field("template", "'template' is not supported yet");
    if (auto s = f.str("suffix"); s && !s->empty()) bad_field("suffix", "'suffix' is not supported yet");
    if (const json* images = f.get("images"); images && !images->empty())
      bad_field("images", "'images': images are not supported (text models only)");
    if (const json* ctx = f.get("context")) {
      if (!ctx->is_array()) bad_field("context", "'context' must be an array of token ids");
      for (const json& t : *ctx) {
        if (!t.is_number_integer()) bad_field("context", "'context' must be an array of token ids");
        context.push_back(t.get<tokenizer::Token>());
      }
    }
  }

  const auto t0 = std::chrono::steady_clock::now();
  // No prompt / no messages: load (or, with keep_alive 0, unload) the model and answer done.
  const bool empty = chat ? messages.empty() : prompt.empty();
  if (empty) {
    json j = {{"model", job.model}, {"created_at", rfc3339_now()}, {"done", true}};
    if (job.keep_alive && job.keep_alive->count() == 0) {
      try {
        reg.unload(job.model);
      } catch (const Error& e) {
        throw RequestError(404, "model", e.what());
      }
      j["done_reason"] = "unload";
    } else {
      auto lease = acquire_model(reg, job);
      j["done_reason"] = "load";
    }
    if (chat) j["message"] = {{"role", "assistant"}, {"content", ""}};
    else j["response"] = "";
    res.set_content(dump(j), "application/json");
    return;
  }
  auto lease = acquire_model(reg, job);
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const model::Model& m = (*lease)->model();
  const tokenizer::Tokenizer& tok = m.tokenizer();
  chat::ToolFormat tool_format = chat::ToolFormat::none;
  if (chat) {
    ChatPrompt p = format_chat(m, messages, tools);
    job.req.prompt = std::move(p.tokens);
    job.req.keep_special = std::move(p.keep_special);
    tool_format = p.tool_format;
  } else {
    for (tokenizer::Token t : context)
      if (t < 0 || t >= m.hparams().n_vocab)
        bad_field("context", "'context': token id {} is outside the vocabulary (0..{})", t, m.hparams().n_vocab - 1);
    const std::string text = raw || system.empty() ? prompt : system + "\n\n" + prompt;
    job.req.prompt = context;
    auto more = tok.encode(text, context.empty(), false);
    job.req.prompt.insert(job.req.prompt.end(), more.begin(), more.end());
  }
  const std::string model_name = job.model;
  auto run = start(std::move(lease), std::move(job), load_s);
  const auto started = t0;

  const bool use_tools = chat && !tools.is_null();
  // The assistant message; with tools, calls parsed out of the text become message.tool_calls.
  auto message = [=](const std::string& text) {
    json msg = {{"role", "assistant"}, {"content", text}};
    if (use_tools) {
      chat::ParsedOutput parsed = chat::parse_tool_calls(text, tool_format);
      if (!parsed.tool_calls.empty()) {
        msg["content"] = parsed.content;
        msg["tool_calls"] = ollama_tool_calls(parsed.tool_calls);
      }
    }
    return msg;
  };
  auto final_json = [=](const Event& ev, const std::string& text) {
    json j = {{"model", model_name}, {"created_at", rfc3339_now()}};
    if (chat) j["message"] = message(text);
    else j["response"] = text;
    j["done"] = true;
    add_final_fields(j, ev, load_s, std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    if (!chat) j["context"] = ev.context;
    return j;
  };

  if (!stream) {
    // Generated here, while the client waits; a client that goes away cancels it (next_event).
    const ClientConnection client(hreq);
    std::string text;
    Event ev, last;
    while (next_event(*run, 0, client, ev)) {
      text += ev.text;
      if (ev.done) last = ev;
    }
    if (last.finish_reason == "error") throw Error(ErrorKind::internal, "generation failed: " + last.error);
    metrics.record(last);
    res.set_content(dump(final_json(last, text)), "application/json");
    return;
  }
  auto held = std::make_shared<std::string>();  // with tools: the text, parsed at the end
  auto emit = [=](size_t, const Event& ev) -> std::string {
    if (ev.done && ev.finish_reason == "error") return dump(json{{"error", "generation failed: " + ev.error}}) + "\n";
    std::string out;
    if (use_tools) {
      *held += ev.text;
      if (!ev.done) return out;
      json j = {{"model", model_name}, {"created_at", rfc3339_now()}, {"message", message(*held)}, {"done", false}};
      out += dump(j) + "\n";
      return out + dump(final_json(ev, "")) + "\n";
    }
    if (!ev.text.empty()) {
      json j = {{"model", model_name}, {"created_at", rfc3339_now()}};
      if (chat) j["message"] = {{"role", "assistant"}, {"content", ev.text}};
      else j["response"] = ev.text;
      j["done"] = false;
      out += dump(j) + "\n";
    }
    if (ev.done) out += dump(final_json(ev, "")) + "\n";
    return out;
  };
  stream_response(res, run, ClientConnection(hreq), "application/x-ndjson", emit, nullptr, &metrics);
}

}  // namespace

void add_ollama_routes(httplib::Server& http, engine::Registry& reg, Metrics& metrics, engine::ModelDigests& digests) {
  http.Post("/api/generate", guarded(Api::ollama, metrics, [&reg, &metrics](const auto& req, auto& res) {
              handle(req, res, reg, metrics, false);
            }));
  http.Post("/api/chat", guarded(Api::ollama, metrics, [&reg, &metrics](const auto& req, auto& res) {
              handle(req, res, reg, metrics, true);
            }));
  // Files up to this many bytes in all are hashed while a listing waits for them; the rest in
  // the background, listed with "digest": "" until known (docs/server.md).
  constexpr uint64_t kDigestBudget = uint64_t{256} << 20;
  http.Get("/api/tags", guarded(Api::ollama, metrics, [&reg, &digests](const auto&, auto& res) {
             json models = json::array();
             uint64_t budget = kDigestBudget;
             for (const auto& f : reg.list()) {
               json d;
               try {
                 d = details_json(summary_of(f.path));
               } catch (const Error&) {
                 continue;  // not a readable GGUF: not listed
               }
               models.push_back({{"name", f.name + ":latest"},
                                 {"model", f.name + ":latest"},
                                 {"modified_at", rfc3339(std::chrono::file_clock::to_sys(f.mtime))},
                                 {"size", f.size},
                                 {"digest", digests.digest(f.path, &budget)},
                                 {"details", d}});
             }
             res.set_content(dump(json{{"models", models}}), "application/json");
           }));
  http.Post("/api/show", guarded(Api::ollama, metrics, [&reg](const auto& req, auto& res) {
              const json body = parse_body(req.body);
              Fields f(body);
              auto name = f.str("model");
              if (!name) name = f.str("name");  // older clients
              if (!name || name->empty()) bad_field("model", "'model' is required");
              engine::ModelFile mf;
              try {
                mf = reg.resolve(*name);
              } catch (const Error& e) {
                throw RequestError(404, "model", e.what());
              }
              const gguf::File file = gguf::File::open(mf.path);
              const gguf::Summary s = gguf::summarize(file);
              json info = json::object();
              for (const auto& kv : file.metadata()) {
                if (kv.key.starts_with("tokenizer.ggml.") && kv.key != "tokenizer.ggml.model" &&
                    kv.key != "tokenizer.ggml.pre")
                  continue;  // large arrays
                if (auto i = kv.value.as_int()) info[kv.key] = *i;
                else if (auto d = kv.value.as_float()) info[kv.key] = *d;
                else if (auto str = kv.value.as_string()) info[kv.key] = *str;
              }
              info["general.parameter_count"] = s.n_parameters;
              const std::string tmpl = file.find_string("tokenizer.chat_template").value_or("");
              info.erase("tokenizer.chat_template");
              res.set_content(dump(json{{"modelfile", ""},
                                        {"parameters", ""},
                                        {"template", tmpl},
                                        {"details", details_json(s)},
                                        {"model_info", info},
                                        {"modified_at", rfc3339(std::chrono::file_clock::to_sys(mf.mtime))}}),
                              "application/json");
            }));
  http.Get("/api/ps", guarded(Api::ollama, metrics, [&reg, &digests](const auto&, auto& res) {
             json models = json::array();
             uint64_t budget = kDigestBudget;
             for (const auto& l : reg.loaded()) {
               json d;
               try {
                 d = details_json(summary_of(l.path));
               } catch (const Error&) {
                 d = json::object();
               }
               const auto far = std::chrono::system_clock::now() + std::chrono::hours(24 * 365 * 100);
               models.push_back({{"name", l.name + ":latest"},
                                 {"model", l.name + ":latest"},
                                 {"size", l.memory_bytes},
                                 {"digest", digests.digest(l.path, &budget)},
                                 {"details", d},
                                 {"expires_at", rfc3339(std::min(l.expires_at, far))},
                                 {"size_vram", 0},
                                 {"context_length", l.n_ctx}});
             }
             res.set_content(dump(json{{"models", models}}), "application/json");
           }));
  http.Get("/api/version", [](const auto&, auto& res) {
    res.set_content(dump(json{{"version", HEARTH_VERSION}}), "application/json");
  });
}

}  // namespace hearth::server
