// The C++ forward pass against the independent NumPy oracle (tests/oracle/forward.py, which
// reads GGUF and dequantizes with its own code): every logit of every position, for
//   - synthetic models (tools/synth) of each architecture × weight type,
//   - the sample model models/stories260K.gguf,
//   - mistral's sliding window (it changes the logits, and both sides agree on how).
// The oracle computes in float64 and mirrors hearth's two deliberate roundings:
//   - the KV cache is F16. A K/V value lying on a midpoint between two halves rounds either way
//     depending on float32 noise, and one cached value a step off moves later logits by up to
//     ~2e-3 (seen on the sample model). So the oracle takes hearth's cache (--kv-from) after
//     checking every value is within one F16 step of its own, and the logits compare exactly;
//   - inputs of products with quantized weights are rounded to 8-bit blocks (--act-q8).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "model/model.h"
#include "synth.h"
#include "testdata.h"

using namespace hearth;
using gguf::TensorType;
using model::Arch;
namespace fs = std::filesystem;

namespace {

// ---- subprocess and .npy helpers ----

using RunResult = hearth::test::CommandResult;

RunResult run(const std::string& cmd) {
  return hearth::test::run_command(cmd + " 2>&1");
}

struct Matrix {
  int64_t rows = 0, cols = 0;  // the last dimension is cols; all others multiply into rows
  std::vector<double> v;
  double at(int64_t r, int64_t c) const { return v[static_cast<size_t>(r * cols + c)]; }
};

// A little-endian float32 or float64 C-order .npy file (what forward.py writes).
Matrix read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) throw std::runtime_error(path + ": not .npy");
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len, pos;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    pos = 10;
  } else {
    uint32_t n;
    std::memcpy(&n, bytes.data() + 8, 4);
    header_len = n;
    pos = 12;
  }
  const std::string header = bytes.substr(pos, header_len);
  const bool f4 = header.find("'<f4'") != std::string::npos, f8 = header.find("'<f8'") != std::string::npos;
  if ((!f4 && !f8) || header.find("'fortran_order': False") == std::string::npos) {
    throw std::runtime_error(path + ": expected C-order float32/float64, header " + header);
  }
  const size_t lp = header.find("'shape': (");
  if (lp == std::string::npos) throw std::runtime_error(path + ": no shape in " + header);
  std::vector<int64_t> dims;
  for (const char* p = header.c_str() + lp + 10; *p != ')' && *p != '\0';) {
    char* end;
    dims.push_back(std::strtoll(p, &end, 10));
    p = end;
    while (*p == ',' || *p == ' ') ++p;
  }
  if (dims.size() < 2) throw std::runtime_error(path + ": expected at least 2 dimensions: " + header);
  Matrix m;
  m.cols = dims.back();
  m.rows = 1;
  for (size_t i = 0; i + 1 < dims.size(); ++i) m.rows *= dims[i];
  pos += header_len;
  const size_t n = static_cast<size_t>(m.rows * m.cols), elt = f4 ? 4 : 8;
  if (bytes.size() - pos != n * elt) throw std::runtime_error(path + ": truncated");
  m.v.resize(n);
  for (size_t i = 0; i < n; ++i) {
    if (f4) {
      float x;
      std::memcpy(&x, bytes.data() + pos + i * 4, 4);
      m.v[i] = x;
    } else {
      std::memcpy(&m.v[i], bytes.data() + pos + i * 8, 8);
    }
  }
  return m;
}

std::string python() { return HEARTH_PYTHON3; }
std::string oracle_script() { return test::source_dir() + "/tests/oracle/forward.py"; }

std::string join_ids(const std::vector<tokenizer::Token>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) s += ',';
    s += std::to_string(ids[i]);
  }
  return s;
}

// Writes hearth's F16 cache of positions [0, n) as .npy [n_layer, 2 (K, V), n, n_embd_kv] float16.
void write_kv_npy(const model::KvCache& kv, int64_t n, const std::string& path) {
  const size_t n_layer = kv.k.size();
  std::string header = "{'descr': '<f2', 'fortran_order': False, 'shape': (" + std::to_string(n_layer) + ", 2, " +
                       std::to_string(n) + ", " + std::to_string(kv.n_embd_kv) + "), }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  out.write("\x93NUMPY\x01\x00", 8);
  const uint16_t len = static_cast<uint16_t>(header.size());
  out.write(reinterpret_cast<const char*>(&len), 2);  // little-endian hosts only (x86-64, ARM64)
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  // The oracle wants position-major rows; the cache keeps each KV head's rows together.
  const int64_t n_head_kv = kv.n_embd_kv / kv.head_dim;
  std::vector<uint16_t> rows(static_cast<size_t>(n * kv.n_embd_kv));
  for (size_t l = 0; l < n_layer; ++l) {
    for (bool is_v : {false, true}) {
      for (int64_t t = 0; t < n; ++t)
        for (int64_t h = 0; h < n_head_kv; ++h)
          std::copy_n((is_v ? kv.v_rows(l, h) : kv.k_rows(l, h)) + t * kv.head_dim, kv.head_dim,
                      rows.begin() + (t * n_head_kv + h) * kv.head_dim);
      out.write(reinterpret_cast<const char*>(rows.data()), static_cast<std::streamsize>(rows.size() * 2));
    }
  }
  if (!out) throw std::runtime_error(path + ": write failed");
}

// The oracle's logits [tokens][n_vocab] for hearth's K/V cache of those tokens (`ctx`, which
// evaluated exactly `tokens` from position 0). Throws with the oracle's message if it fails,
// e.g. because a cached value is more than one F16 step from the oracle's own (plus 10 % of the
// row's RMS with 8-bit activations, for the same reason as kQuantRelTolerance).
Matrix oracle_logits(const std::string& model_path, const std::vector<tokenizer::Token>& tokens,
                     const model::Context& ctx, bool act_q8 = false) {
  const std::string dir = test::temp_dir();
  write_kv_npy(ctx.kv_cache(), static_cast<int64_t>(tokens.size()), dir + "/kv.npy");
  RunResult r = run(hearth::test::shell_quote(python()) + " " + hearth::test::shell_quote(oracle_script()) + " " + hearth::test::shell_quote(model_path) + " --tokens " +
                    join_ids(tokens) + (act_q8 ? " --act-q8 --kv-tolerance 0.1" : "") + " --kv-from " +
                    hearth::test::shell_quote(dir + "/kv.npy") + " --logits-out " + hearth::test::shell_quote(dir + "/logits.npy"));
  if (r.code != 0) {
    throw std::runtime_error("oracle failed (exit " + std::to_string(r.code) + "): " + r.out +
                             "\n(it needs Debian's python3 with python3-numpy: scripts/setup-deps.sh)");
  }
  Matrix m = read_npy(dir + "/logits.npy");
  fs::remove_all(dir);
  return m;
}

// hearth's logits for `tokens`, all in one eval_all call on a fresh context (kept in `ctx` for
// its K/V cache).
Matrix hearth_logits(const model::Model& m, const std::vector<tokenizer::Token>& tokens,
                     std::unique_ptr<model::Context>& ctx) {
  ctx = std::make_unique<model::Context>(m, model::ContextOptions{.n_ctx = 256, .n_threads = 2});
  std::span<const float> l = ctx->eval_all(tokens);
  Matrix out;
  out.rows = static_cast<int64_t>(tokens.size());
  out.cols = m.hparams().n_vocab;
  out.v.assign(l.begin(), l.end());
  return out;
}

// Max |hearth - oracle| per logit. Float weights (F32, F16, BF16) meet float activations, so
// hearth differs from the float64 oracle by float32 rounding only: 1e-4 absolute (measured:
// ≤ 6e-6). Quantized weights meet activations rounded to 8-bit blocks (Q8A, 32 values, for
// Q4_0..Q8_0; Q8_K, 256 values, for the K-quants), which the oracle reproduces (--act-q8). A
// position then agrees as exactly as with float weights, unless one of its activations lies on a rounding midpoint
// (x / d = k + 0.5 within float32 noise, ~3 % of positions): a level flips, the later
// roundings of that position decorrelate, and its logits move by up to ~7 % of their spread
// (the other positions are unaffected, as the oracle takes hearth's K/V cache). So quantized
// types must keep every logit within 25 % of the spread and at least half of the positions
// exact; a wrong layout, scale or min fails one or the other. (Without the emulation the
// difference is 7-16 % of the spread everywhere.)
constexpr double kFloatAbsTolerance = 1e-4;
constexpr double kQuantRelTolerance = 0.25;

struct Diff {
  double max_abs = 0;     // max |hearth - oracle| over every logit
  double oracle_std = 0;  // standard deviation of the oracle's logits
  int argmax_mismatch = 0;
  int exact_positions = 0;  // positions whose every logit is within kFloatAbsTolerance
};

Diff compare(const Matrix& a, const Matrix& b) {
  Diff d;
  EXPECT_EQ(a.rows, b.rows);
  EXPECT_EQ(a.cols, b.cols);
  if (a.rows != b.rows || a.cols != b.cols) return d;
  double sum = 0, sum2 = 0;
  for (size_t i = 0; i < a.v.size(); ++i) {
    d.max_abs = std::max(d.max_abs, std::fabs(a.v[i] - b.v[i]));
    sum += b.v[i];
    sum2 += b.v[i] * b.v[i];
  }
  const double n = double(b.v.size());
  d.oracle_std = std::sqrt(std::max(0.0, sum2 / n - (sum / n) * (sum / n)));
  for (int64_t r = 0; r < a.rows; ++r) {
    auto ra = a.v.begin() + r * a.cols, rb = b.v.begin() + r * b.cols;
    if (std::max_element(ra, ra + a.cols) - ra != std::max_element(rb, rb + b.cols) - rb) ++d.argmax_mismatch;
    double row_max = 0;
    for (int64_t c = 0; c < a.cols; ++c) row_max = std::max(row_max, std::fabs(ra[c] - rb[c]));
    if (row_max <= kFloatAbsTolerance) ++d.exact_positions;
  }
  return d;
}

// A fixed sequence: BOS, ids from all over the vocabulary, longer than mistral's tiny window.
const std::vector<tokenizer::Token> kTokens = {1, 45, 300, 7, 511, 128, 260, 3, 99, 400, 17, 256};

bool is_float(TensorType t) { return t == TensorType::F32 || t == TensorType::F16 || t == TensorType::BF16; }

// The synthetic models' seed; HEARTH_ORACLE_SEED overrides it (soak runs over many seeds).
uint64_t synth_seed() {
  const char* env = std::getenv("HEARTH_ORACLE_SEED");
  return env != nullptr && *env != '\0' ? std::strtoull(env, nullptr, 10) : 7;
}

struct Case {
  Arch arch;
  TensorType type;
};

std::string case_name(const testing::TestParamInfo<Case>& info) {
  return std::string(model::arch_name(info.param.arch)) + "_" + std::string(gguf::tensor_type_name(info.param.type));
}

std::vector<Case> all_cases() {
  std::vector<Case> out;
  for (Arch a : {Arch::llama, Arch::mistral, Arch::qwen2, Arch::qwen3}) {
    for (TensorType t : synth::weight_types()) out.push_back({a, t});
  }
  return out;
}

std::string write_synthetic(Arch arch, TensorType type, synth::Shape shape, uint64_t seed) {
  synth::Options o;
  o.arch = arch;
  o.type = type;
  o.shape = shape;
  o.seed = seed;
  o.n_threads = 2;
  o.vocab_from = test::source_dir() + "/models/stories260K.gguf";
  const std::string path = test::temp_dir() + "/" + std::string(model::arch_name(arch)) + "-" +
                           std::string(gguf::tensor_type_name(type)) + ".gguf";
  synth::write_model(o, path);
  return path;
}

class OracleSynthetic : public testing::TestWithParam<Case> {};

}  // namespace

TEST_P(OracleSynthetic, AllLogitsMatchOracle) {
  const Case c = GetParam();
  const std::string path = write_synthetic(c.arch, c.type, synth::preset_shape("tiny", c.arch), synth_seed());
  auto m = model::Model::load(path);
  // The file really is what the case says: every matrix in the wanted type.
  for (const auto& t : m->file().tensors()) {
    if (t.dims.size() == 2) {
      ASSERT_EQ(t.type, c.type) << t.name;
    }
  }
  std::unique_ptr<model::Context> ctx;
  const Matrix ours = hearth_logits(*m, kTokens, ctx);
  const Diff d = compare(ours, oracle_logits(path, kTokens, *ctx, !is_float(c.type)));
  std::printf("[ oracle   ] %-8s %-5s max|diff| %.3g (%.3g %% of logit std %.3g), exact positions %d/%ld, "
              "argmax mismatches %d\n",
              model::arch_name(c.arch), std::string(gguf::tensor_type_name(c.type)).c_str(), d.max_abs,
              100.0 * d.max_abs / d.oracle_std, d.oracle_std, d.exact_positions, static_cast<long>(ours.rows),
              d.argmax_mismatch);
  EXPECT_GT(d.oracle_std, 0.3) << "synthetic logits are degenerate";
  if (is_float(c.type)) {
    EXPECT_LE(d.max_abs, kFloatAbsTolerance);
  } else {
    EXPECT_LE(d.max_abs, kQuantRelTolerance * d.oracle_std) << "logit std " << d.oracle_std;
    EXPECT_GE(2 * d.exact_positions, ours.rows) << "fewer than half of the positions agree to "
                                                << kFloatAbsTolerance << ": a systematic difference";
  }
  fs::remove(path);
}

INSTANTIATE_TEST_SUITE_P(AllArchsAndTypes, OracleSynthetic, testing::ValuesIn(all_cases()), case_name);

// The sample model, BOS + "Once upon a time" (5 tokens) extended greedily to 8 positions: every
// logit within 1e-4 of the oracle's bounds (the plain difference is 2.2e-3, from four K/V values
// in layers 2-3 that sit on F16 rounding midpoints, e.g. 12.40234375).
TEST(OracleStories, FirstEightPositionsMatchOracle) {
  const std::string path = test::source_dir() + "/models/stories260K.gguf";
  auto m = model::Model::load(path);
  std::vector<tokenizer::Token> tokens = m->tokenizer().encode("Once upon a time", true, false);
  ASSERT_EQ(tokens.size(), 5u);
  ASSERT_EQ(tokens[0], 1);
  {
    model::Context ctx(*m, {.n_ctx = 64, .n_threads = 2});
    std::span<const float> l = ctx.eval(tokens);
    while (tokens.size() < 8) {
      tokenizer::Token t = static_cast<tokenizer::Token>(std::max_element(l.begin(), l.end()) - l.begin());
      tokens.push_back(t);
      l = ctx.eval({&t, 1});
    }
  }
  std::unique_ptr<model::Context> ctx;
  const Matrix ours = hearth_logits(*m, tokens, ctx);
  const Diff d = compare(ours, oracle_logits(path, tokens, *ctx));
  std::printf("[ oracle   ] stories260K max|diff| %.3g  logit std %.3g\n", d.max_abs, d.oracle_std);
  EXPECT_LE(d.max_abs, 1e-4);
  EXPECT_EQ(d.argmax_mismatch, 0);
}

// Mistral's attention.sliding_window: with 16 tokens and a window of 4, logits from position 4 on
// differ from the same weights without a window, the first 4 do not, and both models agree with
// the oracle, whether the sequence is evaluated at once or token by token (the decode path).
TEST(OracleSlidingWindow, WindowChangesLogitsAndMatchesOracle) {
  synth::Shape windowed = synth::preset_shape("tiny", Arch::mistral);
  windowed.sliding_window = 4;
  synth::Shape full = windowed;
  full.sliding_window = 0;
  const std::string p_win = write_synthetic(Arch::mistral, TensorType::F32, windowed, synth_seed() + 4);
  const std::string p_full = test::temp_dir() + "/mistral-nowindow.gguf";
  fs::rename(write_synthetic(Arch::mistral, TensorType::F32, full, synth_seed() + 4), p_full);
  auto m_win = model::Model::load(p_win);
  auto m_full = model::Model::load(p_full);
  ASSERT_EQ(m_win->hparams().sliding_window, 4);
  ASSERT_EQ(m_full->hparams().sliding_window, 0);

  const std::vector<tokenizer::Token> tokens = {1, 200, 33, 480, 5, 77, 310, 12, 451, 90, 260, 8, 144, 399, 61, 2};
  std::unique_ptr<model::Context> ctx_win, ctx_full;
  const Matrix win = hearth_logits(*m_win, tokens, ctx_win);
  const Matrix nowin = hearth_logits(*m_full, tokens, ctx_full);
  for (int64_t pos = 0; pos < win.rows; ++pos) {
    double diff = 0;
    for (int64_t c = 0; c < win.cols; ++c) diff = std::max(diff, std::fabs(win.at(pos, c) - nowin.at(pos, c)));
    if (pos < 4) {
      EXPECT_LE(diff, 1e-6) << "position " << pos << " is inside the window: the window must not matter";
    } else {
      EXPECT_GT(diff, 0.05) << "position " << pos << " sees past the window: logits must change";
    }
  }
  const Diff d_win = compare(win, oracle_logits(p_win, tokens, *ctx_win));
  const Diff d_full = compare(nowin, oracle_logits(p_full, tokens, *ctx_full));
  std::printf("[ oracle   ] mistral window 4: max|diff| %.3g; no window: %.3g\n", d_win.max_abs, d_full.max_abs);
  EXPECT_LE(d_win.max_abs, kFloatAbsTolerance);
  EXPECT_LE(d_full.max_abs, kFloatAbsTolerance);

  // Token by token (the decode path, where the window drops cache positions one at a time).
  model::Context ctx(*m_win, {.n_ctx = 64, .n_threads = 2});
  Matrix steps = win;
  for (size_t i = 0; i < tokens.size(); ++i) {
    std::span<const float> l = ctx.eval({&tokens[i], 1});
    std::copy(l.begin(), l.end(), steps.v.begin() + static_cast<int64_t>(i) * steps.cols);
  }
  const Diff d_steps = compare(steps, oracle_logits(p_win, tokens, ctx));
  EXPECT_LE(d_steps.max_abs, kFloatAbsTolerance);
}

// The tool itself: runs, writes a file that loads, and is deterministic in the seed.
TEST(SynthTool, WritesLoadableDeterministicModels) {
  const std::string dir = test::temp_dir();
  const std::string base = hearth::test::shell_quote(HEARTH_SYNTH_BINARY) + " -q --arch qwen3 --type Q5_K --seed 5 --out ";
  RunResult a = run(base + hearth::test::shell_quote(dir + "/a.gguf"));
  ASSERT_EQ(a.code, 0) << a.out;
  RunResult b = run(base + hearth::test::shell_quote(dir + "/b.gguf") + " --threads 1");
  ASSERT_EQ(b.code, 0) << b.out;
  RunResult c = run(hearth::test::shell_quote(HEARTH_SYNTH_BINARY) + " -q --arch qwen3 --type Q5_K --seed 6 --out " + hearth::test::shell_quote(dir + "/c.gguf"));
  ASSERT_EQ(c.code, 0) << c.out;
  auto slurp = [](const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  EXPECT_EQ(slurp(dir + "/a.gguf"), slurp(dir + "/b.gguf")) << "same seed, different thread count";
  EXPECT_NE(slurp(dir + "/a.gguf"), slurp(dir + "/c.gguf")) << "different seeds";
  auto m = model::Model::load(dir + "/a.gguf");
  EXPECT_EQ(m->hparams().arch, Arch::qwen3);
  EXPECT_EQ(m->hparams().head_dim, 128);
  EXPECT_EQ(m->tokenizer().vocab().size(), 512u);

  RunResult bad = run(hearth::test::shell_quote(HEARTH_SYNTH_BINARY) + " --type Q3_K --out " + hearth::test::shell_quote(dir + "/d.gguf"));
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.out.find("Q3_K"), std::string::npos) << bad.out;
}

// Matrices whose width is not a multiple of 256 fall back as llama.cpp does (Qwen2.5 0.5B's 896).
TEST(SynthTool, KQuantFallbackForNarrowRows) {
  EXPECT_EQ(synth::storage_type(TensorType::Q4_K, 896), TensorType::Q5_0);
  EXPECT_EQ(synth::storage_type(TensorType::Q5_K, 896), TensorType::Q5_1);
  EXPECT_EQ(synth::storage_type(TensorType::Q6_K, 896), TensorType::Q8_0);
  EXPECT_EQ(synth::storage_type(TensorType::Q4_K, 4864), TensorType::Q4_K);
  EXPECT_EQ(synth::storage_type(TensorType::Q8_0, 896), TensorType::Q8_0);
}
