// `hearth kb …`: knowledge bases over the user's documents.
//   kb create NAME [--chunking structure|paragraph|fixed] [--chunk-tokens N] [--overlap N] [--tokenizer MODEL.gguf]
//   kb add NAME PATH… [--include GLOB] [--exclude GLOB] [--max-file-size SIZE]
//   kb list | kb rm NAME | kb docs NAME [--errors] | kb chunks NAME FILE | kb stats NAME
//   kb search NAME "query" [-k 10] [--all] [--json]
//   kb ask NAME "question" --model M [--k 8] [--max-context-tokens N] [--show-context] [--json]
//   kb add NAME PATH… --watch   (then follows the folders with inotify until Ctrl-C)
// Every subcommand takes --data-dir (else $HEARTH_DATA_DIR, $XDG_DATA_HOME/hearth,
// ~/.local/share/hearth); the store is kb.sqlite3 in it.
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "engine/generate.h"
#include "kb/ask.h"
#include "kb/ingest.h"
#include "kb/search.h"
#include "kb/store.h"
#include "kb/token_counter.h"
#include "kb/watch.h"
#include "util/error.h"

namespace hearth::cli {

namespace {

struct KbOptions {
  std::string data_dir;
  std::string name;
  std::vector<std::string> paths;
  std::string file;
  std::string query;
  std::string chunking = "structure";
  int chunk_tokens = 400;
  int overlap = 50;
  std::string tokenizer;  // kb create --tokenizer: GGUF model whose tokenizer counts chunk sizes
  std::vector<std::string> include, exclude;
  std::string max_file_size = "256M";
  bool no_progress = false;
  bool keep_missing = false;
  bool errors = false;
  bool json = false;
  bool all = false;
  int k = 10;
  bool watch = false;
  // kb ask
  std::string model;
  std::string models_dir;
  int ask_k = 8;
  int64_t max_context_tokens = 0;
  int64_t max_tokens = 512;
  float temperature = 0.2f;
  uint64_t seed = 0;
  bool show_context = false;
};

std::atomic<bool> g_stop_watch{false};
void on_watch_signal(int) { g_stop_watch.store(true); }

uint64_t parse_size(const std::string& s) {
  size_t pos = 0;
  double v = 0;
  try {
    v = std::stod(s, &pos);
  } catch (...) {
    throw_error(ErrorKind::invalid_argument, "--max-file-size '{}': expected a size like 100M or 2G", s);
  }
  std::string unit = s.substr(pos);
  double mul = unit.empty() || unit == "B" ? 1 : unit == "K" || unit == "k" ? 1024.0 : unit == "M" ? 1048576.0
               : unit == "G" ? 1073741824.0 : -1;
  if (mul < 0 || v <= 0) throw_error(ErrorKind::invalid_argument, "--max-file-size '{}': expected a size like 100M or 2G", s);
  return static_cast<uint64_t>(v * mul);
}

kb::Store open_store(const KbOptions& o) { return kb::Store(kb::default_store_path(o.data_dir)); }

std::string when(int64_t t) {
  char buf[32];
  time_t tt = static_cast<time_t>(t);
  struct tm tm {};
  localtime_r(&tt, &tm);
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

std::string location(const std::string& section, int page, int page_end) {
  std::string s;
  if (page > 0) s += page_end > page ? fmt::format("pp. {}–{}", page, page_end) : fmt::format("p. {}", page);
  if (!section.empty()) s += (s.empty() ? "§ " : "  § ") + section;
  return s;
}

int run_create(const KbOptions& o) {
  kb::ChunkConfig c;
  c.strategy = kb::parse_chunk_strategy(o.chunking);
  c.target_tokens = o.chunk_tokens;
  c.overlap_tokens = c.strategy == kb::ChunkStrategy::structure ? 0 : o.overlap;
  std::string tokenizer;
  if (!o.tokenizer.empty()) {
    // stored absolute, so that `kb add` from any folder finds it; loaded now so a bad file is
    // reported here and not at the first `kb add`
    tokenizer = std::filesystem::absolute(o.tokenizer).lexically_normal().string();
    c.validate();
    kb::make_token_counter(tokenizer);
  }
  kb::Store store = open_store(o);
  kb::KbInfo k = store.create_kb(o.name, c, tokenizer);
  fmt::print("created knowledge base '{}' (chunking: {}, {} tokens, overlap {}; tokens: {}) in {}\n", k.name,
             kb::chunk_strategy_name(k.chunking.strategy), k.chunking.target_tokens, k.chunking.overlap_tokens,
             kb::token_counter_name(k.tokenizer), store.path());
  return 0;
}

int run_add(const KbOptions& o) {
  kb::Store store = open_store(o);
  kb::KbInfo k = store.get_kb(o.name);
  kb::IngestOptions io;
  io.include = o.include;
  io.exclude = o.exclude;
  io.extract.max_file_bytes = parse_size(o.max_file_size);
  io.remove_missing = !o.keep_missing;
  io.progress = !o.no_progress;
  io.count_tokens = kb::make_token_counter(k.tokenizer);  // once, also for --watch; fails before any file
  kb::IngestReport r = kb::ingest_paths(store, k, o.paths, io);
  double mb = static_cast<double>(r.bytes) / 1e6;
  fmt::print("{}: {} files: {} added, {} updated, {} unchanged, {} removed, {} failed, {} skipped; "
             "{} chunks, {:.1f} MB read in {:.1f} s ({:.1f} MB/s)\n",
             k.name, r.files, r.added, r.updated, r.unchanged, r.removed, r.failed, r.skipped, r.chunks, mb, r.seconds,
             r.seconds > 0 ? mb / r.seconds : 0.0);
  if (r.failed + r.skipped > 0) fmt::print("see why: hearth kb docs {} --errors\n", k.name);
  if (!o.watch) return 0;

  // Follow the folders until SIGINT/SIGTERM (no SA_RESTART: poll() returns and the flag is seen).
  struct sigaction sa {};
  sa.sa_handler = on_watch_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  kb::WatchOptions wo;
  wo.ingest = io;
  wo.ingest.progress = false;
  fmt::print("watching {} path(s) for changes (Ctrl-C to stop)\n", o.paths.size());
  std::fflush(stdout);
  kb::watch_paths(store, k, o.paths, wo, g_stop_watch, [](const std::string& line) {
    fmt::print("{}\n", line);
    std::fflush(stdout);
  });
  fmt::print("stopped watching\n");
  return 0;
}

int run_list(const KbOptions& o) {
  kb::Store store = open_store(o);
  auto kbs = store.list_kbs();
  if (o.json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& k : kbs) {
      kb::KbStats s = store.stats(k.id);
      arr.push_back({{"name", k.name}, {"chunking", kb::chunk_strategy_name(k.chunking.strategy)},
                     {"chunk_tokens", k.chunking.target_tokens}, {"overlap_tokens", k.chunking.overlap_tokens},
                     {"tokens", kb::token_counter_name(k.tokenizer)}, {"tokenizer", k.tokenizer},
                     {"documents", s.documents}, {"chunks", s.chunks}, {"created_at", k.created_at}});
    }
    fmt::print("{}\n", arr.dump(2));
    return 0;
  }
  if (kbs.empty()) {
    fmt::print("no knowledge bases yet: hearth kb create NAME\n");
    return 0;
  }
  fmt::print("{:<24} {:>9} {:>9} {:<22} {:<20} {}\n", "NAME", "DOCS", "CHUNKS", "CHUNKING", "CREATED", "TOKENS");
  for (const auto& k : kbs) {
    kb::KbStats s = store.stats(k.id);
    fmt::print("{:<24} {:>9} {:>9} {:<22} {:<20} {}\n", k.name, s.documents, s.chunks,
               fmt::format("{} {}/{}", kb::chunk_strategy_name(k.chunking.strategy), k.chunking.target_tokens,
                           k.chunking.overlap_tokens),
               when(k.created_at), kb::token_counter_name(k.tokenizer));
  }
  return 0;
}

int run_rm(const KbOptions& o) {
  kb::Store store = open_store(o);
  store.remove_kb(o.name);
  fmt::print("removed knowledge base '{}' (the documents themselves are untouched)\n", o.name);
  return 0;
}

int run_docs(const KbOptions& o) {
  kb::Store store = open_store(o);
  kb::KbInfo k = store.get_kb(o.name);
  auto docs = store.documents(k.id);
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& d : docs) {
    if (o.errors && d.status == kb::DocStatus::ok) continue;
    if (o.json) {
      arr.push_back({{"id", d.id}, {"path", d.path}, {"format", d.format}, {"status", kb::doc_status_name(d.status)},
                     {"error", d.error}, {"size", d.size}, {"text_length", d.text_length}, {"pages", d.pages},
                     {"chunks", d.chunk_count}, {"sha256", d.content_hash}, {"ingested_at", d.ingested_at}});
    } else if (d.status == kb::DocStatus::ok) {
      fmt::print("{:<8} {:<9} {:>6} chunks {:>10} bytes text  {}\n", "ok", d.format, d.chunk_count, d.text_length, d.path);
    } else {
      fmt::print("{:<8} {}\n         {}\n", kb::doc_status_name(d.status), d.path, d.error);
    }
  }
  if (o.json) fmt::print("{}\n", arr.dump(2));
  return 0;
}

int run_chunks(const KbOptions& o) {
  kb::Store store = open_store(o);
  kb::KbInfo k = store.get_kb(o.name);
  std::string path = std::filesystem::absolute(o.file).lexically_normal().string();
  auto doc = store.find_document(k.id, path);
  if (!doc) throw_error(ErrorKind::not_found, "{} is not in knowledge base '{}' (see hearth kb docs {})", path, k.name, k.name);
  auto chunks = store.chunks_of(doc->id);
  if (o.json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& c : chunks)
      arr.push_back({{"id", c.id}, {"ordinal", c.ordinal}, {"section", c.section}, {"page", c.page},
                     {"page_end", c.page_end}, {"start", c.char_start}, {"end", c.char_end}, {"tokens", c.tokens},
                     {"text", c.text}});
    fmt::print("{}\n", arr.dump(2));
    return 0;
  }
  if (doc->status != kb::DocStatus::ok) fmt::print("{}: {}: {}\n", path, kb::doc_status_name(doc->status), doc->error);
  for (const auto& c : chunks) {
    fmt::print("── chunk {} (id {})  bytes {}–{}  {} tokens  {}\n", c.ordinal, c.id, c.char_start, c.char_end, c.tokens,
               location(c.section, c.page, c.page_end));
    fmt::print("{}\n", c.text);
  }
  return 0;
}

int run_stats(const KbOptions& o) {
  kb::Store store = open_store(o);
  kb::KbInfo k = store.get_kb(o.name);
  kb::KbStats s = store.stats(k.id);
  if (o.json) {
    nlohmann::json h = nlohmann::json::array();
    for (auto [b, n] : s.chunk_token_histogram) h.push_back({{"max_tokens", b < 0 ? nlohmann::json() : nlohmann::json(b)}, {"chunks", n}});
    nlohmann::json f = nlohmann::json::object();
    for (const auto& [fmt_name, n] : s.formats) f[fmt_name] = n;
    fmt::print("{}\n", nlohmann::json{{"name", k.name}, {"documents", s.documents}, {"documents_ok", s.documents_ok},
                                      {"documents_error", s.documents_error}, {"documents_skipped", s.documents_skipped},
                                      {"chunks", s.chunks}, {"tokens", s.tokens}, {"text_bytes", s.text_bytes},
                                      {"source_bytes", s.source_bytes}, {"formats", f}, {"min_tokens", s.min_tokens},
                                      {"max_tokens", s.max_tokens}, {"mean_tokens", s.mean_tokens},
                                      {"chunk_token_histogram", h}, {"tokens_counted_by", kb::token_counter_name(k.tokenizer)},
                                      {"tokenizer", k.tokenizer}}.dump(2));
    return 0;
  }
  fmt::print("knowledge base   {}\n", k.name);
  fmt::print("chunking         {}, target {} tokens, overlap {}\n", kb::chunk_strategy_name(k.chunking.strategy),
             k.chunking.target_tokens, k.chunking.overlap_tokens);
  fmt::print("tokens           {}{}\n", kb::token_counter_name(k.tokenizer),
             k.tokenizer.empty() ? "" : " (" + k.tokenizer + ")");
  fmt::print("documents        {} ({} ok, {} error, {} skipped)\n", s.documents, s.documents_ok, s.documents_error,
             s.documents_skipped);
  std::string formats;
  for (const auto& [f, n] : s.formats) formats += fmt::format("{}{} {}", formats.empty() ? "" : ", ", n, f);
  fmt::print("formats          {}\n", formats.empty() ? "—" : formats);
  fmt::print("source           {:.1f} MB, extracted text {:.1f} MB\n", static_cast<double>(s.source_bytes) / 1e6,
             static_cast<double>(s.text_bytes) / 1e6);
  fmt::print("chunks           {}, {} tokens (min {}, mean {:.0f}, max {})\n", s.chunks, s.tokens, s.min_tokens,
             s.mean_tokens, s.max_tokens);
  int64_t peak = 1;
  for (auto [b, n] : s.chunk_token_histogram) peak = std::max(peak, n);
  int prev = 0;
  for (auto [b, n] : s.chunk_token_histogram) {
    std::string label = b < 0 ? fmt::format("> {}", prev) : fmt::format("{}–{}", prev + 1, b);
    fmt::print("  {:>11} tokens {:>8}  {}\n", label, n, std::string(static_cast<size_t>(n * 40 / peak), '#'));
    if (b > 0) prev = b;
  }
  return 0;
}

int run_search(const KbOptions& o) {
  kb::Store store = open_store(o);
  kb::KbInfo k = store.get_kb(o.name);
  kb::SearchOptions so;
  so.k = o.k;
  so.match_all = o.all;
  bool color = !o.json && ::isatty(1);
  if (color) {
    so.mark_open = "\033[1;33m";
    so.mark_close = "\033[0m";
  }
  auto hits = kb::search(store, k, o.query, so);
  if (o.json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& h : hits)
      arr.push_back({{"chunk_id", h.chunk_id}, {"path", h.path}, {"section", h.section}, {"page", h.page},
                     {"page_end", h.page_end}, {"ordinal", h.ordinal}, {"start", h.char_start}, {"end", h.char_end},
                     {"tokens", h.tokens}, {"score", h.score}, {"snippet", h.snippet}, {"text", h.text}});
    fmt::print("{}\n", arr.dump(2));
    return 0;
  }
  if (hits.empty()) {
    fmt::print("no matches\n");
    return 0;
  }
  int i = 0;
  for (const auto& h : hits) {
    std::string snippet = h.snippet;
    for (auto& c : snippet) if (c == '\n' || c == '\t') c = ' ';
    fmt::print("{:>2}. {:.3f}  {}  {}  [chunk {}]\n    {}\n", ++i, h.score, h.path, location(h.section, h.page, h.page_end),
               h.chunk_id, snippet);
  }
  return 0;
}

int run_ask(const KbOptions& o) {
  kb::Store store = open_store(o);
  kb::KbInfo k = store.get_kb(o.name);
  engine::RegistryOptions ro;
  ro.models_dir = o.models_dir.empty() ? engine::default_models_dir() : o.models_dir;
  ro.defaults.n_parallel = 1;
  if (o.model.find('/') != std::string::npos || o.model.ends_with(".gguf")) ro.model_paths.push_back(o.model);
  engine::Registry reg(ro);
  auto model = engine::TextModel::open(reg, o.model);

  kb::AskOptions ao;
  ao.k = o.ask_k;
  ao.max_context_tokens = o.max_context_tokens;
  ao.max_answer_tokens = o.max_tokens;
  kb::AskPrompt prompt = kb::prepare_ask(store, k, *model, o.query, ao);

  engine::GenerateOptions go;
  go.max_tokens = o.max_tokens;
  go.sampling.temperature = o.temperature;
  go.sampling.seed = o.seed;

  if (o.json) {
    kb::AskResult r = kb::run_ask(*model, prompt, go);
    nlohmann::json j = {{"question", prompt.question}, {"model", model->name()}, {"answer", r.answer}};
    j.update(kb::ask_summary_json(prompt, r));
    if (o.show_context) j["prompt"] = prompt.text;
    fmt::print("{}\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
    return 0;
  }
  if (o.show_context) {
    fmt::print("── prompt ({} tokens of {} allowed; model context {}) ──\n{}\n── answer ──\n", prompt.prompt_tokens,
               prompt.budget, model->n_ctx(), prompt.text);
  }
  if (prompt.sources.empty()) fmt::print(stderr, "note: no passage of '{}' fits or matches the question; the model sees no sources\n", k.name);
  std::fflush(stdout);
  kb::AskResult r = kb::run_ask(*model, prompt, go, [](const std::string& piece) {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
    return true;
  });
  if (r.generation.finish_reason == "error") throw_error(ErrorKind::internal, "generation failed: {}", r.generation.error);
  fmt::print("\n\nSources:\n");
  if (prompt.sources.empty()) fmt::print("  (none)\n");
  for (const auto& s : prompt.sources) {
    std::string loc = kb::source_location(s.hit);
    fmt::print("  [{}] {}{}{}{}\n", s.number, s.hit.path, loc.empty() ? "" : " — ", loc, s.cited ? "  (cited)" : "");
  }
  if (!r.citations.empty()) {
    fmt::print("Citations:\n");
    for (const auto& c : r.citations) {
      if (c.source < 0) {
        fmt::print("  [{}] → no such source\n", c.number);
        continue;
      }
      const auto& h = prompt.sources[static_cast<size_t>(c.source)].hit;
      std::string loc = kb::source_location(h);
      fmt::print("  [{}] → {}{}{}\n", c.number, h.path, loc.empty() ? "" : " — ", loc);
    }
  }
  if (!prompt.dropped.empty()) {
    fmt::print("Dropped (did not fit in {} prompt tokens; raise --max-context-tokens or lower --k):\n", prompt.budget);
    for (const auto& s : prompt.dropped) {
      std::string loc = kb::source_location(s.hit);
      fmt::print("  search result #{}: {}{}{} ({} tokens)\n", s.rank, s.hit.path, loc.empty() ? "" : " — ", loc, s.tokens);
    }
  }
  if (r.generation.finish_reason == "length") fmt::print("(the answer was cut at the token limit)\n");
  return 0;
}

CLI::App* sub(CLI::App* kb, const char* name, const char* help, std::shared_ptr<KbOptions> o, Action& action,
              int (*fn)(const KbOptions&)) {
  CLI::App* c = kb->add_subcommand(name, help);
  c->add_option("--data-dir", o->data_dir, "Data folder (default $HEARTH_DATA_DIR, $XDG_DATA_HOME/hearth, ~/.local/share/hearth)");
  c->callback([&action, o, fn] { action = [o, fn] { return fn(*o); }; });
  return c;
}

}  // namespace

void add_kb_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<KbOptions>();
  CLI::App* kb = app.add_subcommand("kb", "Knowledge bases over your documents: create, add, search, inspect");
  kb->require_subcommand(1);

  auto* create = sub(kb, "create", "Create a knowledge base", o, action, run_create);
  create->add_option("name", o->name, "Name")->required();
  create->add_option("--chunking", o->chunking, "structure | paragraph | fixed")->capture_default_str();
  create->add_option("--chunk-tokens", o->chunk_tokens, "Target chunk size in tokens")->capture_default_str();
  create->add_option("--overlap", o->overlap, "Tokens shared by neighbouring chunks (paragraph, fixed)")->capture_default_str();
  create->add_option("--tokenizer", o->tokenizer,
                     "GGUF model file whose tokenizer counts chunk sizes (default: an estimate, see docs/kb.md)");

  auto* add = sub(kb, "add", "Add files or folders (recursive); re-running updates changed files, removes deleted ones", o,
                  action, run_add);
  add->add_option("name", o->name, "Knowledge base")->required();
  add->add_option("paths", o->paths, "Files or folders")->required();
  add->add_option("--include", o->include, "Only files matching this glob (repeatable)");
  add->add_option("--exclude", o->exclude, "Skip files and folders matching this glob (repeatable)");
  add->add_option("--max-file-size", o->max_file_size, "Skip larger files (e.g. 100M, 1G)")->capture_default_str();
  add->add_flag("--no-progress", o->no_progress, "No progress line on stderr");
  add->add_flag("--keep-missing", o->keep_missing, "Keep documents whose files are gone");
  add->add_flag("--watch", o->watch, "After adding, follow the paths (inotify) and re-ingest changes until Ctrl-C");

  auto* list = sub(kb, "list", "List knowledge bases", o, action, run_list);
  list->add_flag("--json", o->json, "Print JSON");

  auto* rm = sub(kb, "rm", "Remove a knowledge base (not the files)", o, action, run_rm);
  rm->add_option("name", o->name, "Knowledge base")->required();

  auto* docs = sub(kb, "docs", "List the documents of a knowledge base", o, action, run_docs);
  docs->add_option("name", o->name, "Knowledge base")->required();
  docs->add_flag("--errors", o->errors, "Only documents that failed or were skipped, with the reason");
  docs->add_flag("--json", o->json, "Print JSON");

  auto* chunks = sub(kb, "chunks", "Print exactly the chunks of one file", o, action, run_chunks);
  chunks->add_option("name", o->name, "Knowledge base")->required();
  chunks->add_option("file", o->file, "File (as added)")->required();
  chunks->add_flag("--json", o->json, "Print JSON");

  auto* stats = sub(kb, "stats", "Counts and chunk-size histogram", o, action, run_stats);
  stats->add_option("name", o->name, "Knowledge base")->required();
  stats->add_flag("--json", o->json, "Print JSON");

  auto* search = sub(kb, "search", "Full-text search (BM25, CJK-aware)", o, action, run_search);
  search->add_option("name", o->name, "Knowledge base")->required();
  search->add_option("query", o->query, "Words to search for")->required();
  search->add_option("-k", o->k, "Number of results")->capture_default_str();
  search->add_flag("--all", o->all, "Every word must occur (default: any, ranked)");
  search->add_flag("--json", o->json, "Print JSON");

  auto* ask = sub(kb, "ask", "Answer a question from the knowledge base, citing numbered sources", o, action, run_ask);
  ask->add_option("name", o->name, "Knowledge base")->required();
  ask->add_option("question", o->query, "The question")->required();
  ask->add_option("-m,--model", o->model, "Model name (in --models-dir) or path to a .gguf")->required();
  ask->add_option("--models-dir", o->models_dir, "Directory of .gguf models (default: $HEARTH_MODELS or ~/.local/share/hearth/models)");
  ask->add_option("-k,--k", o->ask_k, "Chunks to retrieve")->capture_default_str();
  ask->add_option("--max-context-tokens", o->max_context_tokens,
                  "Most tokens the prompt (instructions, sources, question) may take; sources that do not fit are "
                  "dropped and listed (default: the model's context minus room for the answer)");
  ask->add_option("--max-tokens", o->max_tokens, "Most tokens of answer")->capture_default_str();
  ask->add_option("--temperature", o->temperature, "Sampling temperature (0: greedy)")->capture_default_str();
  ask->add_option("--seed", o->seed, "Sampling seed")->capture_default_str();
  ask->add_flag("--show-context", o->show_context, "Print the exact prompt the model sees");
  ask->add_flag("--json", o->json, "Print one JSON object (answer, sources, citations, dropped)");
}

}  // namespace hearth::cli
