// AVX-VNNI kernels (the VEX-encoded VPDPBUSD / VPDPWSSD of Intel's Alder Lake, Raptor Lake,
// Meteor Lake and later client CPUs, which have no AVX-512): this file alone is compiled with
// -mavxvnni on top of the AVX2 flags, and its table, the AVX2 one with the packed prompt
// kernels of packed_x8.h in their VNNI form, is only handed out when util/cpu.h reports
// avx_vnni.
//
// The packed kernels are where VPDPBUSD pays most: it replaces VPMADDUBSW + VPMADDWD + VPADDD
// for every product of eight rows by four activation bytes (packed_x8.h). With AVX-VNNI's 16
// registers they take four tokens per call, as AVX2 does (AVX-512 VNNI takes eight). Q5_0 is
// packed against Q8A, as on AVX2, and Q8_0 not at all: the AVX-512 VNNI table packs both
// against Q8X, which every other kernel of theirs would then have to take too. The one-token kernels stay
// AVX2's: decoding streams the weights from memory, where the multiply is not what limits.
//
// No CPU here has AVX-VNNI: the arithmetic is tested by compiling this file a second time with
// the two instructions emulated (tests/kernels/test_avxvnni_emulated.cpp).
#define HEARTH_PACKED_X8_VEX_VNNI 1

#include <immintrin.h>

#include "kernels/dispatch.h"
#include "kernels/packed_x8.h"

namespace hearth::kernels {

const KernelTable& avxvnni_table() {
  static const KernelTable table = [] {
    KernelTable t = avx2_table();
    t.isa = Isa::avxvnni;
    packed_x8::add_to_table</*Vnni=*/true, /*Q8XKernels=*/false>(t);
    return t;
  }();
  return table;
}

}  // namespace hearth::kernels
