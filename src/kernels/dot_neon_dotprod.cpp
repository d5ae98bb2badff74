// ARM64 kernels with the dot-product extension (SDOT, ARMv8.2-A+dotprod: Cortex-A55/A75 and
// later, Apple M1 and later, Neoverse N1/V1, Graviton 2 and later). This file is compiled with
// -march=armv8.2-a+dotprod and its table is only handed out when the CPU reports asimddp
// (util/cpu.h), so the same binary still runs on ARMv8.0 (Raspberry Pi 4, Cortex-A53/A72).
//
// SDOT adds four int8×int8 products into each int32 lane: one instruction per 16 weight
// values against the base table's two widening multiplies and two pairwise adds, so the
// integer part of a 32-value block is two instructions. The kernels are neon_dot_kernels.h's,
// the same source as the base NEON table's, here built with SDOT. The table starts from the
// NEON one (quantizers, attention, softmax) and replaces the dot products of every quantized type:
// Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 against Q8A, Q4_K, Q5_K and Q6_K against Q8_K, each for one
// row and one token, one row of four tokens and two rows of two tokens (prompts, several
// sequences decoding); the 32-value formats also for two rows of one token (decode) and of
// four tokens. (The 32-value formats matter in K-quant files too: a K-quant needs rows of a
// multiple of 256 values, so quantizers store other tensors, such as those of Qwen2.5-0.5B's
// 896-wide rows, in Q5_0, Q5_1 or Q8_0 instead.)
#include "kernels/dispatch.h"
#include "kernels/neon_dot_kernels.h"

#if !defined(__ARM_FEATURE_DOTPROD)
#error "dot_neon_dotprod.cpp must be compiled with -march=armv8.2-a+dotprod (see src/kernels/CMakeLists.txt)"
#endif

namespace hearth::kernels {

const KernelTable& neon_dotprod_table() {
  static const KernelTable table = [] {
    KernelTable t = neon_table();
    t.isa = Isa::neon_dotprod;
    set_block_kernels(t);
    return t;
  }();
  return table;
}

}  // namespace hearth::kernels
