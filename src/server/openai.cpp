// OpenAI-compatible routes: POST /v1/chat/completions, POST /v1/completions, GET /v1/models.
#include <chrono>
#include <random>

#include "gguf/summary.h"
#include "server/routes.h"

namespace hearth::server {

namespace {

using engine::Event;

std::string random_id(const char* prefix) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{}{:016x}", prefix, rng());
}

// The fields both endpoints share. Sets job.req.sampling, max_tokens, stop, n, logprobs.
struct Common {
  bool stream = false;
  bool include_usage = false;
  bool logprobs = false;
  int top_logprobs = 0;
  json tools;  // the tools the template is shown (null: none; tool calls are then not parsed)
};

Common parse_common(const json& body, Job& job, bool chat) {
  Fields f(body);
  Common c;
  const auto model = f.str("model");
  if (!model || model->empty()) bad_field("model", "'model' is required");
  job.model = *model;
  c.stream = f.boolean("stream").value_or(false);
  if (const json* so = f.get("stream_options")) {
    if (!so->is_object()) bad_field("stream_options", "'stream_options' must be an object");
    if (!c.stream) bad_field("stream_options", "'stream_options' is only allowed with \"stream\": true");
    c.include_usage = Fields(*so, "stream_options.").boolean("include_usage").value_or(false);
  }
  sample::SamplerParams& sp = job.req.sampling;
  sp.temperature = static_cast<float>(f.number("temperature", 0, 2).value_or(1.0));
  sp.top_p = static_cast<float>(f.number("top_p", 0, 1).value_or(1.0));
  sp.top_k = static_cast<int32_t>(f.integer("top_k", 0, 1 << 20).value_or(0));      // extension
  sp.min_p = static_cast<float>(f.number("min_p", 0, 1).value_or(0.0));             // extension
  sp.repeat_penalty = static_cast<float>(f.number("repeat_penalty", 0.01, 10).value_or(1.0));  // extension
  sp.presence_penalty = static_cast<float>(f.number("presence_penalty", -2, 2).value_or(0.0));
  sp.frequency_penalty = static_cast<float>(f.number("frequency_penalty", -2, 2).value_or(0.0));
  sp.penalty_last_n = -1;
  if (auto seed = f.integer("seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()))
    sp.seed = static_cast<uint64_t>(*seed);
  else
    sp.seed = std::random_device{}();
  if (const json* lb = f.get("logit_bias")) {
    if (!lb->is_object()) bad_field("logit_bias", "'logit_bias' must be an object of token id → bias");
    for (auto it = lb->begin(); it != lb->end(); ++it) {
      char* end = nullptr;
      const long id = std::strtol(it.key().c_str(), &end, 10);
      if (it.key().empty() || *end != '\0' || id < 0 || id > std::numeric_limits<int32_t>::max())
        bad_field("logit_bias", "'logit_bias': key '{}' is not a token id", it.key());
      if (!it->is_number() || it->get<double>() < -100 || it->get<double>() > 100)
        bad_field("logit_bias", "'logit_bias': the bias of token {} must be a number between -100 and 100", id);
      sp.logit_bias[static_cast<int32_t>(id)] = it->get<float>();
    }
  }
  std::optional<int64_t> max_tokens = f.integer("max_tokens", 0, 1 << 24);
  if (chat) {
    if (auto mct = f.integer("max_completion_tokens", 0, 1 << 24)) max_tokens = mct;
  }
  job.req.max_tokens = max_tokens.value_or(chat ? -1 : 16);
  if (auto stop = f.strings("stop", 4)) job.req.stop = *stop;
  job.n = static_cast<int>(f.integer("n", 1, 16).value_or(1));
  job.req.ignore_eos = f.boolean("ignore_eos").value_or(false);  // extension (benchmarks)
  job.req.cache_prompt = f.boolean("cache_prompt").value_or(true);  // extension
  if (chat) {
    c.logprobs = f.boolean("logprobs").value_or(false);
    if (auto tl = f.integer("top_logprobs", 0, 20)) {
      if (!c.logprobs) bad_field("top_logprobs", "'top_logprobs' needs \"logprobs\": true");
      c.top_logprobs = static_cast<int>(*tl);
    }
  } else if (auto lp = f.integer("logprobs", 0, 5)) {
    c.logprobs = true;
    c.top_logprobs = static_cast<int>(*lp);
  }
  job.req.top_logprobs = c.logprobs ? c.top_logprobs : -1;
  if (const json* rf = f.get("response_format")) {
    if (!rf->is_object() || !rf->contains("type") || !(*rf)["type"].is_string())
      bad_field("response_format", "'response_format' must be an object with a 'type'");
    const std::string type = (*rf)["type"].get<std::string>();
    if (type == "json_object") job.req.json_mode = true;  // constrained sampling (docs/server.md)
    else if (type == "json_schema")
      bad_field("response_format", "'response_format' json_schema is not supported yet (use json_object)");
    else if (type != "text") bad_field("response_format", "'response_format.type' must be text, json_object or json_schema");
  }
  if (chat) {
    c.tools = parse_tools(body);
    // tool_choice: "auto" (default), "none" (the model is not shown the tools), "required" (as
    // auto: nothing can force a call without constrained sampling), or a named function (the
    // model is shown only that tool).
    if (const json* tc = f.get("tool_choice")) {
      if (tc->is_string()) {
        const std::string v = tc->get<std::string>();
        if (v == "none") c.tools = nullptr;
        else if (v != "auto" && v != "required")
          bad_field("tool_choice", "'tool_choice' must be \"none\", \"auto\", \"required\" or {{\"type\": \"function\", \"function\": {{\"name\": …}}}}");
      } else if (tc->is_object() && tc->contains("function") && (*tc)["function"].is_object() &&
                 (*tc)["function"].contains("name") && (*tc)["function"]["name"].is_string()) {
        const std::string name = (*tc)["function"]["name"].get<std::string>();
        json only = json::array();
        if (c.tools.is_array())
          for (const json& t : c.tools)
            if (t["function"]["name"] == name) only.push_back(t);
        if (only.empty()) bad_field("tool_choice", "'tool_choice' names the function '{}', which is not in 'tools'", name);
        c.tools = only;
      } else {
        bad_field("tool_choice", "'tool_choice' must be \"none\", \"auto\", \"required\" or {{\"type\": \"function\", \"function\": {{\"name\": …}}}}");
      }
    }
  }
  if (f.boolean("echo").value_or(false)) bad_field("echo", "'echo' is not supported yet");
  if (auto suffix = f.str("suffix"); suffix && !suffix->empty()) bad_field("suffix", "'suffix' is not supported yet");
  if (auto best_of = f.integer("best_of", 1, 16); best_of && *best_of != job.n)
    bad_field("best_of", "'best_of' is not supported (use n)");
  return c;
}

json logprobs_chat(const tokenizer::Tokenizer& tok, const Event& ev) {
  json content = json::array();
  for (size_t i = 0; i < ev.logprobs.size() && i < ev.tokens.size(); ++i) {
    auto entry = [&](tokenizer::Token t, float lp) {
      const std::string piece = tok.token_to_piece(t);
      json bytes = json::array();
      for (unsigned char c : piece) bytes.push_back(c);
      return json{{"token", piece}, {"logprob", lp}, {"bytes", bytes}};
    };
    json e = entry(ev.tokens[i], ev.logprobs[i]);
    json top = json::array();
    if (i < ev.top.size())
      for (const auto& tl : ev.top[i]) top.push_back(entry(tl.token, tl.logprob));
    e["top_logprobs"] = top;
    content.push_back(e);
  }
  return content;
}

// Completions: {tokens, token_logprobs, top_logprobs, text_offset}, appended to `lp`.
void logprobs_completion(const tokenizer::Tokenizer& tok, const Event& ev, json& lp, size_t& offset) {
  for (size_t i = 0; i < ev.logprobs.size() && i < ev.tokens.size(); ++i) {
    const std::string piece = tok.token_to_piece(ev.tokens[i]);
    lp["tokens"].push_back(piece);
    lp["token_logprobs"].push_back(ev.logprobs[i]);
    json top = json::object();
    if (i < ev.top.size())
      for (const auto& tl : ev.top[i]) top[tok.token_to_piece(tl.token)] = tl.logprob;
    lp["top_logprobs"].push_back(top);
    lp["text_offset"].push_back(offset);
    offset += piece.size();
  }
}

json empty_completion_logprobs() {
  return json{{"tokens", json::array()}, {"token_logprobs", json::array()}, {"top_logprobs", json::array()},
              {"text_offset", json::array()}};
}

json usage_json(int64_t prompt, int64_t completion, int64_t cached) {
  return json{{"prompt_tokens", prompt},
              {"completion_tokens", completion},
              {"total_tokens", prompt + completion},
              {"prompt_tokens_details", {{"cached_tokens", cached}}}};
}

std::string finish_reason(const Event& ev) { return ev.finish_reason == "length" ? "length" : "stop"; }

void handle(const httplib::Request& hreq, httplib::Response& res, engine::Registry& reg, Metrics& metrics, bool chat) {
  const json body = parse_body(hreq.body);
  Job job;
  const Common c = parse_common(body, job, chat);
  std::vector<Message> messages;
  std::vector<tokenizer::Token> prompt_tokens;
  std::string prompt_text;
  bool have_tokens = false;
  if (chat) {
    messages = parse_messages(body);
  } else {
    auto it = body.find("prompt");
    if (it == body.end() || it->is_null()) bad_field("prompt", "'prompt' is required");
    if (it->is_string()) {
      prompt_text = it->get<std::string>();
    } else if (it->is_array() && it->size() == 1 && (*it)[0].is_string()) {
      prompt_text = (*it)[0].get<std::string>();
    } else if (it->is_array() && !it->empty() && std::all_of(it->begin(), it->end(), [](const json& e) { return e.is_number_integer(); })) {
      for (const json& e : *it) prompt_tokens.push_back(e.get<tokenizer::Token>());
      have_tokens = true;
    } else if (it->is_array() && !it->empty() && std::all_of(it->begin(), it->end(), [](const json& e) { return e.is_string(); })) {
      bad_field("prompt", "'prompt': several prompts in one request are not supported yet (send one per request)");
    } else {
      bad_field("prompt", "'prompt' must be a string or an array of token ids");
    }
  }

  const auto t0 = std::chrono::steady_clock::now();
  auto lease = acquire_model(reg, job);
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const model::Model& m = (*lease)->model();
  const tokenizer::Tokenizer& tok = m.tokenizer();
  chat::ToolFormat tool_format = chat::ToolFormat::none;
  if (chat) {
    ChatPrompt p = format_chat(m, messages, c.tools);
    job.req.prompt = std::move(p.tokens);
    job.req.keep_special = std::move(p.keep_special);
    tool_format = p.tool_format;
  } else if (have_tokens) {
    for (tokenizer::Token t : prompt_tokens)
      if (t < 0 || t >= m.hparams().n_vocab)
        bad_field("prompt", "'prompt': token id {} is outside the vocabulary (0..{})", t, m.hparams().n_vocab - 1);
    job.req.prompt = prompt_tokens;
  } else {
    job.req.prompt = tok.encode(prompt_text, true, false);
  }
  const std::string model_name = job.model;
  const int n = job.n;
  auto run = start(std::move(lease), std::move(job), load_s);
  const std::string id = random_id(chat ? "chatcmpl-" : "cmpl-");
  const int64_t created = unix_now();
  const char* object = chat ? "chat.completion" : "text_completion";

  if (!c.stream) {
    // Generated here, while the client waits; a client that goes away cancels it (next_event).
    const ClientConnection client(hreq);
    json choices = json::array();
    int64_t prompt_tokens_n = 0, completion = 0, cached = 0;
    for (int i = 0; i < n; ++i) {
      std::string text;
      json lp_chat = json::array();
      json lp_comp = empty_completion_logprobs();
      size_t offset = 0;
      Event ev;
      Event last;
      while (next_event(*run, static_cast<size_t>(i), client, ev)) {
        text += ev.text;
        if (c.logprobs) {
          if (chat) {
            for (auto& e : logprobs_chat(tok, ev)) lp_chat.push_back(e);
          } else {
            logprobs_completion(tok, ev, lp_comp, offset);
          }
        }
        if (ev.done) last = ev;
      }
      if (last.finish_reason == "error") throw Error(ErrorKind::internal, "generation failed: " + last.error);
      metrics.record(last);
      prompt_tokens_n = last.prompt_tokens;
      completion += last.completion_tokens;
      cached += last.cached_tokens;
      std::string reason = finish_reason(last);
      json choice = {{"index", i}};
      if (chat) {
        choice["message"] = openai_chat_message(text, !c.tools.is_null(), tool_format, reason);
        choice["logprobs"] = c.logprobs ? json{{"content", lp_chat}} : json(nullptr);
      } else {
        choice["text"] = text;
        choice["logprobs"] = c.logprobs ? lp_comp : json(nullptr);
      }
      choice["finish_reason"] = reason;
      choices.push_back(choice);
    }
    json out = {{"id", id},           {"object", object},   {"created", created}, {"model", model_name},
                {"choices", choices}, {"usage", usage_json(prompt_tokens_n, completion, cached)},
                {"system_fingerprint", "hearth"}};
    res.set_content(dump(out), "application/json");
    return;
  }

  // Streaming: one SSE event per token (or per piece of text), then [DONE].
  struct Totals {
    int64_t prompt = 0, completion = 0, cached = 0;
    std::vector<bool> started;
    std::vector<size_t> offsets;
    std::vector<std::string> held;  // with tools: each choice's text, parsed at the end
  };
  auto totals = std::make_shared<Totals>();
  totals->started.assign(static_cast<size_t>(n), false);
  totals->offsets.assign(static_cast<size_t>(n), 0);
  totals->held.assign(static_cast<size_t>(n), std::string());
  const bool tools = !c.tools.is_null();
  const std::string chunk_object = chat ? "chat.completion.chunk" : "text_completion";
  const bool include_usage = c.include_usage, logprobs = c.logprobs;
  const tokenizer::Tokenizer* tokp = &tok;
  auto chunk = [=](json choice) {
    json j = {{"id", id},         {"object", chunk_object}, {"created", created},
              {"model", model_name}, {"system_fingerprint", "hearth"}, {"choices", json::array({choice})}};
    if (include_usage) j["usage"] = nullptr;
    return "data: " + dump(j) + "\n\n";
  };
  auto emit = [=](size_t i, const Event& ev) -> std::string {
    std::string out;
    if (ev.done && ev.finish_reason == "error") {
      return "data: " + dump(json{{"error", {{"message", "generation failed: " + ev.error}, {"type", "server_error"},
                                             {"param", nullptr}, {"code", nullptr}}}}) + "\n\n";
    }
    if (chat && !totals->started[i]) {
      totals->started[i] = true;
      out += chunk({{"index", i}, {"delta", {{"role", "assistant"}, {"content", ""}}}, {"logprobs", nullptr},
                    {"finish_reason", nullptr}});
    }
    if (tools) {
      // With tools the text is held back until the end, where calls are parsed out of it: a
      // call cannot be told from text while it is being written (Llama 3 writes bare JSON).
      totals->held[i] += ev.text;
      if (!ev.done) return out;
      std::string reason = finish_reason(ev);
      const json msg = openai_chat_message(totals->held[i], true, tool_format, reason);
      if (msg["content"].is_string() && !msg["content"].get<std::string>().empty())
        out += chunk({{"index", i}, {"delta", {{"content", msg["content"]}}}, {"logprobs", nullptr},
                      {"finish_reason", nullptr}});
      if (msg.contains("tool_calls")) {
        json deltas = json::array();
        int k = 0;
        for (const json& tc : msg["tool_calls"]) {
          json d = tc;
          d["index"] = k++;
          deltas.push_back(d);
        }
        out += chunk({{"index", i}, {"delta", {{"tool_calls", deltas}}}, {"logprobs", nullptr},
                      {"finish_reason", nullptr}});
      }
      totals->prompt = ev.prompt_tokens;
      totals->completion += ev.completion_tokens;
      totals->cached += ev.cached_tokens;
      out += chunk({{"index", i}, {"delta", json::object()}, {"logprobs", nullptr}, {"finish_reason", reason}});
      return out;
    }
    const bool has_lp = logprobs && !ev.logprobs.empty();
    if (!ev.text.empty() || has_lp) {
      json choice = {{"index", i}, {"finish_reason", nullptr}};
      if (chat) {
        choice["delta"] = {{"content", ev.text}};
        choice["logprobs"] = has_lp ? json{{"content", logprobs_chat(*tokp, ev)}} : json(nullptr);
      } else {
        choice["text"] = ev.text;
        if (has_lp) {
          json lp = empty_completion_logprobs();
          logprobs_completion(*tokp, ev, lp, totals->offsets[i]);
          choice["logprobs"] = lp;
        } else {
          choice["logprobs"] = nullptr;
        }
      }
      out += chunk(choice);
    }
    if (ev.done) {
      totals->prompt = ev.prompt_tokens;
      totals->completion += ev.completion_tokens;
      totals->cached += ev.cached_tokens;
      json choice = {{"index", i}, {"finish_reason", finish_reason(ev)}, {"logprobs", nullptr}};
      if (chat) choice["delta"] = json::object();
      else choice["text"] = "";
      out += chunk(choice);
    }
    return out;
  };
  auto trailer = [=]() -> std::string {
    std::string out;
    if (include_usage) {
      json j = {{"id", id},           {"object", chunk_object},       {"created", created},
                {"model", model_name}, {"system_fingerprint", "hearth"}, {"choices", json::array()},
                {"usage", usage_json(totals->prompt, totals->completion, totals->cached)}};
      out += "data: " + dump(j) + "\n\n";
    }
    return out + "data: [DONE]\n\n";
  };
  stream_response(res, run, ClientConnection(hreq), "text/event-stream", emit, trailer, &metrics);
}

}  // namespace

void add_openai_routes(httplib::Server& http, engine::Registry& reg, Metrics& metrics) {
  http.Post("/v1/chat/completions", guarded(Api::openai, metrics, [&reg, &metrics](const auto& req, auto& res) {
              handle(req, res, reg, metrics, true);
            }));
  http.Post("/v1/completions", guarded(Api::openai, metrics, [&reg, &metrics](const auto& req, auto& res) {
              handle(req, res, reg, metrics, false);
            }));
  auto model_json = [](const engine::ModelFile& f) {
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(
        std::chrono::file_clock::to_sys(f.mtime).time_since_epoch()).count();
    return json{{"id", f.name}, {"object", "model"}, {"created", secs}, {"owned_by", "hearth"}};
  };
  http.Get("/v1/models", guarded(Api::openai, metrics, [&reg, model_json](const auto&, auto& res) {
             json data = json::array();
             for (const auto& f : reg.list()) data.push_back(model_json(f));
             res.set_content(dump(json{{"object", "list"}, {"data", data}}), "application/json");
           }));
  http.Get(R"(/v1/models/(.+))", guarded(Api::openai, metrics, [&reg, model_json](const auto& req, auto& res) {
             engine::ModelFile f;
             try {
               f = reg.resolve(req.matches[1]);
             } catch (const Error& e) {
               throw RequestError(404, "model", e.what());
             }
             res.set_content(dump(model_json(f)), "application/json");
           }));
}

}  // namespace hearth::server
