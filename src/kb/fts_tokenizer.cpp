#include "kb/fts_tokenizer.h"

#include <sqlite3.h>
#include <unicode/brkiter.h>
#include <unicode/normalizer2.h>
#include <unicode/unistr.h>
#include <unicode/utext.h>

#include <memory>

#include "util/error.h"

namespace hearth::kb {

namespace {

constexpr int kMaxTokenBytes = 256;

struct Segmenter {
  std::unique_ptr<icu::BreakIterator> words;
  const icu::Normalizer2* fold = nullptr;

  Segmenter() {
    UErrorCode st = U_ZERO_ERROR;
    words.reset(icu::BreakIterator::createWordInstance(icu::Locale::getRoot(), st));
    if (U_FAILURE(st) || !words) throw_error(ErrorKind::internal, "ICU word break iterator: {}", u_errorName(st));
    fold = icu::Normalizer2::getNFKCCasefoldInstance(st);
    if (U_FAILURE(st)) throw_error(ErrorKind::internal, "ICU NFKC_Casefold: {}", u_errorName(st));
  }

  // Calls emit(folded_token, byte_start, byte_end) for each word of text; returns false if
  // emit asked to stop.
  template <typename F>
  bool run(const char* text, int n, F&& emit) {
    UErrorCode st = U_ZERO_ERROR;
    UText ut = UTEXT_INITIALIZER;
    utext_openUTF8(&ut, text, n, &st);
    if (U_FAILURE(st)) return true;
    words->setText(&ut, st);
    std::string folded;
    bool go = true;
    int32_t start = words->first();
    for (int32_t end = words->next(); go && end != icu::BreakIterator::DONE; start = end, end = words->next()) {
      if (words->getRuleStatus() < UBRK_WORD_NONE_LIMIT) continue;  // spaces, punctuation
      // ICU keeps "hearth.toml", "foo_bar", "a:b" as one word; split them so parts match too.
      int32_t s = start;
      for (int32_t i = start; i <= end && go; ++i) {
        bool sep = i == end || text[i] == '.' || text[i] == '_' || text[i] == ':' || text[i] == '@' || text[i] == '/';
        if (!sep) continue;
        if (i > s) go = emit_one(text + s, i - s, s, i, folded, emit);
        s = i + 1;
      }
    }
    utext_close(&ut);
    words->setText(icu::UnicodeString());  // drop the reference to text
    return go;
  }

  template <typename F>
  bool emit_one(const char* p, int32_t len, int32_t start, int32_t end, std::string& folded, F&& emit) {
    bool ascii = true;
    for (int32_t i = 0; i < len; ++i) ascii &= static_cast<unsigned char>(p[i]) < 0x80;
    folded.clear();
    if (ascii) {
      folded.assign(p, static_cast<size_t>(len));
      for (auto& c : folded) if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    } else {
      UErrorCode st = U_ZERO_ERROR;
      icu::UnicodeString u = icu::UnicodeString::fromUTF8(icu::StringPiece(p, len));
      icu::UnicodeString f = fold->normalize(u, st);
      if (U_FAILURE(st)) folded.assign(p, static_cast<size_t>(len));
      else f.toUTF8String(folded);
    }
    if (folded.empty()) return true;
    if (folded.size() > kMaxTokenBytes) folded.resize(kMaxTokenBytes);  // may cut a code point: still a stable key
    return emit(folded, start, end);
  }
};

int x_create(void*, const char**, int, Fts5Tokenizer** out) {
  try {
    *out = reinterpret_cast<Fts5Tokenizer*>(new Segmenter());
    return SQLITE_OK;
  } catch (...) {
    return SQLITE_ERROR;
  }
}

void x_delete(Fts5Tokenizer* t) { delete reinterpret_cast<Segmenter*>(t); }

int x_tokenize(Fts5Tokenizer* t, void* ctx, int, const char* text, int n,
               int (*token)(void*, int, const char*, int, int, int)) {
  auto* seg = reinterpret_cast<Segmenter*>(t);
  int rc = SQLITE_OK;
  seg->run(text, n, [&](const std::string& tok, int32_t s, int32_t e) {
    rc = token(ctx, 0, tok.data(), static_cast<int>(tok.size()), s, e);
    return rc == SQLITE_OK;
  });
  return rc;
}

}  // namespace

void register_fts_tokenizer(sqlite3* db) {
  fts5_api* api = nullptr;
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, nullptr) != SQLITE_OK)
    throw_error(ErrorKind::unsupported, "this SQLite has no FTS5: {}", sqlite3_errmsg(db));
  sqlite3_bind_pointer(st, 1, &api, "fts5_api_ptr", nullptr);
  sqlite3_step(st);
  sqlite3_finalize(st);
  if (api == nullptr) throw_error(ErrorKind::unsupported, "this SQLite has no FTS5");
  static fts5_tokenizer tok = {x_create, x_delete, x_tokenize};
  if (api->xCreateTokenizer(api, "hearth", nullptr, &tok, nullptr) != SQLITE_OK)
    throw_error(ErrorKind::internal, "cannot register the FTS5 tokenizer: {}", sqlite3_errmsg(db));
}

std::vector<std::string> segment_words(std::string_view text) {
  thread_local Segmenter seg;
  std::vector<std::string> out;
  seg.run(text.data(), static_cast<int>(text.size()), [&](const std::string& tok, int32_t, int32_t) {
    out.push_back(tok);
    return true;
  });
  return out;
}

}  // namespace hearth::kb
