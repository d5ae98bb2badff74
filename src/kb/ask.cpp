#include "kb/ask.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "util/error.h"

namespace hearth::kb {

const char* const kAskSystemPrompt =
    "Answer the question using only the numbered sources below. After each statement, cite the "
    "sources it comes from by their number in square brackets, like [2]. If the sources do not "
    "contain the answer, say that you do not know.";

std::string source_location(const SearchHit& hit) {
  std::string s;
  if (!hit.section.empty()) s = "§ " + hit.section;
  if (hit.page > 0) {
    if (!s.empty()) s += ", ";
    s += hit.page_end > hit.page ? fmt::format("pp. {}–{}", hit.page, hit.page_end) : fmt::format("p. {}", hit.page);
  }
  return s;
}

std::string source_block(int number, const SearchHit& hit) {
  std::string name = std::filesystem::path(hit.path).filename().string();
  std::string loc = source_location(hit);
  std::string text = hit.text;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return fmt::format("[{}] {}{}{}\n{}", number, name, loc.empty() ? "" : " — ", loc, text);
}

std::string ask_user_message(const std::vector<std::string>& blocks, const std::string& question) {
  std::string out = blocks.empty() ? std::string("Sources: none.\n\n") : std::string("Sources:\n\n");
  for (const auto& b : blocks) out += b + "\n\n";
  out += "Question: " + question;
  return out;
}

AskPrompt build_prompt(const engine::TextModel& model, const std::string& question, const std::vector<SearchHit>& hits,
                       const AskOptions& options) {
  const int64_t n_ctx = model.n_ctx();
  AskPrompt p;
  p.question = question;
  p.system = kAskSystemPrompt;
  if (options.max_context_tokens > 0) {
    p.budget = std::min<int64_t>(options.max_context_tokens, n_ctx - 1);
  } else {
    const int64_t reserve = options.max_answer_tokens > 0 ? std::min<int64_t>(options.max_answer_tokens, n_ctx / 2) : n_ctx / 4;
    p.budget = n_ctx - reserve;
  }
  auto render = [&](const std::vector<std::string>& blocks, std::string& user, std::string& text) {
    user = ask_user_message(blocks, question);
    text = model.render_chat({{"system", p.system}, {"user", user}});
    return model.count_prompt_tokens(text);
  };
  std::vector<std::string> blocks;
  p.prompt_tokens = render(blocks, p.user, p.text);
  if (p.prompt_tokens > p.budget)
    throw_error(ErrorKind::limit,
                "the instructions and the question alone take {} tokens, more than the {} tokens allowed for the prompt "
                "(--max-context-tokens; the model's context is {})",
                p.prompt_tokens, p.budget, n_ctx);
  int rank = 0;
  for (const SearchHit& hit : hits) {
    ++rank;
    AskSource s;
    s.rank = rank;
    s.hit = hit;
    const int number = static_cast<int>(p.sources.size()) + 1;
    blocks.push_back(source_block(number, hit));
    std::string user, text;
    const int64_t n = render(blocks, user, text);
    if (n <= p.budget) {
      s.number = number;
      s.tokens = n - p.prompt_tokens;
      p.prompt_tokens = n;
      p.user = std::move(user);
      p.text = std::move(text);
      p.sources.push_back(std::move(s));
    } else {
      blocks.pop_back();
      s.tokens = model.count_tokens(source_block(number, hit) + "\n\n");
      p.dropped.push_back(std::move(s));
    }
  }
  const int64_t left = n_ctx - p.prompt_tokens;
  p.max_answer_tokens = options.max_answer_tokens > 0 ? std::min<int64_t>(options.max_answer_tokens, left) : left;
  return p;
}

AskPrompt prepare_ask(Store& store, const KbInfo& kb, const engine::TextModel& model, const std::string& question,
                      const AskOptions& options) {
  if (question.find_first_not_of(" \t\r\n") == std::string::npos)
    throw_error(ErrorKind::invalid_argument, "the question is empty");
  if (options.k < 1 || options.k > 1000) throw_error(ErrorKind::invalid_argument, "k must be 1..1000 (got {})", options.k);
  SearchOptions so;
  so.k = options.k;
  return build_prompt(model, question, search(store, kb, question, so), options);
}

std::vector<Citation> find_citations(const std::string& answer, const AskPrompt& prompt) {
  std::vector<Citation> out;
  auto source_of = [&](int n) {
    for (size_t i = 0; i < prompt.sources.size(); ++i)
      if (prompt.sources[i].number == n) return static_cast<int>(i);
    return -1;
  };
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  for (size_t i = 0; i < answer.size(); ++i) {
    if (answer[i] != '[') continue;
    // [n], [n, m], [n-m], [n–m]: numbers of at most 4 digits, separators ',', ';', '-', '–', spaces.
    std::vector<int> nums;
    size_t j = i + 1;
    bool ok = false, range = false;
    while (j < answer.size()) {
      while (j < answer.size() && answer[j] == ' ') ++j;
      size_t d = j;
      int v = 0;
      while (j < answer.size() && digit(answer[j]) && j - d < 4) v = v * 10 + (answer[j++] - '0');
      if (j == d || (j < answer.size() && digit(answer[j]))) break;
      if (range && !nums.empty() && v >= nums.back() && v - nums.back() <= 50) {
        for (int x = nums.back() + 1; x <= v; ++x) nums.push_back(x);
      } else {
        nums.push_back(v);
      }
      range = false;
      while (j < answer.size() && answer[j] == ' ') ++j;
      if (j >= answer.size()) break;
      if (answer[j] == ']') {
        ok = true;
        break;
      }
      if (answer[j] == ',' || answer[j] == ';') {
        ++j;
      } else if (answer[j] == '-') {
        range = true;
        ++j;
      } else if (answer.compare(j, 3, "–") == 0) {
        range = true;
        j += 3;
      } else {
        break;
      }
    }
    if (!ok) continue;
    for (int n : nums) out.push_back({n, i, source_of(n)});
    i = j;
  }
  return out;
}

AskResult run_ask(engine::TextModel& model, AskPrompt& prompt, const engine::GenerateOptions& options,
                  const engine::TextSink& sink) {
  engine::GenerateOptions go = options;
  go.max_tokens = go.max_tokens > 0 ? std::min(go.max_tokens, prompt.max_answer_tokens) : prompt.max_answer_tokens;
  AskResult r;
  r.generation = model.generate(prompt.text, go, sink);
  r.answer = r.generation.text;
  r.citations = find_citations(r.answer, prompt);
  for (const Citation& c : r.citations)
    if (c.source >= 0) prompt.sources[static_cast<size_t>(c.source)].cited = true;
  return r;
}

nlohmann::json hit_json(const SearchHit& h, bool with_text) {
  nlohmann::json j = {{"chunk_id", h.chunk_id}, {"path", h.path},       {"section", h.section},
                      {"page", h.page},         {"page_end", h.page_end}, {"ordinal", h.ordinal},
                      {"start", h.char_start},  {"end", h.char_end},     {"tokens", h.tokens},
                      {"score", h.score},       {"snippet", h.snippet}};
  if (with_text) j["text"] = h.text;
  return j;
}

namespace {

nlohmann::json source_json(const AskSource& s, bool in_prompt) {
  nlohmann::json j = nlohmann::json::object();
  if (in_prompt) j["number"] = s.number;
  j["rank"] = s.rank;
  j["path"] = s.hit.path;
  j["section"] = s.hit.section;
  j["page"] = s.hit.page;
  j["page_end"] = s.hit.page_end;
  j["location"] = source_location(s.hit);
  j["chunk_id"] = s.hit.chunk_id;
  j["score"] = s.hit.score;
  j["tokens"] = s.tokens;
  if (in_prompt) j["cited"] = s.cited;
  return j;
}

}  // namespace

nlohmann::json ask_summary_json(const AskPrompt& p, const AskResult& r) {
  nlohmann::json sources = nlohmann::json::array(), dropped = nlohmann::json::array(), cites = nlohmann::json::array();
  for (const auto& s : p.sources) sources.push_back(source_json(s, true));
  for (const auto& s : p.dropped) dropped.push_back(source_json(s, false));
  for (const auto& c : r.citations) {
    nlohmann::json j = {{"number", c.number}, {"offset", c.offset}};
    if (c.source >= 0) {
      const SearchHit& h = p.sources[static_cast<size_t>(c.source)].hit;
      j["path"] = h.path;
      j["section"] = h.section;
      j["page"] = h.page;
      j["location"] = source_location(h);
    } else {
      j["error"] = fmt::format("no source [{}] in the prompt", c.number);
    }
    cites.push_back(std::move(j));
  }
  return {{"sources", sources},
          {"dropped", dropped},
          {"citations", cites},
          {"prompt_tokens", p.prompt_tokens},
          {"budget", p.budget},
          {"completion_tokens", r.generation.completion_tokens},
          {"finish_reason", r.generation.finish_reason}};
}

}  // namespace hearth::kb
