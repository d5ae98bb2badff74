// AVX-512 (F + BW + VL) kernels, for Skylake-SP / Ice Lake / Zen 4 and later. This file alone
// is compiled with -mavx512f -mavx512bw -mavx512vl (plus the AVX2 flags); its table is only
// handed out when util/cpu.h reports all of them with OS support for the ZMM state.
//
// The 512-bit kernels cover the types that dominate real models (F32/F16/BF16, Q8_0,
// Q4_K, Q6_K): they work on twice the bytes per instruction, which pays off when several
// tokens make the product compute-bound. Everything else, and the activation quantizers,
// come from the AVX2 table (every AVX-512 CPU has AVX2) — including Q4_0, whose AVX2 kernels
// against Q8X beat a 512-bit one against Q8A (20.9 against 12.1 GB/s in cache on Zen 4).
// GCC 12 reports its own AVX-512 intrinsics' deliberately undefined pass-through operands
// (_mm512_undefined_*) as uninitialized once they are inlined here; that is a false positive.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <cstring>

#include "kernels/attention_f16.h"
#include "kernels/dispatch.h"
#include "kernels/q6_k_avx512.h"
#include "kernels/quant.h"
#include "kernels/simd_avx2.h"

namespace hearth::kernels {

using gguf::TensorType;

namespace {

HEARTH_INLINE __m512i load512(const void* p) { return _mm512_loadu_si512(p); }

HEARTH_INLINE __m512i join256(__m256i lo, __m256i hi) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

// Σ w·a over signed bytes in 16 int32 lanes (sign trick: |w| · (a with w's sign)).
HEARTH_INLINE __m512i dot_i8_i8_512(__m512i w, __m512i a) {
  const __mmask64 neg = _mm512_movepi8_mask(w);
  const __m512i sa = _mm512_mask_sub_epi8(a, neg, _mm512_setzero_si512(), a);
  return _mm512_madd_epi16(_mm512_maddubs_epi16(_mm512_abs_epi8(w), sa), _mm512_set1_epi16(1));
}

// Two scales as 16 float lanes: lanes 0-7 get s0, lanes 8-15 get s1 (int32 lanes 0-7 of a
// 64-byte dot are its first 32 bytes).
HEARTH_INLINE __m512 scale2(float s0, float s1) {
  return _mm512_mask_blend_ps(__mmask16(0xff00), _mm512_set1_ps(s0), _mm512_set1_ps(s1));
}

// ---- float weights -------------------------------------------------------------------------

HEARTH_INLINE __m512 load_f32x16(const float* p) { return _mm512_loadu_ps(p); }
HEARTH_INLINE __m512 load_f16x16(const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
HEARTH_INLINE __m512 load_bf16x16(const uint16_t* p) {
  const __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}

float f32_scalar(float v) { return v; }
float bf16_scalar(uint16_t h) {
  const uint32_t b = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

template <typename W, __m512 (*Load)(const W*), float (*Scalar)(W)>
float dot_float(int64_t n, const void* wv, const void* av) {
  const W* w = static_cast<const W*>(wv);
  const float* a = static_cast<const float*>(av);
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps(), acc2 = _mm512_setzero_ps(),
         acc3 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    acc0 = _mm512_fmadd_ps(Load(w + i), _mm512_loadu_ps(a + i), acc0);
    acc1 = _mm512_fmadd_ps(Load(w + i + 16), _mm512_loadu_ps(a + i + 16), acc1);
    acc2 = _mm512_fmadd_ps(Load(w + i + 32), _mm512_loadu_ps(a + i + 32), acc2);
    acc3 = _mm512_fmadd_ps(Load(w + i + 48), _mm512_loadu_ps(a + i + 48), acc3);
  }
  for (; i + 16 <= n; i += 16) acc0 = _mm512_fmadd_ps(Load(w + i), _mm512_loadu_ps(a + i), acc0);
  float sum = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
  for (; i < n; ++i) sum += Scalar(w[i]) * a[i];
  return sum;
}

// ---- Q8_0: two 32-value blocks per register -------------------------------------------

HEARTH_INLINE __m512i act_pair(const BlockQ8A* a) { return join256(load256(a[0].qs), load256(a[1].qs)); }



HEARTH_INLINE __m512i q8_0_weight_pair(const BlockQ8_0* w) { return join256(load256(w[0].qs), load256(w[1].qs)); }

// Signed 32-value blocks (Q8_0) against Q8A, two blocks per register and two
// registers per iteration (two accumulators hide the FMA latency). Q8A's s is not needed:
// the weights are used as signed values here.
template <typename WBlock, __m512i (*Pair)(const WBlock*), __m256i (*One)(const WBlock&)>
float dot_pairs(int64_t n, const void* wv, const void* av) {
  const WBlock* w = static_cast<const WBlock*>(wv);
  const BlockQ8A* a = static_cast<const BlockQ8A*>(av);
  const int64_t nb = n / QK;
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  auto pair = [&](int64_t i, __m512& acc) {
    const __m512 p = _mm512_cvtepi32_ps(dot_i8_i8_512(Pair(w + i), act_pair(a + i)));
    acc = _mm512_fmadd_ps(scale2(h2f(w[i].d) * a[i].d, h2f(w[i + 1].d) * a[i + 1].d), p, acc);
  };
  int64_t i = 0;
  for (; i + 4 <= nb; i += 4) {
    pair(i, acc0);
    pair(i + 2, acc1);
  }
  for (; i + 2 <= nb; i += 2) pair(i, acc0);
  float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
  if (i < nb) sum += h2f(w[i].d) * a[i].d * float(hsum_epi32(dot_i8_i8(One(w[i]), load256(a[i].qs))));
  return sum;
}

HEARTH_INLINE __m256i q8_0_one(const BlockQ8_0& b) { return load256(b.qs); }

constexpr auto dot_q8_0 = dot_pairs<BlockQ8_0, q8_0_weight_pair, q8_0_one>;

// Four activation rows against one weight row; pairs of weight blocks are unpacked once.
template <typename WBlock, __m512i (*Pair)(const WBlock*), float (*Single)(int64_t, const void*, const void*)>
void dot4_pairs(int64_t n, const void* wv, const void* av, size_t stride, float* out) {
  const WBlock* w = static_cast<const WBlock*>(wv);
  const uint8_t* ab = static_cast<const uint8_t*>(av);
  const BlockQ8A* a[4] = {reinterpret_cast<const BlockQ8A*>(ab), reinterpret_cast<const BlockQ8A*>(ab + stride),
                          reinterpret_cast<const BlockQ8A*>(ab + 2 * stride),
                          reinterpret_cast<const BlockQ8A*>(ab + 3 * stride)};
  const int64_t nb = n / QK;
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    const __m512i q = Pair(w + i);
    const __m512i aq = _mm512_abs_epi8(q);
    const __mmask64 neg = _mm512_movepi8_mask(q);
    const float d0 = h2f(w[i].d), d1 = h2f(w[i + 1].d);
    for (int t = 0; t < 4; ++t) {
      const __m512i y = act_pair(a[t] + i);
      const __m512i sy = _mm512_mask_sub_epi8(y, neg, _mm512_setzero_si512(), y);
      const __m512i p = _mm512_madd_epi16(_mm512_maddubs_epi16(aq, sy), _mm512_set1_epi16(1));
      acc[t] = _mm512_fmadd_ps(scale2(d0 * a[t][i].d, d1 * a[t][i + 1].d), _mm512_cvtepi32_ps(p), acc[t]);
    }
  }
  for (int t = 0; t < 4; ++t) {
    out[t] = _mm512_reduce_add_ps(acc[t]);
    // An odd last block: the single-row kernel on just that block.
    if (i < nb) out[t] += Single(QK, w + i, a[t] + i);
  }
}

// ---- K-quants: 64 values per register --------------------------------------------------------

HEARTH_INLINE __m512i scales_pair16(int s0, int s1) {
  return join256(_mm256_set1_epi16(int16_t(s0)), _mm256_set1_epi16(int16_t(s1)));
}

float dot_q4_K(int64_t n, const void* wv, const void* av) {
  const BlockQ4_K* w = static_cast<const BlockQ4_K*>(wv);
  const BlockQ8_K* a = static_cast<const BlockQ8_K*>(av);
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  __m512 acc = _mm512_setzero_ps();
  __m256 acc_m = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / QK_K; ++i) {
    uint8_t sc[8], m[8];
    unpack_scales_k4(w[i].scales, sc, m);
    const float d = a[i].d * h2f(w[i].d), dmin = a[i].d * h2f(w[i].dmin);
    acc_m = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(mins_dot_bsums(m, a[i].bsums)), acc_m);
    __m512i sumi = _mm512_setzero_si512();
    for (int k = 0; k < 4; ++k) {
      // 32 bytes of nibbles: sub-block 2k in the low nibbles, 2k+1 in the high ones, which
      // is also the order of the 64 activation bytes.
      const __m256i bytes = load256(w[i].qs + 32 * k);
      const __m512i q = join256(_mm256_and_si256(bytes, low4), _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low4));
      const __m512i p = _mm512_maddubs_epi16(q, load512(a[i].qs + 64 * k));
      sumi = _mm512_add_epi32(sumi, _mm512_madd_epi16(p, scales_pair16(sc[2 * k], sc[2 * k + 1])));
    }
    acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sumi), acc);
  }
  return _mm512_reduce_add_ps(acc) - hsum_ps(acc_m);
}

void dot4_q4_K(int64_t n, const void* wv, const void* av, size_t stride, float* out) {
  const BlockQ4_K* w = static_cast<const BlockQ4_K*>(wv);
  const uint8_t* ab = static_cast<const uint8_t*>(av);
  const BlockQ8_K* a[4] = {reinterpret_cast<const BlockQ8_K*>(ab), reinterpret_cast<const BlockQ8_K*>(ab + stride),
                           reinterpret_cast<const BlockQ8_K*>(ab + 2 * stride),
                           reinterpret_cast<const BlockQ8_K*>(ab + 3 * stride)};
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  __m256 acc_m[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t i = 0; i < n / QK_K; ++i) {
    uint8_t sc[8], m[8];
    unpack_scales_k4(w[i].scales, sc, m);
    const float dw = h2f(w[i].d), dminw = h2f(w[i].dmin);
    __m512i sumi[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                       _mm512_setzero_si512()};
    for (int k = 0; k < 4; ++k) {
      const __m256i bytes = load256(w[i].qs + 32 * k);
      const __m512i q = join256(_mm256_and_si256(bytes, low4), _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low4));
      const __m512i s = scales_pair16(sc[2 * k], sc[2 * k + 1]);
      for (int t = 0; t < 4; ++t)
        sumi[t] = _mm512_add_epi32(sumi[t], _mm512_madd_epi16(_mm512_maddubs_epi16(q, load512(a[t][i].qs + 64 * k)), s));
    }
    for (int t = 0; t < 4; ++t) {
      acc[t] = _mm512_fmadd_ps(_mm512_set1_ps(a[t][i].d * dw), _mm512_cvtepi32_ps(sumi[t]), acc[t]);
      acc_m[t] = _mm256_fmadd_ps(_mm256_set1_ps(a[t][i].d * dminw),
                                 _mm256_cvtepi32_ps(mins_dot_bsums(m, a[t][i].bsums)), acc_m[t]);
    }
  }
  for (int t = 0; t < 4; ++t) out[t] = _mm512_reduce_add_ps(acc[t]) - hsum_ps(acc_m[t]);
}

}  // namespace

const KernelTable& avx512_table() {
  // Built on first use (only ever after the CPU check): the AVX2 table with the 512-bit
  // kernels swapped in.
  static const KernelTable table = [] {
    KernelTable t = avx2_table();
    t.isa = Isa::avx512;
    t.vec_dot[int(TensorType::F32)] = dot_float<float, load_f32x16, f32_scalar>;
    t.vec_dot[int(TensorType::F16)] = dot_float<uint16_t, load_f16x16, h2f>;
    t.vec_dot[int(TensorType::BF16)] = dot_float<uint16_t, load_bf16x16, bf16_scalar>;
    t.vec_dot[int(TensorType::Q8_0)] = dot_q8_0;
    t.vec_dot[int(TensorType::Q4_K)] = dot_q4_K;
    t.vec_dot[int(TensorType::Q6_K)] = q6_k_512::dot<false>;
    t.vec_dot4[int(TensorType::Q8_0)] = dot4_pairs<BlockQ8_0, q8_0_weight_pair, dot_q8_0>;
    t.vec_dot4[int(TensorType::Q4_K)] = dot4_q4_K;
    t.vec_dot4[int(TensorType::Q6_K)] = q6_k_512::dot4<false>;
    // 32 vector registers: more cache rows per step of the scores, more columns per pass of
    // the weighted sums (attention_f16.h).
    t.f16_rows_dot_heads = f16_rows_dot_heads_x86<16>;
    t.f16_rows_weighted_sum_heads = f16_rows_weighted_sum_heads_x86<16>;
    return t;
  }();
  return table;
}

}  // namespace hearth::kernels
