// The family-independent half of the tokenizer: choosing the family, cutting special tokens out
// of the text before the family's algorithm sees it, BOS/EOS, and decoding.
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <array>
#include <numeric>

#include "gguf/gguf.h"
#include "tokenizer/factories.h"
#include "util/error.h"

namespace hearth::tokenizer {

// A byte trie of the texts of all special tokens (control, user-defined, unknown), so that
// encode() finds every occurrence with one pass over the text instead of one search per
// special token (vocabularies with thousands of reserved tokens exist).
struct Tokenizer::SpecialIndex {
  struct Node {
    std::vector<std::pair<unsigned char, uint32_t>> next;  // few children: a linear scan is fastest
    Token token = -1;                                       // a special token ends here
  };
  std::array<int32_t, 256> root{};  // child of the root per first byte, -1 if none
  std::vector<Node> nodes;          // nodes[0] is the root
  // rank[id]: order in which occurrences are claimed; longer texts first (then lower ids), as the
  // reference does, so "<|im_start|>" wins over a shorter special token it contains.
  std::vector<uint32_t> rank;

  explicit SpecialIndex(const Vocab& v) {
    root.fill(-1);
    nodes.emplace_back();
    std::vector<Token> ids;
    for (size_t i = 0; i < v.size(); ++i) {
      if (v.is_special(static_cast<Token>(i))) ids.push_back(static_cast<Token>(i));
    }
    std::stable_sort(ids.begin(), ids.end(), [&](Token a, Token b) {
      return v.tokens[static_cast<size_t>(a)].size() > v.tokens[static_cast<size_t>(b)].size();
    });
    rank.assign(v.size(), UINT32_MAX);
    for (size_t r = 0; r < ids.size(); ++r) {
      const Token id = ids[r];
      rank[static_cast<size_t>(id)] = static_cast<uint32_t>(r);
      insert(v.tokens[static_cast<size_t>(id)], id);
    }
  }

  void insert(const std::string& text, Token id) {
    uint32_t node = 0;
    for (size_t k = 0; k < text.size(); ++k) {
      const auto c = static_cast<unsigned char>(text[k]);
      int64_t child = -1;
      if (node == 0) {
        child = root[c];
      } else {
        for (auto& [byte, n] : nodes[node].next) {
          if (byte == c) child = n;
        }
      }
      if (child < 0) {
        child = static_cast<int64_t>(nodes.size());
        nodes.emplace_back();
        if (node == 0) {
          root[c] = static_cast<int32_t>(child);
        } else {
          nodes[node].next.emplace_back(c, static_cast<uint32_t>(child));
        }
      }
      node = static_cast<uint32_t>(child);
    }
    // Duplicate texts: the first (highest-ranked) id keeps the node.
    if (nodes[node].token < 0) nodes[node].token = id;
  }

  bool empty() const { return nodes.size() == 1; }
};

Tokenizer::Tokenizer(Vocab vocab)
    : vocab_(std::move(vocab)), specials_(std::make_shared<const SpecialIndex>(vocab_)) {}

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const gguf::File& f) {
  Vocab v = Vocab::from_gguf(f);
  try {
    return from_vocab(std::move(v));
  } catch (const Error& e) {
    throw Error(e.kind(), fmt::format("{}: {}", f.name(), e.what()));
  }
}

std::unique_ptr<Tokenizer> Tokenizer::from_vocab(Vocab vocab) {
  const std::string model = vocab.model;
  if (model == "llama") return make_spm(std::move(vocab));
  if (model == "gpt2") return make_bpe(std::move(vocab));
  if (model == "bert") return make_wordpiece(std::move(vocab));
  if (model == "none" || model == "no_vocab") {
    throw_error(ErrorKind::unsupported, "the model has no tokenizer (tokenizer.ggml.model = '{}')", model);
  }
  throw_error(ErrorKind::unsupported,
              "tokenizer.ggml.model '{}' is not supported (supported: 'llama' = SentencePiece, "
              "'gpt2' = byte-level BPE, 'bert' = WordPiece)",
              model);
}

namespace {

// A piece of the input: raw text to run the family's algorithm on, or one special token.
struct Fragment {
  size_t offset = 0, length = 0;
  Token special = -1;
};

}  // namespace

std::vector<Token> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  // Offsets inside the tokenizers are 32-bit (SPM triples spaces into "▁"); no prompt comes near.
  if (text.size() >= (size_t{1} << 30)) {
    throw_error(ErrorKind::limit, "a text of {} bytes is too long to tokenize in one piece (limit 1 GiB)",
                text.size());
  }
  // 1. Which special tokens occur in the text at all: one pass with the trie, marking nodes.
  //    With parse_special off only user-defined tokens count (added vocabulary such as Phi-3's
  //    "</s>" is always a unit in the reference tokenizers); control and unknown tokens are
  //    then plain text.
  const SpecialIndex& sx = *specials_;
  std::vector<Token> present;
  if (!sx.empty()) {
    std::vector<uint8_t> seen(sx.nodes.size(), 0);
    for (size_t pos = 0; pos < text.size(); ++pos) {
      int32_t node = sx.root[static_cast<unsigned char>(text[pos])];
      for (size_t k = pos + 1; node >= 0; ++k) {
        const auto& nd = sx.nodes[static_cast<size_t>(node)];
        if (nd.token >= 0 && !seen[static_cast<size_t>(node)] &&
            (parse_special || vocab_.type(nd.token) == TokenType::user_defined)) {
          seen[static_cast<size_t>(node)] = 1;
          present.push_back(nd.token);
        }
        if (k >= text.size()) break;
        const auto c = static_cast<unsigned char>(text[k]);
        int32_t child = -1;
        for (const auto& [byte, n] : nd.next) {
          if (byte == c) {
            child = static_cast<int32_t>(n);
            break;
          }
        }
        node = child;
      }
    }
  }

  // 2. Claim occurrences token by token in rank order (longest first), each token left to right;
  //    an occurrence overlapping text already claimed stays text. This is what splitting the
  //    text by each special token in turn, longest first, gives (the reference's rule), in
  //    O(tokens present × text) time and O(text) memory, however the occurrences overlap.
  struct Match {
    size_t pos, len;
    Token id;
  };
  std::vector<Fragment> fragments;
  if (present.empty()) {
    if (!text.empty()) fragments.push_back({0, text.size(), -1});
  } else {
    std::sort(present.begin(), present.end(), [&](Token a, Token b) {
      return sx.rank[static_cast<size_t>(a)] < sx.rank[static_cast<size_t>(b)];
    });
    std::vector<uint8_t> used(text.size(), 0);
    std::vector<Match> taken;
    for (Token id : present) {
      const std::string& piece = vocab_.tokens[static_cast<size_t>(id)];
      for (size_t pos = text.find(piece); pos != std::string_view::npos; pos = text.find(piece, pos)) {
        const auto first = used.begin() + static_cast<ptrdiff_t>(pos);
        const auto last = first + static_cast<ptrdiff_t>(piece.size());
        if (std::find(first, last, uint8_t{1}) != last) {
          ++pos;
          continue;
        }
        std::fill(first, last, uint8_t{1});
        taken.push_back({pos, piece.size(), id});
        pos += piece.size();
      }
    }
    std::sort(taken.begin(), taken.end(), [](const Match& a, const Match& b) { return a.pos < b.pos; });
    // Text between two claimed tokens, minus the whitespace they swallow (lstrip/rstrip);
    // what is left empty is no fragment at all.
    const auto strips = [&](Token id, uint8_t bit) {
      return !vocab_.strip.empty() && (vocab_.strip[static_cast<size_t>(id)] & bit) != 0;
    };
    const auto is_space = [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); };
    const auto add_text = [&](size_t begin, size_t end, Token before, Token after) {
      if (before >= 0 && strips(before, Vocab::kStripRight)) {
        while (begin < end && is_space(text[begin])) ++begin;
      }
      if (after >= 0 && strips(after, Vocab::kStripLeft)) {
        while (end > begin && is_space(text[end - 1])) --end;
      }
      if (end > begin) fragments.push_back({begin, end - begin, -1});
    };
    size_t at = 0;
    Token before = -1;
    for (const Match& m : taken) {
      add_text(at, m.pos, before, m.id);
      fragments.push_back({m.pos, m.len, m.id});
      at = m.pos + m.len;
      before = m.id;
    }
    add_text(at, text.size(), before, -1);
  }

  // 3. BOS/EOS around the fragments. WordPiece models wrap the input in [CLS] … [SEP].
  const bool bert = vocab_.model == "bert";
  const Token first = bert && vocab_.cls >= 0 ? vocab_.cls : vocab_.bos;
  const Token last = bert && vocab_.sep >= 0 ? vocab_.sep : vocab_.eos;

  std::vector<Token> out;
  out.reserve(text.size() / 3 + 4);
  if (add_special && vocab_.add_bos && first >= 0) out.push_back(first);
  bool after_special = true;
  for (const Fragment& fr : fragments) {
    if (fr.special >= 0) {
      out.push_back(fr.special);
      after_special = true;
    } else {
      encode_fragment(text.substr(fr.offset, fr.length), after_special, out);
      after_special = false;
    }
  }
  if (add_special && vocab_.add_eos && last >= 0) out.push_back(last);
  return out;
}

std::string Tokenizer::token_to_piece(Token id, bool render_special) const {
  if (id < 0 || static_cast<size_t>(id) >= vocab_.size()) {
    throw_error(ErrorKind::invalid_argument, "token id {} is outside the vocabulary (0..{})", id,
                vocab_.size() - 1);
  }
  switch (vocab_.type(id)) {
    case TokenType::control:
    case TokenType::unknown:
      return render_special ? special_text(id) : std::string();
    default:
      return piece_bytes(id);
  }
}

std::string Tokenizer::decode(std::span<const Token> ids, bool render_special) const {
  std::string text;
  for (Token id : ids) text += token_to_piece(id, render_special);
  return finish_decode(std::move(text), ids);
}

}  // namespace hearth::tokenizer
