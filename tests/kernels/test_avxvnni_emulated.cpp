// The AVX-VNNI table (dot_avxvnni.cpp), run on any AVX2 machine: no CPU here has the VEX VNNI
// instructions, so this file compiles dot_avxvnni.cpp a second time with its two instructions,
// VPDPBUSD and VPDPWSSD, written out in plain C++ (their exact integer definitions), and
// checks the table's kernels, its packed prompt kernels above all, against generic. On a CPU
// with AVX-VNNI the real path is also covered by test_dot.cpp.
#include <gtest/gtest.h>

#include <cstdint>

#include "kernel_checks.h"
#include "kernels/dispatch.h"
#include "util/cpu.h"

#if defined(__x86_64__)
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#include <immintrin.h>
namespace hearth_avxvnni_emulation {
// acc + Σ of four u8·s8 products per int32 lane, not saturated (VPDPBUSD).
inline __m256i dpbusd(__m256i acc, __m256i u, __m256i s) {
  alignas(32) uint8_t ub[32];
  alignas(32) int8_t sb[32];
  alignas(32) int32_t r[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(ub), u);
  _mm256_store_si256(reinterpret_cast<__m256i*>(sb), s);
  _mm256_store_si256(reinterpret_cast<__m256i*>(r), acc);
  for (int i = 0; i < 8; ++i)
    for (int k = 0; k < 4; ++k) r[i] += int32_t(ub[4 * i + k]) * int32_t(sb[4 * i + k]);
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(r));
}
// acc + Σ of two int16 products per int32 lane, not saturated (VPDPWSSD).
inline __m256i dpwssd(__m256i acc, __m256i a, __m256i b) {
  alignas(32) int16_t ab[16], bb[16];
  alignas(32) int32_t r[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(ab), a);
  _mm256_store_si256(reinterpret_cast<__m256i*>(bb), b);
  _mm256_store_si256(reinterpret_cast<__m256i*>(r), acc);
  for (int i = 0; i < 8; ++i) r[i] += int32_t(ab[2 * i]) * bb[2 * i] + int32_t(ab[2 * i + 1]) * bb[2 * i + 1];
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(r));
}
}  // namespace hearth_avxvnni_emulation
#define _mm256_dpbusd_avx_epi32 hearth_avxvnni_emulation::dpbusd
#define _mm256_dpwssd_avx_epi32 hearth_avxvnni_emulation::dpwssd
#define avxvnni_table avxvnni_emulated_table
#include "kernels/dot_avxvnni.cpp"
#undef avxvnni_table
#pragma GCC pop_options
#endif

namespace hearth::kernels {
namespace {

using gguf::TensorType;

#if defined(__x86_64__)

TEST(AvxVnniEmulated, KernelsMatchGeneric) {
  if (!cpu_features().avx2 || !cpu_features().fma || !cpu_features().f16c)
    GTEST_SKIP() << "the AVX2 table and the emulation need AVX2/FMA/F16C";
  const KernelTable& k = avxvnni_emulated_table();
  ASSERT_EQ(k.isa, Isa::avxvnni);
  EXPECT_GT(test::expect_kernels_match_generic(k, {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1,
                                                   TensorType::Q8_0, TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K}),
            50);
  // The packed kernels in their VNNI form, one to eight tokens (in calls of at most four):
  // 36 outputs × 8 rows per length, 3 lengths for the K-quants, 5 for the 32-value formats.
  // Q8_0 is not packed here (see dot_avxvnni.cpp).
  EXPECT_EQ(k.packed_dot[int(TensorType::Q8_0)], nullptr);
  EXPECT_EQ(test::expect_packed_kernels_match_generic(
                k, {TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K, TensorType::Q4_0, TensorType::Q4_1,
                    TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0}),
            (3 * 3 + 4 * 5) * 36 * 8);
}

TEST(AvxVnniEmulated, MatmulMatchesGeneric) {
  if (!cpu_features().avx2 || !cpu_features().fma || !cpu_features().f16c)
    GTEST_SKIP() << "the AVX2 table and the emulation need AVX2/FMA/F16C";
  test::expect_matmul_matches_generic(avxvnni_emulated_table(),
                                     {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0,
                                      TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K});
}

#endif

}  // namespace
}  // namespace hearth::kernels
