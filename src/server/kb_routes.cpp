// Knowledge-base routes (docs/server.md, docs/kb.md):
//   POST /api/kb/{name}/search  {query, k?, all?}                       → {kb, query, results: [hit]}
//   POST /api/kb/{name}/ask     {question, model, k?, max_context_tokens?, max_tokens?,
//                                temperature?, seed?, stream?, show_context?}
//     stream (default): NDJSON, {"response": piece, "done": false} per piece of the answer, then
//     {"done": true, answer, sources, citations, dropped, prompt_tokens, …};
//     stream false: that final object alone.
// The store is kb.sqlite3 in the server's --data-dir (else $HEARTH_DATA_DIR, XDG data dir).
#include <httplib.h>

#include <memory>

#include "engine/generate.h"
#include "kb/ask.h"
#include "kb/search.h"
#include "kb/store.h"
#include "server/routes.h"

namespace hearth::server {

namespace {

std::string required_str(const Fields& f, const char* name) {
  auto v = f.str(name);
  if (!v || v->find_first_not_of(" \t\r\n") == std::string::npos) bad_field(name, "'{}' is required (a non-empty string)", name);
  return *v;
}

}  // namespace

void add_kb_routes(httplib::Server& http, engine::Registry& reg, Metrics& metrics, const std::string& data_dir) {
  const std::string store_path = kb::default_store_path(data_dir);

  http.Post(R"(/api/kb/([^/]+)/search)", guarded(Api::ollama, metrics, [store_path](const httplib::Request& req,
                                                                                      httplib::Response& res) {
    const json body = parse_body(req.body);
    const Fields f(body);
    const std::string query = required_str(f, "query");
    kb::SearchOptions so;
    so.k = static_cast<int>(f.integer("k", 1, 1000).value_or(10));
    so.match_all = f.boolean("all").value_or(false);
    kb::Store store(store_path);
    const kb::KbInfo k = store.get_kb(req.matches[1]);
    json results = json::array();
    for (const kb::SearchHit& h : kb::search(store, k, query, so)) results.push_back(kb::hit_json(h, true));
    res.set_content(dump({{"kb", k.name}, {"query", query}, {"results", results}}), "application/json");
  }));

  http.Post(R"(/api/kb/([^/]+)/ask)", guarded(Api::ollama, metrics, [store_path, &reg, &metrics](
                                                                       const httplib::Request& req,
                                                                       httplib::Response& res) {
    const json body = parse_body(req.body);
    const Fields f(body);
    const std::string question = required_str(f, "question");
    const std::string model_name = required_str(f, "model");
    kb::AskOptions ao;
    ao.k = static_cast<int>(f.integer("k", 1, 1000).value_or(8));
    ao.max_context_tokens = f.integer("max_context_tokens", 1, int64_t{1} << 30).value_or(0);
    ao.max_answer_tokens = f.integer("max_tokens", 1, int64_t{1} << 30).value_or(512);
    engine::GenerateOptions go;
    go.max_tokens = ao.max_answer_tokens;
    go.sampling.temperature = static_cast<float>(f.number("temperature", 0, 100).value_or(0.2));
    go.sampling.seed = static_cast<uint64_t>(f.integer("seed", 0, INT64_MAX).value_or(0));
    const bool stream = f.boolean("stream").value_or(true);
    const bool show_context = f.boolean("show_context").value_or(false);

    auto prompt = std::make_shared<kb::AskPrompt>();
    std::shared_ptr<engine::TextModel> model;
    {
      kb::Store store(store_path);
      const kb::KbInfo k = store.get_kb(req.matches[1]);  // 404 before the model is loaded
      model = engine::TextModel::open(reg, model_name);
      try {
        *prompt = kb::prepare_ask(store, k, *model, question, ao);
      } catch (const Error& e) {
        if (e.kind() == ErrorKind::limit) throw RequestError(400, "max_context_tokens", e.what());
        throw;
      }
    }
    auto final_object = [prompt, model, show_context, &metrics](const kb::AskResult& r) {
      metrics.prompt_tokens += static_cast<uint64_t>(r.generation.prompt_tokens);
      metrics.generated_tokens += static_cast<uint64_t>(r.generation.completion_tokens);
      json j = {{"done", true}, {"model", model->name()}, {"question", prompt->question}, {"answer", r.answer}};
      j.update(kb::ask_summary_json(*prompt, r));
      if (show_context) j["prompt"] = prompt->text;
      if (r.generation.finish_reason == "error") j["error"] = r.generation.error;
      return j;
    };
    if (!stream) {
      // A client that goes away cancels the generation at its next piece of text.
      const ClientConnection client(req);
      bool gone = false;
      const kb::AskResult r = kb::run_ask(*model, *prompt, go, [&](const std::string&) {
        gone = gone || client.gone();
        return !gone;
      });
      if (gone) throw ClientGone();
      res.set_content(dump(final_object(r)), "application/json");
      return;
    }
    res.set_chunked_content_provider(
        "application/x-ndjson", [prompt, model, go, final_object, &metrics](size_t, httplib::DataSink& sink) {
          bool gone = false;
          std::string line;
          try {
            kb::AskResult r = kb::run_ask(*model, *prompt, go, [&](const std::string& piece) {
              const std::string piece_line = dump({{"response", piece}, {"done", false}}) + "\n";
              if (!sink.is_writable() || !sink.write(piece_line.data(), piece_line.size())) gone = true;
              return !gone;
            });
            if (gone) {
              ++metrics.cancelled;
              return false;
            }
            line = dump(final_object(r)) + "\n";
          } catch (const std::exception& e) {
            // The status line has gone out: the error ends the stream as its last object.
            ++metrics.errors;
            line = dump({{"done", true}, {"error", e.what()}}) + "\n";
          }
          sink.write(line.data(), line.size());
          sink.done();
          return true;
        });
  }));
}

}  // namespace hearth::server
