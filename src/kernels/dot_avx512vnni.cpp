// AVX-512 VNNI kernels (Cascade Lake, Ice Lake, Zen 4 and later) for the formats that dominate
// real models: Q4_0, Q8_0 and Q4_K. This file alone is compiled with -mavx512vnni on top of the
// AVX-512 flags; its table is the AVX-512 one with these kernels swapped in, and is only handed
// out when util/cpu.h reports avx512_vnni.
//
// Why a separate path: on a few cores token generation with 4-bit weights is bound by the
// instructions per weight byte, not by memory. VPDPBUSD multiplies 64 unsigned by 64 signed
// bytes and adds them into 16 int32 lanes in one instruction (the AVX-512 path needs three:
// maddubs, madd, add), and the activations come in Q8X (quant.h), laid out so that
//   - one register holds the same 16-value half of four consecutive blocks, which is exactly
//     what a Q4_0 register of 64 nibble bytes unpacks into (low nibbles = first halves), and
//   - the four int32 lanes VPDPBUSD gives each block line up with four copies of its scale,
// so four blocks cost one float multiply-add instead of four scalar scale computations.
//
// Both weight formats are used as unsigned bytes (VPDPBUSD's first operand): Q4_0's nibbles
// q in [0, 15] stand for q - 8, Q8_0's bytes w are flipped to w + 128 in [1, 255]; the offset
// is c·Σa per block (c = 8 or 128), which Q8X keeps as -Σa in the block's first lane and
// which seeds the integer sum: Σ (q - c)·a = c·(-Σa) + Σ q·a.
//
// Q4_K keeps Q8_K activations: its sub-block scales are weight-side integers, so the products
// go through VPMADDUBSW (int16 pair sums) and VPDPWSSD multiplies them by the scales and
// accumulates in one instruction; the nibbles of a whole super-block unpack in six.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/dispatch.h"
#include "kernels/quant.h"
#include "kernels/simd_avx2.h"

namespace hearth::kernels {

using gguf::TensorType;

namespace {

HEARTH_INLINE __m512i load512(const void* p) { return _mm512_loadu_si512(p); }
HEARTH_INLINE __m128i load128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

// Word indices (for VPERMW / VPERMT2W) of 32 int16 lanes, built once per call.
struct WordIndex {
  alignas(64) int16_t v[32];
  __m512i get() const { return _mm512_load_si512(v); }
};

// ---- Q4_0: four 18-byte blocks (72 bytes) per step --------------------------------------------

// The 64 nibble bytes of four blocks out of two overlapping loads r0 = bytes 0..63 and
// r1 = bytes 8..71: block k's qs start at byte 18k + 2 (word 9k + 1), block 3's at byte 56,
// which is word 24 of r1 (index 32 + 24 in VPERMT2W's two-register numbering).
constexpr WordIndex q4_0_qs_index() {
  WordIndex w{};
  for (int l = 0; l < 32; ++l) {
    const int k = l / 8, j = l % 8;
    w.v[l] = int16_t(k < 3 ? 9 * k + 1 + j : 32 + 24 + j);
  }
  return w;
}
// Block k's fp16 d (word 9k of r0) into int16 lanes 4k..4k+3.
constexpr WordIndex q4_0_d_index() {
  WordIndex w{};
  for (int l = 0; l < 32; ++l) w.v[l] = int16_t(9 * ((l % 16) / 4));
  return w;
}
constexpr WordIndex kQ4_0Qs = q4_0_qs_index();
constexpr WordIndex kQ4_0D = q4_0_d_index();

// One unpacked Q4_0 group: the low and high nibbles of four blocks, and their scales as floats
// in Q8X's lane order.
struct Q4Group {
  __m512i lo, hi;
  __m512 d;
};

HEARTH_INLINE Q4Group unpack_q4_0(const uint8_t* p, __m512i qs_index, __m512i d_index) {
  const __m512i r0 = load512(p), r1 = load512(p + 8);
  const __m512i qs = _mm512_permutex2var_epi16(r0, qs_index, r1);
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  Q4Group g;
  g.lo = _mm512_and_si512(qs, low4);
  g.hi = _mm512_and_si512(_mm512_srli_epi16(qs, 4), low4);
  g.d = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(d_index, r0)));
  return g;
}

// Σ over the group's four blocks of dw·da·Σ (q - 2^shift)·a, added to acc (16 lanes).
template <int Shift>
HEARTH_INLINE __m512 group_dot(__m512i lo, __m512i hi, __m512 dw, const BlockQ8X& a, __m512 acc) {
  __m512i s = _mm512_slli_epi32(load512(a.nsum), Shift);
  s = _mm512_dpbusd_epi32(s, lo, load512(a.lo));
  s = _mm512_dpbusd_epi32(s, hi, load512(a.hi));
  return _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, _mm512_loadu_ps(a.d)), acc);
}

// Blocks after the last full group of four (rows of 32·(4m + r) values), one at a time
// against the padded last Q8X group.
float q4_0_tail(const BlockQ4_0* w, int64_t first, int64_t nb, const BlockQ8X& a) {
  float sum = 0;
  for (int64_t b = first; b < nb; ++b) {
    const int k = int(b % 4);
    int isum = 0;
    for (int j = 0; j < 16; ++j)
      isum += ((w[b].qs[j] & 0x0f) - 8) * a.lo[16 * k + j] + ((w[b].qs[j] >> 4) - 8) * a.hi[16 * k + j];
    sum += h2f(w[b].d) * a.d[4 * k] * float(isum);
  }
  return sum;
}

float dot_q4_0(int64_t n, const void* wv, const void* av) {
  const uint8_t* w = static_cast<const uint8_t*>(wv);
  const BlockQ8X* a = static_cast<const BlockQ8X*>(av);
  const int64_t nb = n / QK, ng = nb / 4;
  const __m512i qs_index = kQ4_0Qs.get(), d_index = kQ4_0D.get();
  // Two accumulators: consecutive groups do not wait on each other's multiply-add.
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t g = 0;
  for (; g + 2 <= ng; g += 2) {
    const Q4Group q0 = unpack_q4_0(w + 72 * g, qs_index, d_index);
    const Q4Group q1 = unpack_q4_0(w + 72 * (g + 1), qs_index, d_index);
    acc0 = group_dot<3>(q0.lo, q0.hi, q0.d, a[g], acc0);
    acc1 = group_dot<3>(q1.lo, q1.hi, q1.d, a[g + 1], acc1);
  }
  if (g < ng) {
    const Q4Group q = unpack_q4_0(w + 72 * g, qs_index, d_index);
    acc0 = group_dot<3>(q.lo, q.hi, q.d, a[g], acc0);
  }
  float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
  if (4 * ng < nb) sum += q4_0_tail(static_cast<const BlockQ4_0*>(wv), 4 * ng, nb, a[ng]);
  return sum;
}

// Four activation rows against one Q4_0 row: each group of weight blocks is unpacked once.
void dot4_q4_0(int64_t n, const void* wv, const void* av, size_t stride, float* out) {
  const uint8_t* w = static_cast<const uint8_t*>(wv);
  const uint8_t* ab = static_cast<const uint8_t*>(av);
  const BlockQ8X* a[4];
  for (int t = 0; t < 4; ++t) a[t] = reinterpret_cast<const BlockQ8X*>(ab + t * stride);
  const int64_t nb = n / QK, ng = nb / 4;
  const __m512i qs_index = kQ4_0Qs.get(), d_index = kQ4_0D.get();
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  for (int64_t g = 0; g < ng; ++g) {
    const Q4Group q = unpack_q4_0(w + 72 * g, qs_index, d_index);
    for (int t = 0; t < 4; ++t) acc[t] = group_dot<3>(q.lo, q.hi, q.d, a[t][g], acc[t]);
  }
  for (int t = 0; t < 4; ++t) {
    out[t] = _mm512_reduce_add_ps(acc[t]);
    if (4 * ng < nb) out[t] += q4_0_tail(static_cast<const BlockQ4_0*>(wv), 4 * ng, nb, a[t][ng]);
  }
}

// ---- Q8_0: four 34-byte blocks (136 bytes) per step -------------------------------------------

// Bytes 16h .. 16h+15 of each of four blocks' qs (h = 0: first halves, 1: second halves).
// Four 16-byte loads and three inserts: cheaper here than word permutes over three registers.
HEARTH_INLINE __m512i q8_0_halves(const uint8_t* p, int h) {
  const uint8_t* q = p + 2 + 16 * h;
  __m512i v = _mm512_castsi128_si512(load128(q));
  v = _mm512_inserti32x4(v, load128(q + 34), 1);
  v = _mm512_inserti32x4(v, load128(q + 68), 2);
  return _mm512_inserti32x4(v, load128(q + 102), 3);
}
// The four d's sit at bytes 0, 34, 68, 102: words 0 and 17 of bytes 0..63, words 2 and 19 of
// bytes 64..127.
constexpr WordIndex q8_0_d_index() {
  WordIndex w{};
  const int16_t word[4] = {0, 17, 32 + 2, 32 + 19};
  for (int l = 0; l < 32; ++l) w.v[l] = word[(l % 16) / 4];
  return w;
}
constexpr WordIndex kQ8_0D = q8_0_d_index();

struct Q8Group {
  __m512i lo, hi;  // w + 128 as unsigned bytes
  __m512 d;
};

HEARTH_INLINE Q8Group unpack_q8_0(const uint8_t* p, __m512i d_index) {
  const __m512i flip = _mm512_set1_epi8(char(0x80));
  Q8Group g;
  g.lo = _mm512_xor_si512(q8_0_halves(p, 0), flip);
  g.hi = _mm512_xor_si512(q8_0_halves(p, 1), flip);
  g.d = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutex2var_epi16(load512(p), d_index, load512(p + 64))));
  return g;
}

float q8_0_tail(const BlockQ8_0* w, int64_t first, int64_t nb, const BlockQ8X& a) {
  float sum = 0;
  for (int64_t b = first; b < nb; ++b) {
    const int k = int(b % 4);
    int isum = 0;
    for (int j = 0; j < 16; ++j) isum += w[b].qs[j] * a.lo[16 * k + j] + w[b].qs[16 + j] * a.hi[16 * k + j];
    sum += h2f(w[b].d) * a.d[4 * k] * float(isum);
  }
  return sum;
}

float dot_q8_0(int64_t n, const void* wv, const void* av) {
  const uint8_t* w = static_cast<const uint8_t*>(wv);
  const BlockQ8X* a = static_cast<const BlockQ8X*>(av);
  const int64_t nb = n / QK, ng = nb / 4;
  const __m512i d_index = kQ8_0D.get();
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t g = 0;
  for (; g + 2 <= ng; g += 2) {
    const Q8Group q0 = unpack_q8_0(w + 136 * g, d_index);
    const Q8Group q1 = unpack_q8_0(w + 136 * (g + 1), d_index);
    acc0 = group_dot<7>(q0.lo, q0.hi, q0.d, a[g], acc0);
    acc1 = group_dot<7>(q1.lo, q1.hi, q1.d, a[g + 1], acc1);
  }
  if (g < ng) {
    const Q8Group q = unpack_q8_0(w + 136 * g, d_index);
    acc0 = group_dot<7>(q.lo, q.hi, q.d, a[g], acc0);
  }
  float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
  if (4 * ng < nb) sum += q8_0_tail(static_cast<const BlockQ8_0*>(wv), 4 * ng, nb, a[ng]);
  return sum;
}

void dot4_q8_0(int64_t n, const void* wv, const void* av, size_t stride, float* out) {
  const uint8_t* w = static_cast<const uint8_t*>(wv);
  const uint8_t* ab = static_cast<const uint8_t*>(av);
  const BlockQ8X* a[4];
  for (int t = 0; t < 4; ++t) a[t] = reinterpret_cast<const BlockQ8X*>(ab + t * stride);
  const int64_t nb = n / QK, ng = nb / 4;
  const __m512i d_index = kQ8_0D.get();
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  for (int64_t g = 0; g < ng; ++g) {
    const Q8Group q = unpack_q8_0(w + 136 * g, d_index);
    for (int t = 0; t < 4; ++t) acc[t] = group_dot<7>(q.lo, q.hi, q.d, a[t][g], acc[t]);
  }
  for (int t = 0; t < 4; ++t) {
    out[t] = _mm512_reduce_add_ps(acc[t]);
    if (4 * ng < nb) out[t] += q8_0_tail(static_cast<const BlockQ8_0*>(wv), 4 * ng, nb, a[t][ng]);
  }
}

// ---- Q4_K: one 256-value super-block (144 bytes) per step --------------------------------------

// The eight 6-bit sub-block scales and mins of a Q4_K scales[12] field (layout in quant.h), as
// int16 lanes 0..7 of two registers.
HEARTH_INLINE void q4_K_scales_mins(const uint8_t* scales, __m128i* sc, __m128i* m) {
  uint32_t u[3];
  std::memcpy(u, scales, 12);
  const uint64_t sc_lo = u[0] & 0x3f3f3f3fu, m_lo = u[1] & 0x3f3f3f3fu;
  const uint64_t sc_hi = (u[2] & 0x0f0f0f0fu) | (((u[0] >> 6) & 0x03030303u) << 4);
  const uint64_t m_hi = ((u[2] >> 4) & 0x0f0f0f0fu) | (((u[1] >> 6) & 0x03030303u) << 4);
  *sc = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(int64_t(sc_lo | sc_hi << 32)));
  *m = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(int64_t(m_lo | m_hi << 32)));
}

// Int16 lanes 0..15 take sub-block scale 2k, lanes 16..31 scale 2k + 1: the sub-blocks that
// the 32 int16 pair sums of one 64-value register belong to.
constexpr WordIndex q4_K_scale_index(int k) {
  WordIndex w{};
  for (int l = 0; l < 32; ++l) w.v[l] = int16_t(2 * k + l / 16);
  return w;
}
constexpr WordIndex kQ4_KScale[4] = {q4_K_scale_index(0), q4_K_scale_index(1), q4_K_scale_index(2),
                                     q4_K_scale_index(3)};
// Min j for both int16 sums of its sub-block in Q8_K's bsums (16 sums of 16 values).
constexpr WordIndex q4_K_min_index() {
  WordIndex w{};
  for (int l = 0; l < 32; ++l) w.v[l] = int16_t(l / 2 % 8);
  return w;
}
constexpr WordIndex kQ4_KMin = q4_K_min_index();

// One unpacked super-block: w[k] holds sub-blocks 2k (bytes 0..31) and 2k + 1 (32..63) as
// unsigned nibbles, in the order of Q8_K's values; s[k] their scales for VPDPWSSD; mins the
// eight mins, each twice, against Q8_K's sixteen bsums.
struct Q4KBlock {
  __m512i w[4];
  __m512i s[4];
  __m256i mins;
  float d, dmin;
};

HEARTH_INLINE Q4KBlock unpack_q4_K(const BlockQ4_K& b, const __m512i scale_index[4], __m512i min_index) {
  Q4KBlock u;
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  // qs group i (32 bytes) has sub-block 2i in its low nibbles and 2i + 1 in its high ones.
  for (int h = 0; h < 2; ++h) {
    const __m512i q = load512(b.qs + 64 * h);
    const __m512i lo = _mm512_and_si512(q, low4);                         // 4h, 4h + 2
    const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), low4);  // 4h + 1, 4h + 3
    u.w[2 * h] = _mm512_shuffle_i64x2(lo, hi, 0x44);                      // 4h, 4h + 1
    u.w[2 * h + 1] = _mm512_shuffle_i64x2(lo, hi, 0xee);                  // 4h + 2, 4h + 3
  }
  __m128i sc, m;
  q4_K_scales_mins(b.scales, &sc, &m);
  for (int k = 0; k < 4; ++k) u.s[k] = _mm512_permutexvar_epi16(scale_index[k], _mm512_castsi128_si512(sc));
  u.mins = _mm512_castsi512_si256(_mm512_permutexvar_epi16(min_index, _mm512_castsi128_si512(m)));
  u.d = h2f(b.d);
  u.dmin = h2f(b.dmin);
  return u;
}

// Adds one super-block against one Q8_K block: Σ d·sc_j·Σ q·a into acc, dmin·Σ m_j·Σa into
// acc_m (subtracted at the end).
HEARTH_INLINE void q4_K_block_dot(const Q4KBlock& u, const BlockQ8_K& a, __m512& acc, __m256& acc_m) {
  __m512i isum = _mm512_setzero_si512();
  for (int k = 0; k < 4; ++k)
    isum = _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(u.w[k], load512(a.qs + 64 * k)), u.s[k]);
  acc = _mm512_fmadd_ps(_mm512_set1_ps(u.d * a.d), _mm512_cvtepi32_ps(isum), acc);
  const __m256i msum = _mm256_madd_epi16(u.mins, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.bsums)));
  acc_m = _mm256_fmadd_ps(_mm256_set1_ps(u.dmin * a.d), _mm256_cvtepi32_ps(msum), acc_m);
}

HEARTH_INLINE void load_q4_K_indices(__m512i scale_index[4], __m512i* min_index) {
  for (int k = 0; k < 4; ++k) scale_index[k] = kQ4_KScale[k].get();
  *min_index = kQ4_KMin.get();
}

float dot_q4_K(int64_t n, const void* wv, const void* av) {
  const BlockQ4_K* w = static_cast<const BlockQ4_K*>(wv);
  const BlockQ8_K* a = static_cast<const BlockQ8_K*>(av);
  __m512i scale_index[4], min_index;
  load_q4_K_indices(scale_index, &min_index);
  __m512 acc = _mm512_setzero_ps();
  __m256 acc_m = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / QK_K; ++i) q4_K_block_dot(unpack_q4_K(w[i], scale_index, min_index), a[i], acc, acc_m);
  return _mm512_reduce_add_ps(acc) - hsum_ps(acc_m);
}

void dot4_q4_K(int64_t n, const void* wv, const void* av, size_t stride, float* out) {
  const BlockQ4_K* w = static_cast<const BlockQ4_K*>(wv);
  const uint8_t* ab = static_cast<const uint8_t*>(av);
  const BlockQ8_K* a[4];
  for (int t = 0; t < 4; ++t) a[t] = reinterpret_cast<const BlockQ8_K*>(ab + t * stride);
  __m512i scale_index[4], min_index;
  load_q4_K_indices(scale_index, &min_index);
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  __m256 acc_m[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t i = 0; i < n / QK_K; ++i) {
    const Q4KBlock u = unpack_q4_K(w[i], scale_index, min_index);
    for (int t = 0; t < 4; ++t) q4_K_block_dot(u, a[t][i], acc[t], acc_m[t]);
  }
  for (int t = 0; t < 4; ++t) out[t] = _mm512_reduce_add_ps(acc[t]) - hsum_ps(acc_m[t]);
}

}  // namespace

const KernelTable& avx512vnni_table() {
  // Built on first use (only ever after the CPU check): the AVX-512 table with the VNNI
  // kernels, and their activation format, swapped in.
  static const KernelTable table = [] {
    KernelTable t = avx512_table();
    t.isa = Isa::avx512vnni;
    t.vec_dot[int(TensorType::Q4_0)] = dot_q4_0;
    t.vec_dot4[int(TensorType::Q4_0)] = dot4_q4_0;
    t.act[int(TensorType::Q4_0)] = Act::Q8X;
    t.vec_dot[int(TensorType::Q8_0)] = dot_q8_0;
    t.vec_dot4[int(TensorType::Q8_0)] = dot4_q8_0;
    t.act[int(TensorType::Q8_0)] = Act::Q8X;
    t.vec_dot[int(TensorType::Q4_K)] = dot_q4_K;
    t.vec_dot4[int(TensorType::Q4_K)] = dot4_q4_K;
    return t;
  }();
  return table;
}

}  // namespace hearth::kernels
