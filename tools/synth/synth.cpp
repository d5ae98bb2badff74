#include "synth.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <memory>
#include <thread>

#include "gguf/gguf.h"
#include "gguf/writer.h"
#include "kernels/quant.h"
#include "model/quantize.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace hearth::synth {

using gguf::TensorType;
using model::Arch;

// ---- presets, names ----

Shape preset_shape(std::string_view preset, Arch arch) {
  Shape s;
  if (preset == "tiny") {
    // Small enough for a test (≤ ~3 MB as F32), every matrix width a multiple of 256 so the
    // K-quants apply, and each architecture a different attention layout.
    s.n_vocab = 512;
    s.n_embd = 256;
    s.n_layer = 2;
    s.n_ctx = 512;
    switch (arch) {
      case Arch::llama:  // head size 32, GQA 2:1
        s.n_head = 8;
        s.n_head_kv = 4;
        s.n_ff = 512;
        break;
      case Arch::mistral:  // head size 64, multi-query (one KV head), window of 6 positions
        s.n_head = 4;
        s.n_head_kv = 1;
        s.n_ff = 512;
        s.sliding_window = 6;
        break;
      case Arch::qwen2:  // head size 64, GQA 2:1, biases, tied embeddings (as Qwen2.5 0.5B)
        s.n_head = 4;
        s.n_head_kv = 2;
        s.n_ff = 768;
        s.tied_embeddings = true;
        break;
      case Arch::qwen3:  // head size 128 with n_head * head_dim = 512 != n_embd (as Qwen3)
        s.n_head = 4;
        s.n_head_kv = 2;
        s.head_dim = 128;
        s.n_ff = 512;
        break;
    }
    return s;
  }
  if (preset == "tinyllama-1.1b") {
    s.n_vocab = 32000;
    s.n_embd = 2048;
    s.n_layer = 22;
    s.n_ff = 5632;
    s.n_head = 32;
    s.n_head_kv = 4;
    s.n_ctx = 2048;
  } else if (preset == "qwen2.5-0.5b") {
    s.n_vocab = 151936;
    s.n_embd = 896;
    s.n_layer = 24;
    s.n_ff = 4864;
    s.n_head = 14;
    s.n_head_kv = 2;
    s.n_ctx = 32768;
    s.tied_embeddings = true;
  } else {
    throw_error(ErrorKind::invalid_argument, "unknown preset '{}' (presets: tiny, tinyllama-1.1b, qwen2.5-0.5b)",
                preset);
  }
  if (arch == Arch::mistral) s.sliding_window = 4096;
  return s;
}

std::vector<std::string> preset_names() { return {"tiny", "tinyllama-1.1b", "qwen2.5-0.5b"}; }

Arch parse_arch(std::string_view name) {
  for (Arch a : {Arch::llama, Arch::mistral, Arch::qwen2, Arch::qwen3}) {
    if (name == model::arch_name(a)) return a;
  }
  throw_error(ErrorKind::invalid_argument, "unknown architecture '{}' (llama, mistral, qwen2, qwen3)", name);
}

const std::vector<TensorType>& weight_types() {
  static const std::vector<TensorType> types = {
      TensorType::F32,  TensorType::F16,  TensorType::BF16, TensorType::Q8_0, TensorType::Q4_0, TensorType::Q4_1,
      TensorType::Q5_0, TensorType::Q5_1, TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K};
  return types;
}

TensorType parse_type(std::string_view name) {
  std::string up(name);
  for (char& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (TensorType t : weight_types()) {
    if (up == gguf::tensor_type_name(t)) return t;
  }
  throw_error(ErrorKind::invalid_argument,
              "type '{}' is not one the tool writes (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, "
              "Q6_K)", name);
}

TensorType storage_type(TensorType type, int64_t cols) {
  const int64_t block = gguf::block_size(type);
  if (cols % block == 0) return type;
  switch (type) {
    case TensorType::Q4_K: return cols % 32 == 0 ? TensorType::Q5_0 : TensorType::F16;
    case TensorType::Q5_K: return cols % 32 == 0 ? TensorType::Q5_1 : TensorType::F16;
    case TensorType::Q6_K: return cols % 32 == 0 ? TensorType::Q8_0 : TensorType::F16;
    default: return TensorType::F16;
  }
}

namespace {

// ---- deterministic random numbers: a counter-based generator ----

uint64_t mix64(uint64_t x) {  // splitmix64's finalizer
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001B3ull;
  return h;
}

// Number i of the stream `key`: approximately standard normal (Irwin-Hall: the sum of four
// uniform 16-bit draws from one 64-bit hash, centred and scaled to unit variance; bounded by
// ±2√3). Integer arithmetic and one float multiply, so the values are bit-identical on every
// platform and cost a few nanoseconds each (a 1.1B-parameter model draws 1.1e9 of them).
inline float normal_at(uint64_t key, uint64_t i) {
  const uint64_t r = mix64(key + (i + 1) * 0x9E3779B97F4A7C15ull);
  const int64_t sum = int64_t(r & 0xFFFF) + int64_t((r >> 16) & 0xFFFF) + int64_t((r >> 32) & 0xFFFF) +
                      int64_t(r >> 48);  // 0 .. 4·65535, mean 2·65535.5 with the +0.5 below
  // Each uniform is (u + 0.5) / 65536 with variance 1/12: the sum's variance is 1/3.
  constexpr float kScale = 1.7320508075688772f / 65536.0f;  // √3 / 65536
  return static_cast<float>(2 * sum + 4 - 4 * 65536) * 0.5f * kScale;
}

// ---- tensors ----

// How a tensor's values are drawn: value = offset + scale · N(0, 1).
struct Init {
  float offset = 0.0f;
  float scale = 1.0f;
};

struct PlannedTensor {
  std::string name;
  std::vector<uint64_t> dims;  // ne[0] first
  TensorType type;
  Init init;
};

std::vector<PlannedTensor> plan_tensors(const Options& o, int64_t head_dim) {
  const Shape& s = o.shape;
  const int64_t n_q = s.n_head * head_dim, n_kv = s.n_head_kv * head_dim;
  std::vector<PlannedTensor> out;
  const Init norm{1.0f, 0.1f};
  auto matrix = [&](std::string name, int64_t cols, int64_t rows) {
    // Unit-variance inputs give unit-variance outputs: scale 1/sqrt(cols).
    out.push_back({std::move(name), {uint64_t(cols), uint64_t(rows)}, storage_type(o.type, cols),
                   Init{0.0f, static_cast<float>(1.0 / std::sqrt(double(cols)))}});
  };
  auto vector = [&](std::string name, int64_t n, Init init) {
    out.push_back({std::move(name), {uint64_t(n)}, TensorType::F32, init});
  };
  matrix("token_embd.weight", s.n_embd, s.n_vocab);
  vector("output_norm.weight", s.n_embd, norm);
  if (!s.tied_embeddings) matrix("output.weight", s.n_embd, s.n_vocab);
  for (int64_t l = 0; l < s.n_layer; ++l) {
    const std::string p = fmt::format("blk.{}.", l);
    vector(p + "attn_norm.weight", s.n_embd, norm);
    matrix(p + "attn_q.weight", s.n_embd, n_q);
    matrix(p + "attn_k.weight", s.n_embd, n_kv);
    matrix(p + "attn_v.weight", s.n_embd, n_kv);
    if (o.arch == Arch::qwen2) {
      vector(p + "attn_q.bias", n_q, Init{0.0f, 0.2f});
      vector(p + "attn_k.bias", n_kv, Init{0.0f, 0.2f});
      vector(p + "attn_v.bias", n_kv, Init{0.0f, 0.2f});
    }
    if (o.arch == Arch::qwen3) {
      vector(p + "attn_q_norm.weight", head_dim, norm);
      vector(p + "attn_k_norm.weight", head_dim, norm);
    }
    matrix(p + "attn_output.weight", n_q, s.n_embd);
    vector(p + "ffn_norm.weight", s.n_embd, norm);
    matrix(p + "ffn_gate.weight", s.n_embd, s.n_ff);
    matrix(p + "ffn_down.weight", s.n_ff, s.n_embd);
    matrix(p + "ffn_up.weight", s.n_embd, s.n_ff);
  }
  return out;
}

// Rows of values drawn and converted to `t.type`, split over the pool's threads.
std::vector<uint8_t> make_tensor(const PlannedTensor& t, uint64_t seed, ThreadPool& pool) {
  const int64_t cols = static_cast<int64_t>(t.dims[0]);
  int64_t rows = 1;
  for (size_t i = 1; i < t.dims.size(); ++i) rows *= static_cast<int64_t>(t.dims[i]);
  const uint64_t row_bytes = gguf::row_bytes(t.type, static_cast<uint64_t>(cols));
  std::vector<uint8_t> data(row_bytes * static_cast<uint64_t>(rows));
  const uint64_t key = mix64(seed ^ 0x5EEDull) ^ fnv1a(t.name);
  pool.run([&](int ith, int nth) {
    std::vector<float> row(static_cast<size_t>(cols));
    for (int64_t r = ith; r < rows; r += nth) {
      for (int64_t c = 0; c < cols; ++c) {
        row[c] = t.init.offset + t.init.scale * normal_at(key, static_cast<uint64_t>(r * cols + c));
      }
      kernels::quantize_row(t.type, row.data(), data.data() + static_cast<uint64_t>(r) * row_bytes, cols);
    }
  });
  return data;
}

// ---- vocabulary ----

struct VocabKeys {
  std::vector<gguf::KeyValue> kv;  // tokenizer.ggml.* in order
};

gguf::Value string_array(const std::vector<std::string>& v) {
  gguf::Array a;
  a.type = gguf::ValueType::STRING;
  a.items.reserve(v.size());
  for (const auto& s : v) a.items.emplace_back(s);
  return gguf::Value(std::move(a));
}

gguf::Value float_array(const std::vector<float>& v) {
  gguf::Array a;
  a.type = gguf::ValueType::FLOAT32;
  a.items.reserve(v.size());
  for (float x : v) a.items.emplace_back(x);
  return gguf::Value(std::move(a));
}

gguf::Value int_array(const std::vector<int32_t>& v) {
  gguf::Array a;
  a.type = gguf::ValueType::INT32;
  a.items.reserve(v.size());
  for (int32_t x : v) a.items.emplace_back(x);
  return gguf::Value(std::move(a));
}

// tokens / scores / types of the vocabulary, padded with unused "<unused_N>" pieces to n_vocab,
// and the other tokenizer.ggml.* keys.
std::vector<gguf::KeyValue> vocab_keys(const Options& o) {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  std::vector<gguf::KeyValue> extra;
  if (!o.vocab_from.empty()) {
    gguf::File f = gguf::File::open(o.vocab_from);
    if (f.find_string("tokenizer.ggml.model").value_or("") != "llama") {
      throw_error(ErrorKind::unsupported, "{}: only SentencePiece ('llama') vocabularies can be copied",
                  o.vocab_from);
    }
    tokens = f.get_string_array("tokenizer.ggml.tokens");
    scores = f.has("tokenizer.ggml.scores") ? f.get_float_array("tokenizer.ggml.scores")
                                            : std::vector<float>(tokens.size(), 0.0f);
    if (f.has("tokenizer.ggml.token_type")) {
      for (int64_t t : f.get_int_array("tokenizer.ggml.token_type")) types.push_back(static_cast<int32_t>(t));
    } else {
      types.assign(tokens.size(), 1);
    }
    for (const auto& kv : f.metadata()) {
      if (kv.key.rfind("tokenizer.", 0) != 0) continue;
      if (kv.key == "tokenizer.ggml.tokens" || kv.key == "tokenizer.ggml.scores" ||
          kv.key == "tokenizer.ggml.token_type") {
        continue;
      }
      extra.push_back(kv);
    }
  } else {
    // Byte-fallback SentencePiece: <unk> <s> </s>, the 256 byte pieces, "▁" and printable ASCII.
    tokens = {"<unk>", "<s>", "</s>"};
    types = {2, 3, 3};
    for (int b = 0; b < 256; ++b) {
      tokens.push_back(fmt::format("<0x{:02X}>", b));
      types.push_back(6);
    }
    tokens.push_back("\xE2\x96\x81");
    types.push_back(1);
    for (char c = '!'; c <= '~'; ++c) {
      tokens.emplace_back(1, c);
      types.push_back(1);
    }
    for (size_t i = 0; i < tokens.size(); ++i) scores.push_back(types[i] == 1 ? -static_cast<float>(i) : 0.0f);
    extra.push_back({"tokenizer.ggml.model", gguf::Value("llama")});
    extra.push_back({"tokenizer.ggml.unknown_token_id", gguf::Value(uint32_t(0))});
    extra.push_back({"tokenizer.ggml.bos_token_id", gguf::Value(uint32_t(1))});
    extra.push_back({"tokenizer.ggml.eos_token_id", gguf::Value(uint32_t(2))});
  }
  if (static_cast<int64_t>(tokens.size()) > o.shape.n_vocab) {
    throw_error(ErrorKind::invalid_argument, "the vocabulary has {} tokens, more than the model's {} rows",
                tokens.size(), o.shape.n_vocab);
  }
  for (int64_t i = static_cast<int64_t>(tokens.size()); i < o.shape.n_vocab; ++i) {
    tokens.push_back(fmt::format("<unused_{}>", i));
    scores.push_back(-1e9f);
    types.push_back(5);
  }
  std::vector<gguf::KeyValue> out;
  // Keep the usual order: model first, then the arrays, then the ids.
  for (auto it = extra.begin(); it != extra.end(); ++it) {
    if (it->key == "tokenizer.ggml.model") {
      out.push_back(*it);
      extra.erase(it);
      break;
    }
  }
  out.push_back({"tokenizer.ggml.tokens", string_array(tokens)});
  out.push_back({"tokenizer.ggml.scores", float_array(scores)});
  out.push_back({"tokenizer.ggml.token_type", int_array(types)});
  for (auto& kv : extra) out.push_back(std::move(kv));
  return out;
}

void check_shape(const Options& o, int64_t head_dim) {
  const Shape& s = o.shape;
  if (s.n_vocab <= 0 || s.n_embd <= 0 || s.n_layer <= 0 || s.n_ff <= 0 || s.n_head <= 0 || s.n_head_kv <= 0 ||
      head_dim <= 0 || s.n_ctx <= 0) {
    throw_error(ErrorKind::invalid_argument, "synthetic model: every size must be positive");
  }
  if (s.n_head % s.n_head_kv != 0) {
    throw_error(ErrorKind::invalid_argument, "synthetic model: {} heads is not a multiple of {} KV heads",
                s.n_head, s.n_head_kv);
  }
  if (head_dim % 2 != 0) throw_error(ErrorKind::invalid_argument, "synthetic model: head size {} is odd", head_dim);
  if (s.sliding_window < 0) throw_error(ErrorKind::invalid_argument, "synthetic model: negative sliding window");
}

}  // namespace

void write_model(const Options& o, const std::string& path) {
  const Shape& s = o.shape;
  const int64_t head_dim = s.head_dim > 0 ? s.head_dim : (s.n_head > 0 ? s.n_embd / s.n_head : 0);
  check_shape(o, head_dim);
  if (std::find(weight_types().begin(), weight_types().end(), o.type) == weight_types().end()) {
    throw_error(ErrorKind::invalid_argument, "synthetic model: type {} is not supported",
                gguf::tensor_type_name(o.type));
  }
  const bool qwen = o.arch == Arch::qwen2 || o.arch == Arch::qwen3;
  const std::string arch = model::arch_name(o.arch);
  const std::string p = arch + ".";

  gguf::Writer w;
  w.set("general.architecture", gguf::Value(arch));
  w.set("general.name", gguf::Value(fmt::format("synthetic {} {} (seed {})", arch,
                                                gguf::tensor_type_name(o.type), o.seed)));
  w.set("general.file_type", gguf::Value(model::gguf_file_type(o.type)));
  if (o.type != TensorType::F32 && o.type != TensorType::F16 && o.type != TensorType::BF16) {
    w.set("general.quantization_version", gguf::Value(uint32_t(2)));
  }
  w.set(p + "context_length", gguf::Value(uint32_t(s.n_ctx)));
  w.set(p + "embedding_length", gguf::Value(uint32_t(s.n_embd)));
  w.set(p + "block_count", gguf::Value(uint32_t(s.n_layer)));
  w.set(p + "feed_forward_length", gguf::Value(uint32_t(s.n_ff)));
  w.set(p + "attention.head_count", gguf::Value(uint32_t(s.n_head)));
  w.set(p + "attention.head_count_kv", gguf::Value(uint32_t(s.n_head_kv)));
  if (s.head_dim > 0) {
    w.set(p + "attention.key_length", gguf::Value(uint32_t(s.head_dim)));
    w.set(p + "attention.value_length", gguf::Value(uint32_t(s.head_dim)));
  }
  if (!qwen) w.set(p + "rope.dimension_count", gguf::Value(uint32_t(head_dim)));
  const double freq_base = s.rope_freq_base > 0 ? s.rope_freq_base : (qwen ? 1000000.0 : 10000.0);
  const double eps = s.rms_eps > 0 ? s.rms_eps : (qwen ? 1e-6 : 1e-5);
  w.set(p + "rope.freq_base", gguf::Value(float(freq_base)));
  w.set(p + "attention.layer_norm_rms_epsilon", gguf::Value(float(eps)));
  if (s.sliding_window > 0) w.set(p + "attention.sliding_window", gguf::Value(uint32_t(s.sliding_window)));
  for (auto& kv : vocab_keys(o)) w.set(std::move(kv.key), std::move(kv.value));

  const std::vector<PlannedTensor> plan = plan_tensors(o, head_dim);
  uint64_t total = 0;
  for (const auto& t : plan) {
    uint64_t n = 1;
    for (uint64_t d : t.dims) n *= d;
    total += gguf::row_bytes(t.type, n);
  }
  int n_threads = o.n_threads;
  if (n_threads <= 0) n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  ThreadPool pool(n_threads);
  uint64_t done = 0;
  for (size_t i = 0; i < plan.size(); ++i) {
    std::vector<uint8_t> data = make_tensor(plan[i], o.seed, pool);
    done += data.size();
    w.add_tensor_owned(plan[i].name, plan[i].type, plan[i].dims, std::move(data));
    if (o.progress) o.progress(i + 1, plan.size(), done, total, plan[i].name);
  }
  w.write(path);
}

}  // namespace hearth::synth
