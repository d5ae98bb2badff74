// The AVX-512 VNNI kernels, run on any AVX2 machine: dot_avx512vnni.cpp compiled a second time
// against SIMDe (as test_avx512_emulated.cpp does for dot_avx512.cpp), so a CI machine without
// VNNI still runs this path's arithmetic, including its Q8X activation layout and the tails of
// rows whose block count is not a multiple of four. On a CPU with VNNI the real path is also
// covered by test_dot.cpp.
#include <gtest/gtest.h>

#include "kernel_checks.h"
#include "kernels/dispatch.h"
#include "util/cpu.h"

#if defined(__x86_64__) && __has_include(<simde/x86/avx512.h>)
#define HEARTH_AVX512_EMULATION 1
#include "avx512_emulation.h"
namespace hearth::kernels {
// Defined by test_avx512_emulated.cpp: the emulated AVX-512 table this file's table starts from.
const KernelTable& avx512_emulated_table();
}  // namespace hearth::kernels
#define avx512_table avx512_emulated_table
#define avx512vnni_table avx512vnni_emulated_table
#include "kernels/dot_avx512vnni.cpp"
#undef avx512_table
#undef avx512vnni_table
#pragma GCC pop_options
#endif

namespace hearth::kernels {
namespace {

using gguf::TensorType;

#if defined(HEARTH_AVX512_EMULATION)

TEST(Avx512VnniEmulated, KernelsMatchGeneric) {
  if (!cpu_features().avx2 || !cpu_features().fma || !cpu_features().f16c)
    GTEST_SKIP() << "the emulation itself needs AVX2/FMA/F16C";
  const KernelTable& k = avx512vnni_emulated_table();
  ASSERT_EQ(k.isa, Isa::avx512vnni);
  EXPECT_EQ(k.act[int(TensorType::Q4_0)], Act::Q8X);
  // Both forms of the table (512-bit one-token kernels for full-width CPUs, 256-bit ones
  // otherwise), whichever this CPU would get.
  for (bool zmm_full_width : {false, true}) {
    SCOPED_TRACE(zmm_full_width ? "full width" : "split width");
    const int checked =
        test::expect_kernels_match_generic(
            avx512vnni_emulated_table(zmm_full_width),
            {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0, TensorType::Q4_K,
             TensorType::Q5_K, TensorType::Q6_K});
    EXPECT_GT(checked, 50);
  }
  // The eight-row packed kernels, for one to eight tokens: 36 outputs × 8 rows per length, 3
  // lengths for Q4_K, Q5_K and Q6_K, 5 for the 32-value formats.
  EXPECT_EQ(test::expect_packed_kernels_match_generic(
                k, {TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K, TensorType::Q4_0, TensorType::Q4_1,
                    TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0}),
            (3 * 3 + 5 * 5) * 36 * 8);
}

TEST(Avx512VnniEmulated, MatmulMatchesGeneric) {
  if (!cpu_features().avx2 || !cpu_features().fma || !cpu_features().f16c)
    GTEST_SKIP() << "the emulation itself needs AVX2/FMA/F16C";
  test::expect_matmul_matches_generic(avx512vnni_emulated_table(),
                                     {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0,
                                      TensorType::Q4_K, TensorType::Q6_K});
}

#endif

}  // namespace
}  // namespace hearth::kernels
