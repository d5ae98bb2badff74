#include "engine/generate.h"

#include "chat/format.h"

namespace hearth::engine {

std::unique_ptr<TextModel> TextModel::open(Registry& reg, const std::string& name_or_path, LoadParams params,
                                           std::optional<std::chrono::seconds> keep_alive) {
  std::unique_ptr<TextModel> tm(new TextModel());
  tm->lease_ = reg.acquire(name_or_path, params, keep_alive);
  const model::Model& m = (*tm->lease_)->model();
  try {
    tm->format_ = std::make_unique<chat::ChatFormat>(chat::ChatFormat::from_model(m.file(), m.tokenizer()));
  } catch (const Error& e) {
    throw Error(ErrorKind::format, fmt::format("{}: the model's chat template cannot be used: {}", name_or_path, e.what()));
  }
  return tm;
}

TextModel::~TextModel() = default;

const std::string& TextModel::name() const { return (*lease_)->name(); }

int64_t TextModel::n_ctx() const { return (*lease_)->scheduler().n_ctx(); }

bool TextModel::has_chat_template() const { return format_->has_template(); }

int64_t TextModel::count_tokens(std::string_view text) const {
  return static_cast<int64_t>((*lease_)->model().tokenizer().encode(text, false, false).size());
}

std::string TextModel::render_chat(const std::vector<ChatTurn>& turns) const {
  chat::ChatInputs in;
  for (const ChatTurn& t : turns) in.messages.push_back({{"role", t.role}, {"content", t.content}});
  in.add_generation_prompt = true;
  return format_->render(std::move(in));
}

int64_t TextModel::count_prompt_tokens(const std::string& rendered) const {
  return static_cast<int64_t>(format_->tokenize((*lease_)->model().tokenizer(), rendered).size());
}

GenerateResult TextModel::generate(const std::string& rendered, const GenerateOptions& options, const TextSink& sink) {
  Request req;
  req.prompt = format_->tokenize((*lease_)->model().tokenizer(), rendered);
  req.sampling = options.sampling;
  req.max_tokens = options.max_tokens;
  req.stop = options.stop;
  // The plain format has no end-of-turn token: the model's next "User:" line ends the answer.
  if (!format_->has_template()) req.stop.push_back("\nUser:");
  auto gen = (*lease_)->scheduler().submit(std::move(req));
  GenerateResult r;
  Event ev;
  bool cancelled = false;
  while (gen->next(ev)) {
    // Once the sink has said stop, the answer is what it saw: text that was already on its
    // way is dropped, and the result says cancelled even if the scheduler reached the end
    // (length, stop) before it saw the cancel.
    if (!ev.text.empty() && !cancelled) {
      r.text += ev.text;
      if (sink && !sink(ev.text)) {
        cancelled = true;
        gen->cancel();
      }
    }
    if (ev.done) {
      r.finish_reason = cancelled ? "cancelled" : ev.finish_reason;
      r.error = ev.error;
      r.prompt_tokens = ev.prompt_tokens;
      r.cached_tokens = ev.cached_tokens;
      r.completion_tokens = ev.completion_tokens;
      r.prompt_s = ev.prompt_s;
      r.gen_s = ev.gen_s;
    }
  }
  return r;
}

}  // namespace hearth::engine
