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
#include "kernel_checks.h"
#include "test_helpers.h"
#include "util/cpu.h"
#include "util/thread_pool.h"

#if defined(__x86_64__) && __has_include(<simde/x86/avx512.h>)
#define HEARTH_AVX512_EMULATION 1
#include "avx512_emulation.h"
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
  const KernelTable& k = avx512_emulated_table();
  ASSERT_EQ(k.isa, Isa::avx512);
  const int checked = test::expect_kernels_match_generic(
      k, {TensorType::F32, TensorType::F16, TensorType::BF16, TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0,
          TensorType::Q5_1, TensorType::Q8_0, TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K});
  EXPECT_GT(checked, 100);
}

TEST(Avx512Emulated, MatmulMatchesGeneric) {
  if (!cpu_features().avx2 || !cpu_features().fma || !cpu_features().f16c)
    GTEST_SKIP() << "the emulation itself needs AVX2/FMA/F16C";
  test::expect_matmul_matches_generic(
      avx512_emulated_table(), {TensorType::F16, TensorType::Q4_0, TensorType::Q8_0, TensorType::Q4_K, TensorType::Q6_K});
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
