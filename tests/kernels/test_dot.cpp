// Dot products and matmul: every ISA path agrees with the generic one, the generic one
// agrees with "dequantize, then multiply in double", and matmul's error against the exact
// float product stays within what activation quantization can explain.
#include <gtest/gtest.h>

#include <algorithm>
#include <tuple>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"
#include "kernels/vec.h"
#include "kernel_checks.h"
#include "test_helpers.h"
#include "util/cpu.h"
#include "util/error.h"
#include "util/thread_pool.h"

// Allocation counter for the no-allocation test: counts every operator new in the process.
// (GCC cannot see that the replaced new/delete pair both use malloc/free.)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
static std::atomic<long> g_allocations{0};
void* operator new(size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace hearth::kernels {
namespace {

using gguf::TensorType;

const TensorType kWeightTypes[] = {TensorType::F32,  TensorType::F16,  TensorType::BF16, TensorType::Q4_0,
                                   TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0,
                                   TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K};

std::string name(TensorType t) { return std::string(gguf::tensor_type_name(t)); }

// Activation row for weight type t in the format table k's kernel expects, converted with the
// generic quantizer (which every table's quantizer matches bit for bit: see below).
// With one_token, in the format of the table's one-token products (one_token_act).
std::vector<uint8_t> activation(TensorType t, const std::vector<float>& x, const KernelTable& k = generic_table(),
                                bool one_token = false) {
  const Act at = one_token ? one_token_act(k, t) : k.act[int(t)];
  std::vector<uint8_t> out(act_row_bytes(at, int64_t(x.size())));
  if (at == Act::F32) {
    std::memcpy(out.data(), x.data(), out.size());
  } else {
    quantizer(generic_table(), at)(x.data(), out.data(), int64_t(x.size()));
  }
  return out;
}

std::vector<float> decode_act(Act a, const void* data, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  dequantize_activation(a, data, out.data(), n);
  return out;
}

std::vector<float> decode(TensorType t, const void* data, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  dequantize_row(t, data, out.data(), n);
  return out;
}

struct Ref {
  double dot;      // Σ w·a in double over the decoded rows
  double abs_sum;  // Σ |w·a|: the scale of rounding errors
};

Ref reference_dot(const std::vector<float>& w, const std::vector<float>& a) {
  Ref r{0, 0};
  for (size_t i = 0; i < w.size(); ++i) {
    r.dot += double(w[i]) * double(a[i]);
    r.abs_sum += std::fabs(double(w[i]) * double(a[i]));
  }
  return r;
}

// The line of /proc/cpuinfo that lists the CPU's features ("flags" on x86-64, "Features" on
// ARM64), with a space at each end so that a flag can be found as " name "; empty if absent.
std::string cpuinfo_flags(const char* key) {
  std::string flags;
  FILE* fp = std::fopen("/proc/cpuinfo", "r");
  if (fp == nullptr) return flags;
  char line[8192];
  while (std::fgets(line, sizeof line, fp))
    if (std::strncmp(line, key, std::strlen(key)) == 0 && std::strchr(line, ':') != nullptr) {
      flags = std::string(" ") + (std::strchr(line, ':') + 1) + " ";
      break;
    }
  std::fclose(fp);
  for (char& c : flags)
    if (c == '\n') c = ' ';
  return flags;
}

TEST(Cpu, FeaturesMatchProcCpuinfo) {
#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))
  const CpuFeatures& f = cpu_features();
#if defined(__x86_64__)
  const std::string flags = cpuinfo_flags("flags");
#else
  const std::string flags = cpuinfo_flags("Features");
#endif
  // Under qemu-user, /proc/cpuinfo is the host's and describes another architecture.
  if (flags.empty()) GTEST_SKIP() << "/proc/cpuinfo has no feature line for this architecture (emulated?)";
  auto has = [&](const char* flag) { return flags.find(std::string(" ") + flag + " ") != std::string::npos; };
#if defined(__x86_64__)
  EXPECT_EQ(f.avx2, has("avx2"));
  EXPECT_EQ(f.fma, has("fma"));
  EXPECT_EQ(f.f16c, has("f16c"));
  EXPECT_EQ(f.avx512f, has("avx512f"));
  EXPECT_EQ(f.avx512bw, has("avx512bw"));
  EXPECT_EQ(f.avx512vnni, has("avx512_vnni"));
  EXPECT_EQ(f.avxvnni, has("avx_vnni"));
  EXPECT_EQ(f.zmm_full_width, has("avx512f") && cpuinfo_flags("vendor_id").find(" GenuineIntel ") != std::string::npos);
#else
  EXPECT_EQ(f.dotprod, has("asimddp"));
#endif
  std::printf("  cpu: %s; kernels: %s\n", cpu_features_string(f).c_str(), isa_name());
#else
  GTEST_SKIP() << "/proc/cpuinfo comparison is for x86-64 and ARM64 Linux";
#endif
}

TEST(Dispatch, AvailableIsasAndSelection) {
  const auto isas = available_isas();
  ASSERT_FALSE(isas.empty());
  EXPECT_EQ(isas.front(), Isa::generic);
  for (Isa isa : isas) EXPECT_EQ(table_for(isa).isa, isa);
  EXPECT_EQ(best_table().isa, isas.back());
  // Without HEARTH_ISA the best path is used; with it, the named one.
  const char* env = std::getenv("HEARTH_ISA");
  if (env == nullptr || *env == '\0') {
    EXPECT_STREQ(isa_name(), isa_name(isas.back()));
  } else {
    EXPECT_STREQ(isa_name(), env);
  }
  // scripts/test-arm64-kernels.sh names the best path each emulated CPU must get, so a table
  // that is never handed out (or handed to a CPU without its instructions) fails there.
  if (const char* want = std::getenv("HEARTH_TEST_EXPECT_BEST_ISA"); want != nullptr && *want != '\0') {
    EXPECT_STREQ(isa_name(best_table().isa), want);
  }
#if defined(__aarch64__)
  auto offered = [&](Isa isa) { return std::find(isas.begin(), isas.end(), isa) != isas.end(); };
  EXPECT_EQ(offered(Isa::neon_dotprod), cpu_features().dotprod);
  EXPECT_EQ(offered(Isa::neon_i8mm), cpu_features().dotprod && cpu_features().i8mm);
  for (auto [isa, feature] : {std::pair{Isa::neon_dotprod, "asimddp"}, std::pair{Isa::neon_i8mm, "i8mm"}}) {
    if (offered(isa)) continue;
    try {
      table_for(isa);
      ADD_FAILURE() << isa_name(isa) << " must be refused on a CPU without its instructions";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(isa == Isa::neon_i8mm && cpu_features().i8mm ? "asimddp" : feature),
                std::string::npos)
          << e.what();
    }
  }
#endif
#if defined(__x86_64__)
  try {
    table_for(Isa::neon);
    FAIL() << "neon on x86 must be refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::unsupported);
    EXPECT_NE(std::string(e.what()).find("neon"), std::string::npos) << e.what();
  }
  // Every table whose instructions this CPU has is offered (a wrong requirement in
  // missing_features once kept the AVX-512 tables from a CPU with AVX-512 but no AVX-VNNI).
  {
    const CpuFeatures& f = cpu_features();
    auto offered = [&](Isa isa) { return std::find(isas.begin(), isas.end(), isa) != isas.end(); };
    const bool avx2 = f.avx2 && f.fma && f.f16c;
    const bool avx512 = avx2 && f.avx512f && f.avx512bw && f.avx512vl;
    EXPECT_EQ(offered(Isa::avx2), avx2);
    EXPECT_EQ(offered(Isa::avxvnni), avx2 && f.avxvnni);
    EXPECT_EQ(offered(Isa::avx512), avx512);
    EXPECT_EQ(offered(Isa::avx512vnni), avx512 && f.avx512vnni);
  }
  // A table the CPU lacks the features of is refused, naming the missing one.
  for (auto [isa, have, feature] : {std::tuple{Isa::avxvnni, cpu_features().avxvnni, "avx_vnni"},
                                    std::tuple{Isa::avx512, cpu_features().avx512f, "avx512f"}}) {
    if (have) continue;
    try {
      table_for(isa);
      ADD_FAILURE() << isa_name(isa) << " must be refused on a CPU without " << feature;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(feature), std::string::npos) << e.what();
    }
  }
#endif
  for (TensorType t : kWeightTypes)
    for (Isa isa : isas) EXPECT_NE(table_for(isa).vec_dot[int(t)], nullptr) << name(t) << " " << isa_name(isa);
}

TEST(Dot, GenericMatchesDequantizedReference) {
  for (TensorType t : kWeightTypes) {
    SCOPED_TRACE(name(t));
    for (int64_t n : {256, 4096}) {
      const auto w = test::random_blocks(t, n, uint32_t(n) + 1);
      const auto x = test::random_row(size_t(n), uint32_t(n) + 2);
      const auto a = activation(t, x);
      const Ref r = reference_dot(decode(t, w.data(), n), decode_act(activation_format(t), a.data(), n));
      const float got = generic_table().vec_dot[int(t)](n, w.data(), a.data());
      // Exact integer sums per block times float scales: only float rounding remains.
      EXPECT_NEAR(got, r.dot, 2e-5 * r.abs_sum + 1e-6) << "n=" << n;
    }
  }
}

TEST(Dot, EveryIsaMatchesGeneric) {
  const KernelTable& g = generic_table();
  for (Isa isa : available_isas()) {
    if (isa == Isa::generic) continue;
    SCOPED_TRACE(isa_name(isa));
    const KernelTable& k = table_for(isa);
    for (TensorType t : kWeightTypes) {
      SCOPED_TRACE(name(t));
      // Odd block and group counts exercise the unrolled loops' tails (32·k values for the
      // 32-value formats: 5, 35 and 37 blocks leave 1, 3 and 1 after groups of four).
      for (int64_t n : {160, 256, 768, 1120, 1184, 4096, 11008}) {
        if (n % gguf::block_size(t) != 0) continue;
        const auto w = test::random_blocks(t, n, uint32_t(n) * 7 + 1);
        const auto x = test::random_row(size_t(n), uint32_t(n) * 7 + 2);
        const auto a = activation(t, x);
        const auto ak = activation(t, x, k);
        const Ref r = reference_dot(decode(t, w.data(), n), decode_act(activation_format(t), a.data(), n));
        const float want = g.vec_dot[int(t)](n, w.data(), a.data());
        const float got = k.vec_dot[int(t)](n, w.data(), ak.data());
        EXPECT_NEAR(got, want, 2e-5 * r.abs_sum + 1e-6) << "n=" << n;
        if (k.vec_dot_one_token[int(t)] != nullptr) {
          const auto a1 = activation(t, x, k, true);
          EXPECT_NEAR(k.vec_dot_one_token[int(t)](n, w.data(), a1.data()), want, 2e-5 * r.abs_sum + 1e-6)
              << "one-token kernel, n=" << n;
        }
      }
    }
    for (TensorType t : {TensorType::F32, TensorType::F16, TensorType::BF16})
      for (int64_t n : {1, 7, 33, 1000}) {
        const auto w = test::random_blocks(t, n, 5);
        const auto x = test::random_row(size_t(n), 6);
        const float want = g.vec_dot[int(t)](n, w.data(), x.data());
        const float got = k.vec_dot[int(t)](n, w.data(), x.data());
        EXPECT_NEAR(got, want, 1e-5 * (std::fabs(want) + 1)) << name(t) << " n=" << n;
      }
  }
}

TEST(Dot, FourTokenKernelsMatchSingleDots) {
  for (Isa isa : available_isas()) {
    const KernelTable& k = table_for(isa);
    for (TensorType t : kWeightTypes) {
      if (k.vec_dot4[int(t)] == nullptr) continue;
      SCOPED_TRACE(std::string(isa_name(isa)) + " " + name(t));
      const int64_t n = gguf::block_size(t) == QK ? 2080 : 2048;  // 65 blocks: a Q8X tail
      const auto w = test::random_blocks(t, n, 77);
      std::vector<uint8_t> acts;
      size_t stride = 0;
      for (int tok = 0; tok < 4; ++tok) {
        const auto a = activation(t, test::random_row(size_t(n), 100 + tok), k);
        stride = a.size();
        acts.insert(acts.end(), a.begin(), a.end());
      }
      float out[4];
      k.vec_dot4[int(t)](n, w.data(), acts.data(), stride, out);
      const auto wd = decode(t, w.data(), n);
      for (int tok = 0; tok < 4; ++tok) {
        const float one = k.vec_dot[int(t)](n, w.data(), acts.data() + tok * stride);
        // The kernels may add in different orders (VNNI Q6_K: 256-bit one-token kernel,
        // 512-bit four-token one): four float roundings of Σ|w·a| more, on top.
        const double abs_sum = reference_dot(wd, decode_act(k.act[int(t)], acts.data() + tok * stride, n)).abs_sum;
        EXPECT_NEAR(out[tok], one, 1e-5 * (std::fabs(one) + 1) + 2.5e-7 * abs_sum) << "token " << tok;
      }
      // Two rows (this one and another) against the first four, then two, tokens.
      const auto w2 = test::random_blocks(t, 2 * n, 78);
      const std::pair<VecDot4x2Fn, int> two_row[] = {{k.vec_dot4x2[int(t)], 4}, {k.vec_dot2x2[int(t)], 2}};
      for (const auto& [kernel, tokens] : two_row) {
        if (kernel == nullptr) continue;
        float out8[8];
        kernel(n, w2.data(), w2.size() / 2, acts.data(), stride, out8);
        for (int r = 0; r < 2; ++r)
          for (int tok = 0; tok < tokens; ++tok) {
            const float one = k.vec_dot[int(t)](n, w2.data() + r * w2.size() / 2, acts.data() + tok * stride);
            EXPECT_NEAR(out8[tokens * r + tok], one, 1e-5 * (std::fabs(one) + 1))
                << tokens << " tokens, two rows: row " << r << " token " << tok;
          }
      }
    }
  }
}

TEST(Dot, TwoRowKernelsEqualSingleDots) {
  // vec_dot2 computes two rows exactly as the one-token single-row kernel computes each
  // (one_token_dot: vec_dot, or vec_dot_one_token where set; one-token matmuls mix the two: a
  // row without a partner goes through it), on rows with a Q8X tail (2080 values: 65 blocks of
  // 32) and without.
  int checked = 0;
  for (Isa isa : available_isas()) {
    const KernelTable& k = table_for(isa);
    for (TensorType t : kWeightTypes) {
      if (k.vec_dot2[int(t)] == nullptr) continue;
      SCOPED_TRACE(std::string(isa_name(isa)) + " " + name(t));
      for (int64_t n : {gguf::block_size(t) == QK ? int64_t(2080) : int64_t(2304), int64_t(2048), int64_t(256)}) {
        const auto w = test::random_blocks(t, 2 * n, uint32_t(n) + 90);
        const size_t rb = w.size() / 2;
        const auto a = activation(t, test::random_row(size_t(n), uint32_t(n) + 91), k, true);
        float out[2] = {NAN, NAN};
        k.vec_dot2[int(t)](n, w.data() + rb, w.data(), a.data(), out);
        const VecDotFn one = one_token_dot(k, t);
        EXPECT_EQ(out[0], one(n, w.data() + rb, a.data())) << "n=" << n << ", first row";
        EXPECT_EQ(out[1], one(n, w.data(), a.data())) << "n=" << n << ", second row";
        ++checked;
      }
    }
  }
  if (checked == 0) GTEST_SKIP() << "no table here has two-row one-token kernels";
}

TEST(Dot, Avx512VnniFullAndSplitWidthTablesAgree) {
  // The AVX-512 VNNI table comes in two forms (dispatch.h): one-token kernels in 512-bit
  // registers where the CPU runs them at full width (Intel), in 256-bit ones where it splits
  // them (Zen 4). Whichever this CPU gets, both are checked here, against generic and against
  // each other: a two-row one-token kernel of either gives the same floats as the other, to
  // the bit, so the CPU's choice changes no output.
#if !defined(__x86_64__)
  GTEST_SKIP() << "x86-64 only";
#else
  if (!cpu_features().avx512vnni) GTEST_SKIP() << "no AVX-512 VNNI on this CPU";
  const KernelTable& full = avx512vnni_table(true);
  const KernelTable& split = avx512vnni_table(false);
  EXPECT_EQ(&avx512vnni_table(), cpu_features().zmm_full_width ? &full : &split);
  EXPECT_NE(full.vec_dot2[int(TensorType::Q4_0)], split.vec_dot2[int(TensorType::Q4_0)]);
  const std::initializer_list<TensorType> types = {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1,
                                                   TensorType::Q8_0, TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K};
  EXPECT_GT(test::expect_kernels_match_generic(full, types), 50);
  EXPECT_GT(test::expect_kernels_match_generic(split, types), 50);
  int compared = 0;
  for (TensorType t : types) {
    if (full.vec_dot2[int(t)] == nullptr) continue;
    ASSERT_NE(split.vec_dot2[int(t)], nullptr) << name(t);
    ASSERT_EQ(one_token_act(full, t), one_token_act(split, t)) << name(t);
    // Whole groups of four blocks, a tail of one to three blocks (Q8X), the model's widths.
    for (int64_t n : {int64_t(128), int64_t(160), int64_t(224), int64_t(2048), int64_t(2080), int64_t(5632)}) {
      if (n % gguf::block_size(t) != 0) continue;
      SCOPED_TRACE(std::string(name(t)) + " n=" + std::to_string(n));
      const auto w = test::random_blocks(t, 2 * n, uint32_t(n) + 31);
      const size_t rb = w.size() / 2;
      const auto a = activation(t, test::random_row(size_t(n), uint32_t(n) + 32), full, true);
      float got[2] = {NAN, NAN}, want[2] = {NAN, NAN};
      full.vec_dot2[int(t)](n, w.data(), w.data() + rb, a.data(), got);
      split.vec_dot2[int(t)](n, w.data(), w.data() + rb, a.data(), want);
      EXPECT_EQ(std::memcmp(got, want, sizeof got), 0) << got[0] << " " << want[0] << ", " << got[1] << " " << want[1];
      ++compared;
    }
  }
  EXPECT_GT(compared, 20);
#endif
}

TEST(Dot, VnniQ6KEqualsAvx512Q6K) {
  // The VNNI table's four-token Q6_K kernel is the AVX-512 one with VPDPWSSD in place of
  // VPMADDWD + VPADDD (q6_k_avx512.h): the same integer sums, so the same floats, to the bit.
  // (Its one-token kernel is its own since the ninth session; EveryIsaMatchesGeneric covers it.)
  const std::vector<Isa> isas = available_isas();
  if (std::find(isas.begin(), isas.end(), Isa::avx512vnni) == isas.end()) GTEST_SKIP() << "no AVX-512 VNNI here";
  const KernelTable& plain = table_for(Isa::avx512);
  const KernelTable& vnni = table_for(Isa::avx512vnni);
  const int q6 = int(TensorType::Q6_K);
  for (int64_t n : {256, 4096}) {
    const auto w = test::random_blocks(TensorType::Q6_K, n, uint32_t(n) + 31);
    std::vector<uint8_t> acts;
    size_t stride = 0;
    for (int tok = 0; tok < 4; ++tok) {
      const auto a = activation(TensorType::Q6_K, test::random_row(size_t(n), uint32_t(n) + 40 + uint32_t(tok)), vnni);
      stride = a.size();
      acts.insert(acts.end(), a.begin(), a.end());
    }
    float want[4], got[4];
    plain.vec_dot4[q6](n, w.data(), acts.data(), stride, want);
    vnni.vec_dot4[q6](n, w.data(), acts.data(), stride, got);
    for (int tok = 0; tok < 4; ++tok) EXPECT_EQ(got[tok], want[tok]) << "n=" << n << " token " << tok;
  }
}

TEST(Dot, PackedKernelsMatchGeneric) {
  // Packed row groups (prompt processing) against the generic dot, on every ISA with a packed
  // kernel: the AVX2 table (and so the AVX-512 one) for Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K and
  // Q6_K, the VNNI table for those and Q8_0.
  for (Isa isa : available_isas()) {
    SCOPED_TRACE(isa_name(isa));
    const KernelTable& k = table_for(isa);
    int lengths = 0;  // per type: 5 lengths for the 32-value formats, 3 for the others
    for (TensorType t : kWeightTypes)
      if (k.packed_dot[int(t)] != nullptr) lengths += gguf::block_size(t) == 32 ? 5 : 3;
    const int checked = test::expect_packed_kernels_match_generic(
        k, {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0, TensorType::Q4_K,
            TensorType::Q5_K, TensorType::Q6_K});
    EXPECT_EQ(checked, lengths * 36 * kPackRows);
    if (isa == Isa::avx2 || isa == Isa::avx512 || isa == Isa::avx512vnni) {
      for (TensorType t : {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q4_K,
                           TensorType::Q5_K, TensorType::Q6_K})
        EXPECT_NE(k.packed_dot[int(t)], nullptr) << name(t);
    }
    if (isa == Isa::avx512vnni) {
      EXPECT_NE(k.packed_dot[int(TensorType::Q8_0)], nullptr);
    }
  }
}

TEST(Dot, ActivationQuantizersAreBitIdentical) {
  // The activation format must not depend on the path, or results would differ by ISA.
  auto x = test::random_row(4096, 12);
  x[5] = 0;
  for (int i = 256; i < 512; ++i) x[size_t(i)] = 0;  // an all-zero block
  for (Isa isa : available_isas()) {
    SCOPED_TRACE(isa_name(isa));
    for (Act at : {Act::Q8A, Act::Q8_K, Act::Q8X}) {
      // 4096 values, and for Q8X also 4000 (125 blocks: a padded last group).
      for (int64_t n : {int64_t(4096), int64_t(4000)}) {
        if (n % act_block_size(at) != 0) continue;
        std::vector<uint8_t> want(act_row_bytes(at, n), 0xAA), got(want.size(), 0x55);
        quantizer(generic_table(), at)(x.data(), want.data(), n);
        quantizer(table_for(isa), at)(x.data(), got.data(), n);
        EXPECT_EQ(got, want) << act_name(at) << " n=" << n;
      }
    }
  }
}

TEST(Dot, F16RowKernelsMatchGenericOnEveryIsa) {
  // Attention's two halves over an fp16 cache: every head size (also ones that are not a
  // multiple of the vector width), rows `stride` apart as in a cache of several KV heads.
  const KernelTable& g = generic_table();
  for (int64_t d : {40, 64, 80, 128, 200}) {
    const int64_t n = 37, stride = 3 * d + 8;
    const auto qf = test::random_row(size_t(d), 1), wf = test::random_row(size_t(n), 2);
    const auto cf = test::random_row(size_t(n * stride), 3);
    std::vector<uint16_t> cache(cf.size());
    fp32_to_fp16_row(cf.data(), cache.data(), int64_t(cf.size()));
    const uint16_t* rows = cache.data() + d;  // the second KV head
    std::vector<float> want_s(static_cast<size_t>(n)), want_o(static_cast<size_t>(d));
    g.f16_rows_dot(rows, size_t(stride), n, qf.data(), d, want_s.data());
    g.f16_rows_weighted_sum(rows, size_t(stride), n, wf.data(), d, want_o.data());
    for (int64_t t = 0; t < n; ++t) {
      double s = 0;
      for (int64_t i = 0; i < d; ++i) s += double(fp16_to_fp32(rows[t * stride + i])) * qf[size_t(i)];
      ASSERT_NEAR(want_s[size_t(t)], s, 1e-4) << "generic, d=" << d;
    }
    for (Isa isa : available_isas()) {
      SCOPED_TRACE(std::string(isa_name(isa)) + " d=" + std::to_string(d));
      const KernelTable& k = table_for(isa);
      std::vector<float> s(size_t(n), NAN), o(size_t(d), NAN);
      k.f16_rows_dot(rows, size_t(stride), n, qf.data(), d, s.data());
      k.f16_rows_weighted_sum(rows, size_t(stride), n, wf.data(), d, o.data());
      for (int64_t t = 0; t < n; ++t) EXPECT_NEAR(s[size_t(t)], want_s[size_t(t)], 1e-4);
      for (int64_t i = 0; i < d; ++i) EXPECT_NEAR(o[size_t(i)], want_o[size_t(i)], 1e-4);
    }
  }
}

TEST(Dot, F16RowHeadKernelsMatchGenericOnEveryIsa) {
  // The grouped-query forms: g heads' queries (or weights) against the same rows, for head
  // counts around the kernels' eight per pass and head sizes with and without a tail.
  const KernelTable& gt = generic_table();
  // 264: above the head size the score kernels interleave queries for (attention_f16.h).
  for (int64_t d : {20, 64, 72, 128, 264}) {
    for (int g : {1, 3, 4, 7, 8, 9, 16}) {
      const int64_t n = 21, stride = 2 * d + 8;
      const auto qf = test::random_row(size_t(g * d), 4), wf = test::random_row(size_t(g * n), 5);
      const auto cf = test::random_row(size_t(n * stride), 6);
      std::vector<uint16_t> cache(cf.size());
      fp32_to_fp16_row(cf.data(), cache.data(), int64_t(cf.size()));
      const uint16_t* rows = cache.data() + d;
      std::vector<float> want_s(size_t(g * n)), want_o(size_t(g * d));
      for (int h = 0; h < g; ++h) {
        gt.f16_rows_dot(rows, size_t(stride), n, qf.data() + h * d, d, want_s.data() + h * n);
        gt.f16_rows_weighted_sum(rows, size_t(stride), n, wf.data() + h * n, d, want_o.data() + h * d);
      }
      for (Isa isa : available_isas()) {
        SCOPED_TRACE(std::string(isa_name(isa)) + " d=" + std::to_string(d) + " g=" + std::to_string(g));
        const KernelTable& k = table_for(isa);
        std::vector<float> s(want_s.size(), NAN), o(want_o.size(), NAN);
        k.f16_rows_dot_heads(rows, size_t(stride), n, qf.data(), g, d, s.data());
        k.f16_rows_weighted_sum_heads(rows, size_t(stride), n, wf.data(), g, d, o.data());
        for (size_t i = 0; i < s.size(); ++i) ASSERT_NEAR(s[i], want_s[i], 1e-4) << "score " << i;
        for (size_t i = 0; i < o.size(); ++i) ASSERT_NEAR(o[i], want_o[i], 1e-4) << "output " << i;
      }
    }
  }
}

// n attention scores spread so that some fall below exp's float range (-87), and for n > 4
// one -inf (masked) at n / 3, which must come out as 0.
std::vector<float> spread_scores(int64_t n, uint32_t seed) {
  auto x = test::random_row(size_t(n), seed);
  for (float& v : x) v *= 40.0f;
  if (n > 4) x[size_t(n / 3)] = -std::numeric_limits<float>::infinity();
  return x;
}

TEST(Dot, SoftmaxOnEveryIsaMatchesGeneric) {
  // Lengths with every tail of a vector (spread_scores).
  const float inf = std::numeric_limits<float>::infinity();
  const KernelTable& g = generic_table();
  for (Isa isa : available_isas()) {
    SCOPED_TRACE(isa_name(isa));
    const KernelTable& k = table_for(isa);
    for (int64_t n : {1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 100, 1000, 4097}) {
      const auto x = spread_scores(n, uint32_t(n) + 300);
      std::vector<float> want(x), got(x);
      g.softmax(want.data(), n);
      k.softmax(got.data(), n);
      double sum = 0;
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_NEAR(got[size_t(i)], want[size_t(i)], 5e-7 * want[size_t(i)] + 1e-37) << "n=" << n << " i=" << i;
        sum += got[size_t(i)];
      }
      EXPECT_NEAR(sum, 1.0, 1e-5) << "n=" << n;
      if (n > 4) {
        EXPECT_EQ(got[size_t(n / 3)], 0.0f) << "n=" << n;
      }
    }
    std::vector<float> masked = {-inf, -inf, -inf};
    k.softmax(masked.data(), 3);
    EXPECT_EQ(masked, std::vector<float>(3, 0.0f));
  }
}

TEST(Dot, ExpSumOnEveryIsaMatchesGeneric) {
  // softmax(scale·x) without its division, as attention uses it: inputs like the softmax
  // test's (spread_scores), at attention's scale (1/√64) and at 1, where it must be softmax
  // times its sum.
  const float inf = std::numeric_limits<float>::infinity();
  const KernelTable& g = generic_table();
  for (Isa isa : available_isas()) {
    SCOPED_TRACE(isa_name(isa));
    const KernelTable& k = table_for(isa);
    for (float scale : {0.125f, 1.0f}) {
      for (int64_t n : {1, 2, 7, 8, 9, 17, 100, 4097}) {
        const auto x = spread_scores(n, uint32_t(n) + 700);
        std::vector<float> want(x), got(x), soft(x);
        const double want_sum = g.exp_sum(want.data(), n, scale);
        const double got_sum = k.exp_sum(got.data(), n, scale);
        EXPECT_NEAR(got_sum, want_sum, 1e-6 * want_sum) << "n=" << n;
        EXPECT_GE(got_sum, 1.0) << "n=" << n;  // the maximum itself gives exp(0) = 1
        for (int64_t i = 0; i < n; ++i)
          ASSERT_NEAR(got[size_t(i)], want[size_t(i)], 5e-7 * want[size_t(i)] + 1e-37) << "n=" << n << " i=" << i;
        if (scale == 1.0f) {
          k.softmax(soft.data(), n);
          for (int64_t i = 0; i < n; ++i)
            ASSERT_NEAR(soft[size_t(i)] * got_sum, got[size_t(i)], 1e-6 * got[size_t(i)] + 1e-37) << "n=" << n;
        }
        if (n > 4) {
          EXPECT_EQ(got[size_t(n / 3)], 0.0f) << "n=" << n;
        }
      }
    }
    std::vector<float> masked = {-inf, -inf, -inf};
    EXPECT_EQ(k.exp_sum(masked.data(), 3, 0.125f), 0.0);
    EXPECT_EQ(masked, std::vector<float>(3, 0.0f));
  }
}

TEST(Dot, SwigluOnEveryIsaMatchesGeneric) {
  // Every tail of a vector; gates from -120 to 120 (exp(-|g|) below float's range at the ends),
  // both zeros and the infinities (-inf gives NaN, as libm's formula does).
  const float inf = std::numeric_limits<float>::infinity();
  const KernelTable& g = generic_table();
  for (Isa isa : available_isas()) {
    SCOPED_TRACE(isa_name(isa));
    const KernelTable& k = table_for(isa);
    for (int64_t n : {1, 3, 7, 8, 9, 16, 23, 100, 5632}) {
      auto gate = test::random_row(size_t(n), uint32_t(n) + 500);
      const auto up = test::random_row(size_t(n), uint32_t(n) + 600);
      for (int64_t i = 0; i < n; ++i) gate[size_t(i)] *= 40.0f;
      const float special[] = {0.0f, -0.0f, 120.0f, -120.0f, 88.5f, -88.5f, inf, -inf};
      for (size_t i = 0; i < std::size(special) && int64_t(i) < n; ++i) gate[size_t(n - 1) - i] = special[i];
      std::vector<float> want(static_cast<size_t>(n)), got(static_cast<size_t>(n));
      g.swiglu(gate.data(), up.data(), n, want.data());
      k.swiglu(gate.data(), up.data(), n, got.data());
      for (int64_t i = 0; i < n; ++i) {
        const float w = want[size_t(i)], v = got[size_t(i)];
        if (std::isnan(w)) {
          EXPECT_TRUE(std::isnan(v)) << "n=" << n << " i=" << i << " gate " << gate[size_t(i)];
        } else if (std::isinf(w)) {
          EXPECT_EQ(v, w) << "n=" << n << " i=" << i << " gate " << gate[size_t(i)];
        } else {
          // Below g = -87.3 the fast kernels' exp is 0 where libm's is subnormal: absolute 1e-30.
          ASSERT_NEAR(v, w, 4e-7 * std::fabs(w) + 1e-30) << "n=" << n << " i=" << i << " gate " << gate[size_t(i)];
        }
      }
    }
    // In place over the gate, as the forward pass calls it.
    auto gate = test::random_row(37, 7);
    const auto up = test::random_row(37, 8);
    std::vector<float> want(37);
    k.swiglu(gate.data(), up.data(), 37, want.data());
    k.swiglu(gate.data(), up.data(), 37, gate.data());
    EXPECT_EQ(gate, want);
  }
}

TEST(Dot, VecHelpers) {
  const auto a = test::random_row(999, 1), b = test::random_row(999, 2);
  std::vector<uint16_t> h(a.size());
  fp32_to_fp16_row(a.data(), h.data(), int64_t(a.size()));
  double want = 0, want_h = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    want += double(a[i]) * b[i];
    want_h += double(fp16_to_fp32(h[i])) * b[i];
  }
  EXPECT_NEAR(dot_f32(a.data(), b.data(), int64_t(a.size())), want, 1e-3);
  EXPECT_NEAR(dot_f16_f32(h.data(), b.data(), int64_t(a.size())), want_h, 1e-3);
}

// ---- matmul -------------------------------------------------------------------------------

struct Matrix {
  TensorType type;
  int64_t rows, cols;
  std::vector<uint8_t> data;
  std::vector<float> decoded;  // rows × cols
  Weight weight() const { return Weight{type, data.data(), rows, cols}; }
};

Matrix make_matrix(TensorType t, int64_t rows, int64_t cols, uint32_t seed) {
  Matrix m{t, rows, cols, test::random_blocks(t, rows * cols, seed), std::vector<float>(size_t(rows * cols))};
  dequantize_row(t, m.data.data(), m.decoded.data(), rows * cols);
  return m;
}

// |y - exact| is bounded by how far each quantized activation can be from x: half a step,
// d/2 with d = amax/127 of its block (d is a float in Q8A and Q8_K, so that is all, up to
// float rounding). For F32/F16/BF16 weights (float activations) only float rounding remains.
double error_bound(const Matrix& m, const float* x, int64_t r) {
  const Act at = activation_format(m.type);
  const int64_t bs = act_block_size(at);
  double bound = 0, scale = 0;
  for (int64_t b = 0; b < m.cols; b += bs) {
    float amax = 0;
    for (int64_t i = b; i < b + bs; ++i) amax = std::fmax(amax, std::fabs(x[i]));
    const double step = at == Act::F32 ? 0 : amax / 127.0 * 0.5001;
    for (int64_t i = b; i < b + bs; ++i) {
      bound += std::fabs(m.decoded[size_t(r * m.cols + i)]) * step;
      scale += std::fabs(m.decoded[size_t(r * m.cols + i)] * x[i]);
    }
  }
  return bound + 1e-5 * scale + 1e-6;
}

TEST(Matmul, WithinQuantizationBoundOnEveryIsa) {
  ThreadPool pool(2);
  for (Isa isa : available_isas()) {
    const KernelTable& k = table_for(isa);
    for (TensorType t : kWeightTypes) {
      SCOPED_TRACE(std::string(isa_name(isa)) + " " + name(t));
      // 1280 columns: float weights go through two column chunks (1024 + 256).
      const int64_t rows = 37, cols = 1280;
      const Matrix m = make_matrix(t, rows, cols, 1234);
      for (int64_t n_tokens : {1, 2, 3, 6, 9}) {  // 2, 3, 6: the two-token kernels
        const auto x = test::random_row(size_t(cols * n_tokens), 99 + uint32_t(n_tokens));
        std::vector<float> y(size_t(rows * n_tokens), NAN);
        matmul_with(k, m.weight(), x.data(), n_tokens, y.data(), pool);
        for (int64_t tok = 0; tok < n_tokens; ++tok)
          for (int64_t r = 0; r < rows; ++r) {
            double exact = 0;
            for (int64_t i = 0; i < cols; ++i) exact += double(m.decoded[size_t(r * cols + i)]) * x[size_t(tok * cols + i)];
            ASSERT_NEAR(y[size_t(tok * rows + r)], exact, error_bound(m, x.data() + tok * cols, r))
                << "token " << tok << " row " << r;
          }
      }
    }
  }
}

TEST(Matmul, IsaPathsAgreeOnLargerShapes) {
  // Prompt-sized shapes go through token blocking and the four-token kernels.
  ThreadPool pool(2);
  const int64_t rows = 96, cols = 2560, n_tokens = 70;
  const auto x = test::random_row(size_t(cols * n_tokens), 5);
  for (TensorType t : kWeightTypes) {
    SCOPED_TRACE(name(t));
    const Matrix m = make_matrix(t, rows, cols, 4321);
    // Rounding differences scale with Σ|w·x|, not with the (possibly cancelling) result.
    std::vector<double> abs_sum(size_t(rows * n_tokens));
    for (int64_t tok = 0; tok < n_tokens; ++tok)
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t i = 0; i < cols; ++i)
          abs_sum[size_t(tok * rows + r)] += std::fabs(m.decoded[size_t(r * cols + i)] * x[size_t(tok * cols + i)]);
    std::vector<float> want(size_t(rows * n_tokens));
    matmul_with(generic_table(), m.weight(), x.data(), n_tokens, want.data(), pool);
    for (Isa isa : available_isas()) {
      std::vector<float> got(want.size());
      matmul_with(table_for(isa), m.weight(), x.data(), n_tokens, got.data(), pool);
      for (size_t i = 0; i < got.size(); ++i)
        ASSERT_NEAR(got[i], want[i], 2e-5 * abs_sum[i] + 1e-6) << isa_name(isa) << " index " << i;
    }
  }
}

TEST(Matmul, SameResultForAnyThreadCount) {
  // Each output is computed whole by one thread with the same code (rows pair up the same way
  // for the two-row kernels), so the split must not change a single bit. 301 rows: an odd
  // one out; 5 and 3 tokens: the four- and two-token kernels plus a single one; 21 tokens:
  // packed groups of eight rows where the table has them (37 groups and 5 rows).
  for (TensorType t : {TensorType::Q4_K, TensorType::Q4_0}) {
    SCOPED_TRACE(name(t));
    const Matrix m = make_matrix(t, 301, 2048, 8);
    const auto x = test::random_row(2048 * 21, 9);
    ThreadPool one(1);
    for (int64_t n_tokens : {21, 5, 3, 1}) {
      std::vector<float> ref(size_t(301 * n_tokens));
      matmul(m.weight(), x.data(), n_tokens, ref.data(), one);
      for (int n : {2, 3, 4, 7}) {  // 7: several threads taking halves of one range at once
        ThreadPool pool(n);
        std::vector<float> y(ref.size());
        matmul(m.weight(), x.data(), n_tokens, y.data(), pool);
        EXPECT_EQ(y, ref) << n << " threads, " << n_tokens << " tokens";
      }
    }
  }
}

TEST(Matmul, OneTokenMatchesRowByRowDots) {
  // A one-token matmul walks rows r and r + rows/2 together (two streams per thread, through
  // vec_dot2 where the table has it); every output must still be exactly that row's one-token
  // dot (one_token_dot), each once, the middle row of an odd count (which has no partner)
  // included.
  ThreadPool pool(2);
  const int64_t rows = 301, cols = 2048;
  const auto x = test::random_row(size_t(cols), 13);
  for (Isa isa : available_isas()) {
    const KernelTable& k = table_for(isa);
    for (TensorType t : {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0,
                         TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K, TensorType::F16}) {
      SCOPED_TRACE(std::string(isa_name(isa)) + " " + name(t));
      const Matrix m = make_matrix(t, rows, cols, 12);
      std::vector<float> y(size_t(rows), -1.0f);
      matmul_with(k, m.weight(), x.data(), 1, y.data(), pool);
      const auto a = activation(t, x, k, true);
      const VecDotFn one = one_token_dot(k, t);
      const size_t rb = gguf::row_bytes(t, uint64_t(cols));
      for (int64_t r = 0; r < rows; ++r)
        ASSERT_EQ(y[size_t(r)], one(cols, m.data.data() + size_t(r) * rb, a.data())) << "row " << r;
    }
  }
}

TEST(Matmul, GroupEqualsSeparateProducts) {
  // matmul_group gives each output exactly what matmul gives it: one token of q/k/v-like
  // weights (one shared activation conversion and one dispatch, 2-4 threads: threads moving
  // on between products), a group mixing activation formats and a prompt (both one by one),
  // a tiny weight (too small for the pool) and an empty one.
  struct Case {
    const char* what;
    std::vector<TensorType> types;
    std::vector<int64_t> rows;
    int64_t n_tokens;
  };
  const int64_t cols = 2048;
  const Case cases[] = {
      {"q, k, v", {TensorType::Q4_0, TensorType::Q4_0, TensorType::Q4_0}, {2048, 256, 256}, 1},
      {"gate, up", {TensorType::Q4_K, TensorType::Q4_K}, {1408, 1408}, 1},
      {"Q4_K with Q6_K (both Q8_K)", {TensorType::Q4_K, TensorType::Q6_K, TensorType::Q4_K}, {512, 256, 301}, 1},
      {"mixed formats", {TensorType::Q4_0, TensorType::Q4_K}, {512, 256}, 1},
      {"prompt", {TensorType::Q4_0, TensorType::Q8_0}, {512, 256}, 5},
      {"tiny and empty", {TensorType::Q8_0, TensorType::Q8_0, TensorType::Q8_0}, {512, 16, 0}, 1},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    std::vector<Matrix> ms;
    for (size_t i = 0; i < c.types.size(); ++i) ms.push_back(make_matrix(c.types[i], c.rows[i], cols, 60 + uint32_t(i)));
    std::vector<Weight> ws;
    for (const Matrix& m : ms) ws.push_back(m.weight());
    const auto x = test::random_row(size_t(cols * c.n_tokens), 61);
    for (int threads : {1, 2, 3, 4}) {
      ThreadPool pool(threads);
      std::vector<std::vector<float>> want(ws.size()), got(ws.size());
      std::vector<MatmulOut> outs;
      for (size_t i = 0; i < ws.size(); ++i) {
        want[i].assign(size_t(ws[i].rows * c.n_tokens), -1.0f);
        got[i].assign(want[i].size(), -2.0f);
        matmul(ws[i], x.data(), c.n_tokens, want[i].data(), pool);
        outs.push_back({&ws[i], got[i].data()});
      }
      matmul_group(outs, x.data(), c.n_tokens, pool);
      for (size_t i = 0; i < ws.size(); ++i) EXPECT_EQ(got[i], want[i]) << threads << " threads, product " << i;
    }
  }
}

TEST(Matmul, FourTokensUseTheFourTokenKernels) {
  // Groups of four tokens go through a table's fastest kernel for them: the two-row one for
  // row pairs where the type has it, else the one-row four-token kernel, also for types that
  // only have a two-row kernel for two tokens (Q4_K: its prompts once went two tokens at a
  // time). Every output must be exactly what that kernel gives.
  ThreadPool pool(2);
  const int64_t rows = 37, cols = 512;  // 37: pairs and an odd row out; 512: one column chunk
  for (Isa isa : available_isas()) {
    const KernelTable& k = table_for(isa);
    for (TensorType t : kWeightTypes) {
      SCOPED_TRACE(std::string(isa_name(isa)) + " " + name(t));
      const Matrix m = make_matrix(t, rows, cols, 21);
      const auto x = test::random_row(size_t(4 * cols), 22);
      std::vector<float> y(size_t(4 * rows), -1.0f);
      matmul_with(k, m.weight(), x.data(), 4, y.data(), pool);
      std::vector<uint8_t> acts;
      size_t stride = 0;
      for (int tok = 0; tok < 4; ++tok) {
        const auto a = activation(t, std::vector<float>(x.begin() + tok * cols, x.begin() + (tok + 1) * cols), k);
        stride = a.size();
        acts.insert(acts.end(), a.begin(), a.end());
      }
      const size_t rb = gguf::row_bytes(t, uint64_t(cols));
      const bool paired = k.vec_dot4x2[int(t)] != nullptr || k.vec_dot2x2[int(t)] != nullptr;
      for (int64_t r = 0; r < rows; ++r) {
        const uint8_t* w = m.data.data() + size_t(r) * rb;
        float want[4];
        if (paired && k.vec_dot4x2[int(t)] != nullptr && r + 1 - r % 2 < rows) {
          float out8[8];
          k.vec_dot4x2[int(t)](cols, w - (r % 2) * rb, rb, acts.data(), stride, out8);
          for (int tok = 0; tok < 4; ++tok) want[tok] = out8[4 * (r % 2) + tok];
        } else if (k.vec_dot4[int(t)] != nullptr) {
          k.vec_dot4[int(t)](cols, w, acts.data(), stride, want);
        } else {
          for (int tok = 0; tok < 4; ++tok) want[tok] = k.vec_dot[int(t)](cols, w, acts.data() + tok * stride);
        }
        for (int tok = 0; tok < 4; ++tok)
          ASSERT_EQ(y[size_t(tok * rows + r)], want[tok]) << "row " << r << " token " << tok;
      }
    }
  }
}

TEST(Matmul, PromptsUseThePackedKernelForWholeRowGroups) {
  // Where a table packs rows, a prompt's rows go through the packed kernel in groups of
  // kPackRows (the last few rows, short of a group, through the other kernels), eight tokens
  // at a time: every output of a whole group must be exactly what that kernel gives. 21
  // tokens: types with a two-row kernel are packed from 16 tokens, the others from 8.
  ThreadPool pool(2);
  const int64_t rows = 37, cols = 512, n_tokens = 21;  // groups 0-31 and rows 32-36; 8 + 8 + 5 tokens
  for (Isa isa : available_isas()) {
    const KernelTable& k = table_for(isa);
    for (TensorType t : kWeightTypes) {
      if (k.packed_dot[int(t)] == nullptr) continue;
      SCOPED_TRACE(std::string(isa_name(isa)) + " " + name(t));
      const Matrix m = make_matrix(t, rows, cols, 23);
      const auto x = test::random_row(size_t(n_tokens * cols), 24);
      std::vector<float> y(size_t(n_tokens * rows), NAN);
      matmul_with(k, m.weight(), x.data(), n_tokens, y.data(), pool);
      std::vector<uint8_t> acts;
      size_t stride = 0;
      for (int64_t tok = 0; tok < n_tokens; ++tok) {
        const auto a = activation(t, std::vector<float>(x.begin() + tok * cols, x.begin() + (tok + 1) * cols), k);
        stride = a.size();
        acts.insert(acts.end(), a.begin(), a.end());
      }
      const size_t rb = gguf::row_bytes(t, uint64_t(cols));
      std::vector<uint8_t> packed(k.packed_block_bytes[int(t)] * size_t(cols / gguf::block_size(t)) + 64);
      void* p = packed.data() + (64 - reinterpret_cast<uintptr_t>(packed.data()) % 64) % 64;
      std::vector<float> want(size_t(n_tokens * rows));
      for (int64_t r = 0; r + kPackRows <= rows; r += kPackRows) {
        k.pack_rows[int(t)](cols, m.data.data() + size_t(r) * rb, rb, p);
        for (int64_t tok = 0; tok < n_tokens; tok += kPackRows)
          k.packed_dot[int(t)](cols, p, acts.data() + size_t(tok) * stride, stride,
                               int(std::min<int64_t>(kPackRows, n_tokens - tok)), want.data() + tok * rows + r,
                               size_t(rows));
      }
      for (int64_t tok = 0; tok < n_tokens; ++tok)
        for (int64_t r = 0; r < rows; ++r) {
          const size_t i = size_t(tok * rows + r);
          if (r < rows / kPackRows * kPackRows) {
            ASSERT_EQ(y[i], want[i]) << "row " << r << " token " << tok;
          } else {
            ASSERT_FALSE(std::isnan(y[i])) << "row " << r << " token " << tok;
          }
        }
    }
  }
}

TEST(Matmul, DoesNotAllocateOnceWarm) {
  ThreadPool pool(2);
  const Matrix q = make_matrix(TensorType::Q4_0, 512, 1024, 3);
  const Matrix k = make_matrix(TensorType::Q6_K, 512, 1024, 4);
  const Matrix v = make_matrix(TensorType::Q4_0, 256, 1024, 6);
  const auto x = test::random_row(1024 * 8, 5);
  std::vector<float> y(512 * 8), y2(512), y3(256);
  const Weight qw = q.weight(), vw = v.weight();
  const MatmulOut group[] = {{&qw, y2.data()}, {&vw, y3.data()}};
  for (int warm = 0; warm < 2; ++warm) {
    matmul(q.weight(), x.data(), 8, y.data(), pool);
    matmul(k.weight(), x.data(), 8, y.data(), pool);
    matmul_group(group, x.data(), 1, pool);
  }
  const long before = g_allocations.load();
  for (int i = 0; i < 50; ++i) {
    matmul(q.weight(), x.data(), 1, y.data(), pool);
    matmul(k.weight(), x.data(), 1, y.data(), pool);
    matmul(q.weight(), x.data(), 8, y.data(), pool);
    matmul_group(group, x.data(), 1, pool);
  }
  EXPECT_EQ(g_allocations.load() - before, 0);
}

TEST(Matmul, Errors) {
  ThreadPool pool(1);
  std::vector<uint8_t> data(4096);
  std::vector<float> x(256), y(16);
  try {
    matmul(Weight{TensorType::Q3_K, data.data(), 1, 256}, x.data(), 1, y.data(), pool);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::unsupported);
    EXPECT_NE(std::string(e.what()).find("Q3_K"), std::string::npos) << e.what();
  }
  try {
    matmul(Weight{TensorType::Q4_0, data.data(), 1, 48}, x.data(), 1, y.data(), pool);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::format);
    EXPECT_NE(std::string(e.what()).find("48"), std::string::npos) << e.what();
  }
  // Zero-sized products are fine and touch nothing.
  y.assign(16, 7.0f);
  matmul(Weight{TensorType::Q4_0, data.data(), 0, 32}, x.data(), 1, y.data(), pool);
  matmul(Weight{TensorType::Q4_0, data.data(), 4, 32}, x.data(), 0, y.data(), pool);
  EXPECT_EQ(y[0], 7.0f);
}

}  // namespace
}  // namespace hearth::kernels
