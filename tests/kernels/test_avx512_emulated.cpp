// The AVX-512 kernels, run on any AVX2 machine: dot_avx512.cpp is compiled a second time here
// against SIMDe (libsimde-dev), whose portable implementations stand in for the AVX-512
// instructions, and compared with the generic kernels. The build machine has no AVX-512, so
// without this the 512-bit code would only ever be compiled, never run. On a CPU with AVX-512
// the real path is also covered by test_dot.cpp (every available ISA against generic).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"
#include "test_helpers.h"
#include "util/cpu.h"
#include "util/thread_pool.h"

#if defined(__x86_64__) && __has_include(<simde/x86/avx512.h>)
#define HEARTH_AVX512_EMULATION 1
// Only this block is compiled for AVX2 (SIMDe builds its AVX-512 emulation from AVX2), and the
// test below only calls into it after checking that the CPU has AVX2.
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
// 512-bit SIMDe types passed by value draw GCC's "ABI changed in GCC 4.6" note.
#pragma GCC diagnostic ignored "-Wpsabi"
#include <immintrin.h>
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
// SIMDe 0.7.4 maps this alias to the masked variant; four others have no alias there.
#undef _mm512_madd_epi16
#define _mm512_madd_epi16(a, b) simde_mm512_madd_epi16(a, b)
namespace hearth_avx512_emulation {
inline simde__m512 cvtph_ps(__m256i h) {
  alignas(32) float f[16];
  _mm256_storeu_ps(f, _mm256_cvtph_ps(_mm256_castsi256_si128(h)));
  _mm256_storeu_ps(f + 8, _mm256_cvtph_ps(_mm256_extracti128_si256(h, 1)));
  return simde_mm512_loadu_ps(f);
}
inline simde__m512i cvtepu16_epi32(__m256i h) {
  alignas(32) int32_t v[16];
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(v), _mm256_cvtepu16_epi32(_mm256_castsi256_si128(h)));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(v + 8), _mm256_cvtepu16_epi32(_mm256_extracti128_si256(h, 1)));
  return simde_mm512_loadu_si512(v);
}
inline simde__m512 cvtepi32_ps(simde__m512i x) {
  int32_t t[16];
  float f[16];
  simde_mm512_storeu_si512(t, x);
  for (int i = 0; i < 16; ++i) f[i] = float(t[i]);
  return simde_mm512_loadu_ps(f);
}
inline float reduce_add_ps(simde__m512 x) {
  float f[16];
  simde_mm512_storeu_ps(f, x);
  float s = 0;
  for (float v : f) s += v;
  return s;
}
}  // namespace hearth_avx512_emulation
#define _mm512_cvtph_ps hearth_avx512_emulation::cvtph_ps
#define _mm512_cvtepu16_epi32 hearth_avx512_emulation::cvtepu16_epi32
#define _mm512_cvtepi32_ps hearth_avx512_emulation::cvtepi32_ps
#define _mm512_reduce_add_ps hearth_avx512_emulation::reduce_add_ps
// A second copy of the AVX-512 file; its table accessor gets another name so it does not
// clash with the real one in the library.
#define avx512_table avx512_emulated_table
#include "kernels/dot_avx512.cpp"
#undef avx512_table
#pragma GCC pop_options
#endif

namespace hearth::kernels {
namespace {

using gguf::TensorType;

#if defined(HEARTH_AVX512_EMULATION)

TEST(Avx512Emulated, KernelsMatchGeneric) {
  if (!cpu_features().avx2 || !cpu_features().fma || !cpu_features().f16c)
    GTEST_SKIP() << "the emulation itself needs AVX2/FMA/F16C";
  const KernelTable& g = generic_table();
  const KernelTable& k = avx512_emulated_table();
  ASSERT_EQ(k.isa, Isa::avx512);
  int checked = 0;
  for (TensorType t : {TensorType::F32, TensorType::F16, TensorType::BF16, TensorType::Q4_0, TensorType::Q4_1,
                       TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0, TensorType::Q4_K, TensorType::Q5_K,
                       TensorType::Q6_K}) {
    SCOPED_TRACE(std::string(gguf::tensor_type_name(t)));
    std::vector<int64_t> lengths = {256, 768, 4096};
    if (gguf::block_size(t) == 32) lengths.insert(lengths.end(), {32, 96, 4096 + 32});  // odd block counts
    if (gguf::block_size(t) == 1) lengths.insert(lengths.end(), {1, 17, 1001});        // scalar tails
    for (int64_t n : lengths) {
      const auto w = test::random_blocks(t, n, uint32_t(n) + 1);
      const Act at = activation_format(t);
      const size_t stride = act_row_bytes(at, n);
      std::vector<uint8_t> acts(stride * 4);
      for (int tok = 0; tok < 4; ++tok) {
        const auto x = test::random_row(size_t(n), uint32_t(n) + 2 + uint32_t(tok));
        if (at == Act::F32) {
          std::memcpy(acts.data() + tok * stride, x.data(), stride);
        } else {
          quantizer(g, at)(x.data(), acts.data() + tok * stride, n);
        }
      }
      std::vector<float> wd(static_cast<size_t>(n)), ad(static_cast<size_t>(n));
      dequantize_row(t, w.data(), wd.data(), n);
      float four[4] = {0, 0, 0, 0};
      if (k.vec_dot4[int(t)] != nullptr) k.vec_dot4[int(t)](n, w.data(), acts.data(), stride, four);
      for (int tok = 0; tok < 4; ++tok) {
        const uint8_t* a = acts.data() + tok * stride;
        dequantize_activation(at, a, ad.data(), n);
        double scale = 0;
        for (int64_t i = 0; i < n; ++i) scale += std::fabs(double(wd[size_t(i)]) * ad[size_t(i)]);
        const double tol = 2e-5 * scale + 1e-6;
        const float want = g.vec_dot[int(t)](n, w.data(), a);
        EXPECT_NEAR(k.vec_dot[int(t)](n, w.data(), a), want, tol) << "n=" << n << " token " << tok;
        if (k.vec_dot4[int(t)] != nullptr) {
          EXPECT_NEAR(four[tok], want, tol) << "4-token kernel, n=" << n;
        }
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 100);
}

TEST(Avx512Emulated, MatmulMatchesGeneric) {
  if (!cpu_features().avx2 || !cpu_features().fma || !cpu_features().f16c)
    GTEST_SKIP() << "the emulation itself needs AVX2/FMA/F16C";
  ThreadPool pool(2);
  const int64_t rows = 24, cols = 1536, n_tokens = 9;
  const auto x = test::random_row(size_t(cols * n_tokens), 3);
  for (TensorType t : {TensorType::F16, TensorType::Q4_0, TensorType::Q8_0, TensorType::Q4_K, TensorType::Q6_K}) {
    SCOPED_TRACE(std::string(gguf::tensor_type_name(t)));
    const auto data = test::random_blocks(t, rows * cols, 17);
    const Weight w{t, data.data(), rows, cols};
    std::vector<float> want(size_t(rows * n_tokens)), got(want.size());
    matmul_with(generic_table(), w, x.data(), n_tokens, want.data(), pool);
    matmul_with(avx512_emulated_table(), w, x.data(), n_tokens, got.data(), pool);
    for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-3 * (std::fabs(want[i]) + 1)) << i;
  }
}

#else

TEST(Avx512Emulated, KernelsMatchGeneric) {
#if defined(__x86_64__)
  FAIL() << "libsimde-dev is missing: run scripts/setup-deps.sh (needed to test the AVX-512 kernels on CPUs "
            "without AVX-512)";
#else
  GTEST_SKIP() << "AVX-512 kernels exist only on x86-64";
#endif
}

#endif

}  // namespace
}  // namespace hearth::kernels
