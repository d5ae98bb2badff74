// What the CPU we run on can do. Kernels pick their instruction set from this at run time, so
// one binary built for baseline x86-64 / ARMv8 uses AVX2 or AVX-512 where they exist.
#pragma once

#include <string>

namespace hearth {

struct CpuFeatures {
  // x86-64. A flag is only set when the OS also saves the register state it needs (XGETBV),
  // because a CPU with AVX-512 under an OS that does not enable ZMM state would fault.
  bool sse3 = false, ssse3 = false, avx = false, avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512vnni = false;
  bool avxvnni = false;  // VEX-encoded VPDPBUSD/VPDPWSSD (Alder Lake and later, without AVX-512)
  // AVX-512 executed at full width, as on every Intel CPU with it; AMD's Zen 4 runs each 512-bit
  // instruction as two 256-bit halves, and some kernels are faster in 256-bit registers there
  // and in 512-bit ones here (kernels/dot_avx512vnni.cpp). Set for Intel CPUs with avx512f.
  bool zmm_full_width = false;
  // ARM64: Advanced SIMD is part of the base architecture; dotprod adds SDOT/UDOT, i8mm the
  // int8 matrix multiply SMMLA.
  bool neon = false, dotprod = false, i8mm = false;
};

// Detected once, on first call; later calls return the same object.
const CpuFeatures& cpu_features();

// "avx2 fma f16c …" — the flags above that are set, for `hearth show`-style output and logs.
std::string cpu_features_string(const CpuFeatures& f);

}  // namespace hearth
