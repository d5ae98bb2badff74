// Prompt kernels on packed groups of eight weight rows (PackRowsFn / PackedDotFn in
// dispatch.h), for the AVX2 table (dot_avx2.cpp, which the AVX-512 one inherits them from)
// and the VNNI one (dot_avx512vnni.cpp); each file includes this header and compiles it with
// its own instruction set, as q6_k_avx512.h.
//
// The one-row kernels scale each (row, token, block) product in floats on its own: about a
// quarter of their instructions. Here eight rows are packed side by side, so that each int32
// lane of a 256-bit register belongs to one row: one multiply of four consecutive values of
// all eight rows by the same four activation bytes (a broadcast load) per instruction, and
// everything after the products (sub-block scales, mins or offsets, d, the token's d) is done
// for eight rows per instruction. That multiply is VPDPBUSD with VNNI; without it, VPMADDUBSW
// + VPMADDWD by ones + VPADDD give the same sums (no int16 saturation: the packed bytes are
// at most 63, except Q8_0's flipped bytes, which is why Q8_0 is packed for VNNI only).
//
// The VNNI kernels take up to eight tokens per call (eight chains of VPDPBUSD cover its
// latency; eight tokens' accumulators fit in 32 registers); AVX2, with 16 registers, four.
// AVX-VNNI (dot_avxvnni.cpp: the same instructions in VEX encoding, for CPUs without AVX-512)
// has VPDPBUSD but only 16 registers: a file that defines HEARTH_PACKED_X8_VEX_VNNI before
// including this header gets the VEX intrinsics and four tokens per call.
// A packed group (160-2464 bytes per block of eight rows: 10-58 KiB for real rows) stays in
// L1/L2 while the token block's activations stream past it.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/dispatch.h"
#include "kernels/quant.h"
#include "kernels/simd_avx2.h"

namespace hearth::kernels::packed_x8 {
namespace {

// acc + Σ of four u8·s8 products per int32 lane.
template <bool Vnni>
HEARTH_INLINE __m256i dpbusd(__m256i acc, __m256i u, __m256i s) {
  if constexpr (Vnni) {
#if defined(HEARTH_PACKED_X8_VEX_VNNI)
    return _mm256_dpbusd_avx_epi32(acc, u, s);
#else
    return _mm256_dpbusd_epi32(acc, u, s);
#endif
  } else {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
  }
}

// acc + Σ of two int16 products per int32 lane.
template <bool Vnni>
HEARTH_INLINE __m256i dpwssd(__m256i acc, __m256i a, __m256i b) {
  if constexpr (Vnni) {
#if defined(HEARTH_PACKED_X8_VEX_VNNI)
    return _mm256_dpwssd_avx_epi32(acc, a, b);
#else
    return _mm256_dpwssd_epi32(acc, a, b);
#endif
  } else {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
  }
}

// 8x8 transpose of int32: out[c] lane r = in[r] lane c.
HEARTH_INLINE void transpose_8x8_epi32(const __m256i in[8], __m256i out[8]) {
  __m256i t[8], u[8];
  for (int k = 0; k < 4; ++k) {
    t[2 * k] = _mm256_unpacklo_epi32(in[2 * k], in[2 * k + 1]);
    t[2 * k + 1] = _mm256_unpackhi_epi32(in[2 * k], in[2 * k + 1]);
  }
  for (int h = 0; h < 2; ++h) {  // rows 0-3, then 4-7
    const __m256i* tt = t + 4 * h;
    u[4 * h + 0] = _mm256_unpacklo_epi64(tt[0], tt[2]);
    u[4 * h + 1] = _mm256_unpackhi_epi64(tt[0], tt[2]);
    u[4 * h + 2] = _mm256_unpacklo_epi64(tt[1], tt[3]);
    u[4 * h + 3] = _mm256_unpackhi_epi64(tt[1], tt[3]);
  }
  for (int c = 0; c < 4; ++c) {
    out[c] = _mm256_permute2x128_si256(u[c], u[4 + c], 0x20);
    out[c + 4] = _mm256_permute2x128_si256(u[c], u[4 + c], 0x31);
  }
}

// 8x8 transpose of bytes: row r of the result (bytes 8r .. 8r + 7 of out[r / 2]) holds byte r
// of each of the eight inputs.
HEARTH_INLINE void transpose_8x8_epi8(const uint64_t in[8], __m128i out[4]) {
  __m128i u[4], v[4];
  for (int k = 0; k < 4; ++k)
    u[k] = _mm_unpacklo_epi8(_mm_cvtsi64_si128(int64_t(in[2 * k])), _mm_cvtsi64_si128(int64_t(in[2 * k + 1])));
  v[0] = _mm_unpacklo_epi16(u[0], u[1]);
  v[1] = _mm_unpackhi_epi16(u[0], u[1]);
  v[2] = _mm_unpacklo_epi16(u[2], u[3]);
  v[3] = _mm_unpackhi_epi16(u[2], u[3]);
  out[0] = _mm_unpacklo_epi32(v[0], v[2]);
  out[1] = _mm_unpackhi_epi32(v[0], v[2]);
  out[2] = _mm_unpacklo_epi32(v[1], v[3]);
  out[3] = _mm_unpackhi_epi32(v[1], v[3]);
}

// Rows r (128-bit lane 0) and r + 4 (lane 1) of four dwords each, in[0..3] for r = 0..3 →
// out[c] = dword c of rows 0..7.
HEARTH_INLINE void transpose_8x4_epi32(const __m256i in[4], __m256i out[4]) {
  const __m256i t0 = _mm256_unpacklo_epi32(in[0], in[1]), t1 = _mm256_unpackhi_epi32(in[0], in[1]);
  const __m256i t2 = _mm256_unpacklo_epi32(in[2], in[3]), t3 = _mm256_unpackhi_epi32(in[2], in[3]);
  out[0] = _mm256_unpacklo_epi64(t0, t2);
  out[1] = _mm256_unpackhi_epi64(t0, t2);
  out[2] = _mm256_unpacklo_epi64(t1, t3);
  out[3] = _mm256_unpackhi_epi64(t1, t3);
}

// Four bytes at p in every int32 lane.
HEARTH_INLINE __m256i broadcast32(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// ---- Q4_K ------------------------------------------------------------------------------------

// One super-block of eight rows.
struct PackedQ4Kx8 {
  float d[8], dmin[8];  // per row
  uint8_t sc[8][8];     // [sub-block][row]
  uint8_t m[8][16];     // [sub-block][row], each twice: one VPDPWSSD meets Q8_K's two sums of 16
  // [32-byte group k][value quad c][row · 4 + l]: qs byte 32k + 4c + l of the row, whose low
  // nibble is value 4c + l of sub-block 2k and whose high nibble that of sub-block 2k + 1.
  uint8_t q[4][8][32];
};
static_assert(sizeof(PackedQ4Kx8) == 1280);

// Q5_K: as Q4_K, with the five-bit values unpacked to bytes (sub-block j, quad c).
struct PackedQ5Kx8 {
  float d[8], dmin[8];
  uint8_t sc[8][8];
  uint8_t m[8][16];
  uint8_t q[8][8][32];  // [sub-block][value quad c][row · 4 + l]: value 4c + l, 0..31
};
static_assert(sizeof(PackedQ5Kx8) == 2304);

// The scales, mins, d and dmin of the eight rows' super-blocks b (Q4_K and Q5_K share them).
template <typename P, typename Block>
HEARTH_INLINE void pack_k_scales(const Block* const b[8], P* p) {
  uint64_t sc8[8], m8[8];
  for (int r = 0; r < 8; ++r) {
    p->d[r] = h2f(b[r]->d);
    p->dmin[r] = h2f(b[r]->dmin);
    uint8_t sc[8], m[8];
    unpack_scales_k4(b[r]->scales, sc, m);
    std::memcpy(&sc8[r], sc, 8);
    std::memcpy(&m8[r], m, 8);
  }
  __m128i t[4];
  transpose_8x8_epi8(sc8, t);
  for (int k = 0; k < 4; ++k) _mm_storeu_si128(reinterpret_cast<__m128i*>(p->sc[2 * k]), t[k]);
  transpose_8x8_epi8(m8, t);
  for (int k = 0; k < 4; ++k) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p->m[2 * k]), _mm_unpacklo_epi8(t[k], t[k]));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p->m[2 * k + 1]), _mm_unpackhi_epi8(t[k], t[k]));
  }
}

void pack_q4_K(int64_t n, const void* wv, size_t w_stride, void* out) {
  const uint8_t* w = static_cast<const uint8_t*>(wv);
  PackedQ4Kx8* p = static_cast<PackedQ4Kx8*>(out);
  for (int64_t i = 0; i < n / QK_K; ++i, ++p) {
    const BlockQ4_K* b[8];
    for (int r = 0; r < 8; ++r) b[r] = reinterpret_cast<const BlockQ4_K*>(w + r * w_stride) + i;
    pack_k_scales(b, p);
    for (int k = 0; k < 4; ++k) {
      __m256i q[8], qt[8];
      for (int r = 0; r < 8; ++r) q[r] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[r]->qs + 32 * k));
      transpose_8x8_epi32(q, qt);
      for (int c = 0; c < 8; ++c) _mm256_storeu_si256(reinterpret_cast<__m256i*>(p->q[k][c]), qt[c]);
    }
  }
}

void pack_q5_K(int64_t n, const void* wv, size_t w_stride, void* out) {
  const uint8_t* w = static_cast<const uint8_t*>(wv);
  PackedQ5Kx8* p = static_cast<PackedQ5Kx8*>(out);
  const __m256i low4 = _mm256_set1_epi8(0x0f), one = _mm256_set1_epi8(1);
  for (int64_t i = 0; i < n / QK_K; ++i, ++p) {
    const BlockQ5_K* b[8];
    for (int r = 0; r < 8; ++r) b[r] = reinterpret_cast<const BlockQ5_K*>(w + r * w_stride) + i;
    pack_k_scales(b, p);
    for (int k = 0; k < 4; ++k) {
      __m256i lo[8], hi[8], qt[8];
      for (int r = 0; r < 8; ++r) {
        // Bit 4 of value l of sub-block j is bit j of qh[l].
        const __m256i qs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[r]->qs + 32 * k));
        const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[r]->qh));
        const __m256i h_lo = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), one);
        const __m256i h_hi = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * k + 1), one);
        lo[r] = _mm256_or_si256(_mm256_and_si256(qs, low4), _mm256_slli_epi16(h_lo, 4));
        hi[r] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qs, 4), low4), _mm256_slli_epi16(h_hi, 4));
      }
      transpose_8x8_epi32(lo, qt);
      for (int c = 0; c < 8; ++c) _mm256_storeu_si256(reinterpret_cast<__m256i*>(p->q[2 * k][c]), qt[c]);
      transpose_8x8_epi32(hi, qt);
      for (int c = 0; c < 8; ++c) _mm256_storeu_si256(reinterpret_cast<__m256i*>(p->q[2 * k + 1][c]), qt[c]);
    }
  }
}

// Values 4c .. 4c + 3 of sub-block j of the eight rows, as unsigned bytes.
HEARTH_INLINE __m256i sub_block_quad(const PackedQ4Kx8& g, int j, int c) {
  const __m256i raw = _mm256_load_si256(reinterpret_cast<const __m256i*>(g.q[j / 2][c]));
  return _mm256_and_si256(j % 2 != 0 ? _mm256_srli_epi16(raw, 4) : raw, _mm256_set1_epi8(0x0f));
}
HEARTH_INLINE __m256i sub_block_quad(const PackedQ5Kx8& g, int j, int c) {
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(g.q[j][c]));
}

// T tokens against one packed group: y[t · y_stride + r]. VNNI, Zen 4, group in L1: 261-266
// TSC cycles per super-block for eight rows × eight tokens (512 VPDPBUSD), near two per
// cycle; packing 79 per super-block (185 when it split the nibbles). The mins two sub-blocks
// per VPDPWSSD (sums of 32 made by a horizontal add and broadcast by permutes) were no faster.
template <bool Vnni, int T, typename P>
void k_quant_tokens(int64_t n, const P* p, const uint8_t* ab, size_t stride, float* y, size_t y_stride) {
  __m256 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / QK_K; ++i) {
    const P& g = p[i];
    const BlockQ8_K* x[T];
    for (int t = 0; t < T; ++t) x[t] = reinterpret_cast<const BlockQ8_K*>(ab + t * stride) + i;
    __m256i isum[T];
    for (int t = 0; t < T; ++t) isum[t] = _mm256_setzero_si256();
    // Q4_K: sub-block 2k from the low nibbles of group k, then 2k + 1 from the high ones (one
    // pass per sub-block: both at once would need more registers than there are).
    for (int j = 0; j < 8; ++j) {
      __m256i s[T];
      for (int t = 0; t < T; ++t) s[t] = _mm256_setzero_si256();
      for (int c = 0; c < 8; ++c) {
        const __m256i wq = sub_block_quad(g, j, c);
        for (int t = 0; t < T; ++t) s[t] = dpbusd<Vnni>(s[t], wq, broadcast32(x[t]->qs + 32 * j + 4 * c));
      }
      const __m256i sc = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(g.sc[j])));
      for (int t = 0; t < T; ++t) isum[t] = _mm256_add_epi32(isum[t], _mm256_mullo_epi32(s[t], sc));
    }
    __m256i msum[T];
    for (int t = 0; t < T; ++t) msum[t] = _mm256_setzero_si256();
    for (int j = 0; j < 8; ++j) {
      const __m256i mj = _mm256_cvtepu8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(g.m[j])));
      for (int t = 0; t < T; ++t) msum[t] = dpwssd<Vnni>(msum[t], mj, broadcast32(x[t]->bsums + 2 * j));
    }
    const __m256 d = _mm256_load_ps(g.d), dmin = _mm256_load_ps(g.dmin);
    for (int t = 0; t < T; ++t) {
      const __m256 xd = _mm256_set1_ps(x[t]->d);
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(d, xd), acc[t]);
      acc[t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum[t]), _mm256_mul_ps(dmin, xd), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) _mm256_storeu_ps(y + t * y_stride, acc[t]);
}

// ---- Q6_K ------------------------------------------------------------------------------------
//
// Q6_K's values (6 bits, 0..63 standing for -32..31) are unpacked to bytes when packing, so
// the kernel only multiplies: sixteen 16-value sub-blocks with signed 8-bit scales, and the
// -32 offset as Σ_s -32·sc_s · (Σ a over sub-block s) against Q8_K's sums of 16, two
// sub-blocks per VPDPWSSD, into the same integer sum. Q4_K_M files keep some tensors in Q6_K
// (the output matrix, half the attn_v and ffn_down ones).

// One super-block of eight rows.
struct PackedQ6Kx8 {
  float d[8];
  int8_t sc[16][8];      // [sub-block of 16][row]
  int16_t off[8][8][2];  // [sub-block pair p][row]: -32 · the scales of sub-blocks 2p and 2p + 1
  uint8_t q[8][8][32];   // [32-value chunk v][quad c][row · 4 + l]: value 32v + 4c + l, 0..63
};
static_assert(sizeof(PackedQ6Kx8) == 2464);

void pack_q6_K(int64_t n, const void* wv, size_t w_stride, void* out) {
  const uint8_t* w = static_cast<const uint8_t*>(wv);
  PackedQ6Kx8* p = static_cast<PackedQ6Kx8*>(out);
  for (int64_t i = 0; i < n / QK_K; ++i, ++p) {
    const BlockQ6_K* b[8];
    uint64_t sc_lo[8], sc_hi[8];
    for (int r = 0; r < 8; ++r) {
      b[r] = reinterpret_cast<const BlockQ6_K*>(w + r * w_stride) + i;
      p->d[r] = h2f(b[r]->d);
      std::memcpy(&sc_lo[r], b[r]->scales, 8);
      std::memcpy(&sc_hi[r], b[r]->scales + 8, 8);
    }
    // t[k]: the eight rows' scales of sub-blocks 8·half + 2k (bytes 0-7) and the next one (8-15).
    for (int half = 0; half < 2; ++half) {
      __m128i t[4];
      transpose_8x8_epi8(half == 0 ? sc_lo : sc_hi, t);
      for (int k = 0; k < 4; ++k) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(p->sc[8 * half + 2 * k]), t[k]);
        const __m256i pairs = _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(t[k], _mm_unpackhi_epi64(t[k], t[k])));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(p->off[4 * half + k]),
                            _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(pairs, 5)));
      }
    }
    for (int h = 0; h < 2; ++h) {
      __m256i q[4][8], qt[8];
      for (int r = 0; r < 8; ++r) {
        __m256i u[4];
        unpack_q6_half(b[r]->ql + 64 * h, b[r]->qh + 32 * h, u);
        for (int g = 0; g < 4; ++g) q[g][r] = u[g];
      }
      for (int g = 0; g < 4; ++g) {
        transpose_8x8_epi32(q[g], qt);
        for (int c = 0; c < 8; ++c) _mm256_storeu_si256(reinterpret_cast<__m256i*>(p->q[4 * h + g][c]), qt[c]);
      }
    }
  }
}

template <bool Vnni, int T>
void q6_K_tokens(int64_t n, const PackedQ6Kx8* p, const uint8_t* ab, size_t stride, float* y, size_t y_stride) {
  __m256 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / QK_K; ++i) {
    const PackedQ6Kx8& g = p[i];
    const BlockQ8_K* x[T];
    for (int t = 0; t < T; ++t) x[t] = reinterpret_cast<const BlockQ8_K*>(ab + t * stride) + i;
    __m256i isum[T];
    for (int t = 0; t < T; ++t) isum[t] = _mm256_setzero_si256();
    for (int sb = 0; sb < 16; ++sb) {
      const int v = sb / 2, c0 = 4 * (sb % 2);
      __m256i s[T];
      for (int t = 0; t < T; ++t) s[t] = _mm256_setzero_si256();
      for (int c = c0; c < c0 + 4; ++c) {
        const __m256i wq = _mm256_load_si256(reinterpret_cast<const __m256i*>(g.q[v][c]));
        for (int t = 0; t < T; ++t) s[t] = dpbusd<Vnni>(s[t], wq, broadcast32(x[t]->qs + 32 * v + 4 * c));
      }
      const __m256i sc = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(g.sc[sb])));
      for (int t = 0; t < T; ++t) isum[t] = _mm256_add_epi32(isum[t], _mm256_mullo_epi32(s[t], sc));
    }
    for (int pair = 0; pair < 8; ++pair) {
      const __m256i off = _mm256_load_si256(reinterpret_cast<const __m256i*>(g.off[pair]));
      for (int t = 0; t < T; ++t) isum[t] = dpwssd<Vnni>(isum[t], off, broadcast32(x[t]->bsums + 2 * pair));
    }
    const __m256 d = _mm256_load_ps(g.d);
    for (int t = 0; t < T; ++t)
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(d, _mm256_set1_ps(x[t]->d)), acc[t]);
  }
  for (int t = 0; t < T; ++t) _mm256_storeu_ps(y + t * y_stride, acc[t]);
}

// ---- Q4_0 and Q8_0 (Q8X activations) ------------------------------------------------------------
//
// As for the K-quants, with Q8X activations: per 32-value block, eight VPDPBUSD give the eight
// rows' integer sums, seeded with the block's offset (c·Σa = c·(-nsum), c = 8 for Q4_0's
// nibbles, 128 for Q8_0's bytes flipped to unsigned), and one float multiply-add per token
// applies the eight rows' d times the token's d.

// The 16 nibble bytes of eight rows' blocks as four quads (quad c: byte 4c + l of each row).
HEARTH_INLINE void pack_nibble_quads(const uint8_t* const qs[8], uint8_t (*q)[32]) {
  __m256i in[4], qt[4];
  for (int r = 0; r < 4; ++r)
    in[r] = _mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(qs[r + 4]), reinterpret_cast<const __m128i*>(qs[r]));
  transpose_8x4_epi32(in, qt);
  for (int c = 0; c < 4; ++c) _mm256_storeu_si256(reinterpret_cast<__m256i*>(q[c]), qt[c]);
}

// Eight rows' 32 value bytes as eight quads (quad c: values 4c .. 4c + 3 of each row).
HEARTH_INLINE void pack_byte_quads(const __m256i rows[8], uint8_t (*q)[32]) {
  __m256i qt[8];
  transpose_8x8_epi32(rows, qt);
  for (int c = 0; c < 8; ++c) _mm256_storeu_si256(reinterpret_cast<__m256i*>(q[c]), qt[c]);
}

// s[t] += Σ q·a over one packed 32-value block of eight rows, per row (int32 lane), for T
// tokens whose first and second 16 activation bytes are at lo[t] and hi[t]. Nibbles: the
// block's four quads hold values 4c.. in their low and 16 + 4c.. in their high nibbles;
// otherwise eight byte quads.
template <bool Vnni, bool Nibbles, int T>
HEARTH_INLINE void block_isums(const uint8_t (*q)[32], const int8_t* const lo[T], const int8_t* const hi[T], __m256i s[T]) {
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  for (int c = 0; c < 4; ++c) {
    __m256i w_lo, w_hi;  // values 4c.. (first half of the block) and 16 + 4c.. (second half)
    if constexpr (Nibbles) {
      const __m256i raw = _mm256_load_si256(reinterpret_cast<const __m256i*>(q[c]));
      w_lo = _mm256_and_si256(raw, low4);
      w_hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);
    } else {
      w_lo = _mm256_load_si256(reinterpret_cast<const __m256i*>(q[c]));
      w_hi = _mm256_load_si256(reinterpret_cast<const __m256i*>(q[4 + c]));
    }
    for (int t = 0; t < T; ++t) {
      s[t] = dpbusd<Vnni>(s[t], w_lo, broadcast32(lo[t] + 4 * c));
      s[t] = dpbusd<Vnni>(s[t], w_hi, broadcast32(hi[t] + 4 * c));
    }
  }
}

// One 32-value block of eight rows. Q4_0 keeps its nibbles unsplit (quads 0-3: byte 4c + l of
// each row, low nibble = value 4c + l, high nibble = value 16 + 4c + l); Q8_0 has eight quads
// of bytes flipped to unsigned (value 4c + l + 128).
template <bool Nibbles>
struct PackedBlockx8 {
  float d[8];
  uint8_t q[Nibbles ? 4 : 8][32];  // [quad][row · 4 + l]
};
static_assert(sizeof(PackedBlockx8<true>) == 160 && sizeof(PackedBlockx8<false>) == 288);

void pack_q4_0(int64_t n, const void* wv, size_t w_stride, void* out) {
  const uint8_t* w = static_cast<const uint8_t*>(wv);
  PackedBlockx8<true>* p = static_cast<PackedBlockx8<true>*>(out);
  for (int64_t i = 0; i < n / QK; ++i, ++p) {
    const uint8_t* qs[8];
    for (int r = 0; r < 8; ++r) {
      const BlockQ4_0* b = reinterpret_cast<const BlockQ4_0*>(w + r * w_stride) + i;
      p->d[r] = h2f(b->d);
      qs[r] = b->qs;
    }
    pack_nibble_quads(qs, p->q);
  }
}

[[maybe_unused]] void pack_q8_0(int64_t n, const void* wv, size_t w_stride, void* out) {
  const uint8_t* w = static_cast<const uint8_t*>(wv);
  PackedBlockx8<false>* p = static_cast<PackedBlockx8<false>*>(out);
  const __m256i flip = _mm256_set1_epi8(int8_t(0x80));
  for (int64_t i = 0; i < n / QK; ++i, ++p) {
    __m256i q[8];
    for (int r = 0; r < 8; ++r) {
      const BlockQ8_0* b = reinterpret_cast<const BlockQ8_0*>(w + r * w_stride) + i;
      p->d[r] = h2f(b->d);
      q[r] = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b->qs)), flip);
    }
    pack_byte_quads(q, p->q);
  }
}

// Q5_0 for Q8X activations: its values 0..31 as bytes, the -16 left to the seeds.
[[maybe_unused]] void pack_q5_0_bytes(int64_t n, const void* wv, size_t w_stride, void* out) {
  const uint8_t* w = static_cast<const uint8_t*>(wv);
  PackedBlockx8<false>* p = static_cast<PackedBlockx8<false>*>(out);
  for (int64_t i = 0; i < n / QK; ++i, ++p) {
    __m256i q[8];
    for (int r = 0; r < 8; ++r) {
      const BlockQ5_0* b = reinterpret_cast<const BlockQ5_0*>(w + r * w_stride) + i;
      p->d[r] = h2f(b->d);
      q[r] = unpack_five_bits(b->qs, b->qh);
    }
    pack_byte_quads(q, p->q);
  }
}

template <bool Vnni, bool Nibbles, int OffsetShift, int T>
void blocks_tokens(int64_t n, const PackedBlockx8<Nibbles>* p, const uint8_t* ab, size_t stride, float* y,
                   size_t y_stride) {
  __m256 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / QK; ++i) {
    const PackedBlockx8<Nibbles>& g = p[i];
    const int k = int(i % 4);  // block k of its Q8X group
    const BlockQ8X* x[T];
    const int8_t *lo[T], *hi[T];
    __m256i s[T];
    for (int t = 0; t < T; ++t) {
      x[t] = reinterpret_cast<const BlockQ8X*>(ab + t * stride) + i / 4;
      lo[t] = x[t]->lo + 16 * k;
      hi[t] = x[t]->hi + 16 * k;
      s[t] = _mm256_slli_epi32(broadcast32(x[t]->nsum + 4 * k), OffsetShift);
    }
    block_isums<Vnni, Nibbles, T>(g.q, lo, hi, s);
    const __m256 d = _mm256_load_ps(g.d);
    for (int t = 0; t < T; ++t)
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[t]), _mm256_mul_ps(d, _mm256_set1_ps(x[t]->d[4 * k])), acc[t]);
  }
  for (int t = 0; t < T; ++t) _mm256_storeu_ps(y + t * y_stride, acc[t]);
}

// ---- Q4_1, Q5_0 and Q5_1 (Q8A activations) -------------------------------------------------------
//
// Values x = d·q + c with q unsigned (Q4_1: nibbles 0..15; Q5_0, Q5_1: 0..31) and a per-block
// constant c (Q5_0: -16·d; Q4_1, Q5_1: the min m). Against a Q8A block (da, s = da·Σqa):
// Σ x·a = d·da·Σ q·qa + c·s, so per token the integer sums take one float multiply-add and the
// constants another, for eight rows at a time. (Q4_0 and Q8_0 fold their offsets into the
// integer sums instead, through Q8X's nsum; Q8A has no integer sums.)

// One 32-value block of eight rows: Q4_1 keeps its nibbles unsplit as Q4_0 does; Q5_0 and
// Q5_1 are unpacked to bytes (quad c: values 4c .. 4c + 3).
template <bool Nibbles>
struct PackedAffineBlockx8 {
  float d[8], c[8];
  uint8_t q[Nibbles ? 4 : 8][32];  // [quad][row · 4 + l]
};
static_assert(sizeof(PackedAffineBlockx8<true>) == 192 && sizeof(PackedAffineBlockx8<false>) == 320);

void pack_q4_1(int64_t n, const void* wv, size_t w_stride, void* out) {
  const uint8_t* w = static_cast<const uint8_t*>(wv);
  PackedAffineBlockx8<true>* p = static_cast<PackedAffineBlockx8<true>*>(out);
  for (int64_t i = 0; i < n / QK; ++i, ++p) {
    const uint8_t* qs[8];
    for (int r = 0; r < 8; ++r) {
      const BlockQ4_1* b = reinterpret_cast<const BlockQ4_1*>(w + r * w_stride) + i;
      p->d[r] = h2f(b->d);
      p->c[r] = h2f(b->m);
      qs[r] = b->qs;
    }
    pack_nibble_quads(qs, p->q);
  }
}

// Q5_0 (no min: c = -16·d) and Q5_1.
template <typename Block>
void pack_q5(int64_t n, const void* wv, size_t w_stride, void* out) {
  const uint8_t* w = static_cast<const uint8_t*>(wv);
  PackedAffineBlockx8<false>* p = static_cast<PackedAffineBlockx8<false>*>(out);
  for (int64_t i = 0; i < n / QK; ++i, ++p) {
    __m256i q[8];
    for (int r = 0; r < 8; ++r) {
      const Block* b = reinterpret_cast<const Block*>(w + r * w_stride) + i;
      p->d[r] = h2f(b->d);
      if constexpr (std::is_same_v<Block, BlockQ5_0>) {
        p->c[r] = -16.0f * p->d[r];
      } else {
        p->c[r] = h2f(b->m);
      }
      q[r] = unpack_five_bits(b->qs, b->qh);
    }
    pack_byte_quads(q, p->q);
  }
}

template <bool Vnni, bool Nibbles, int T>
void affine_blocks_tokens(int64_t n, const PackedAffineBlockx8<Nibbles>* p, const uint8_t* ab, size_t stride, float* y,
                          size_t y_stride) {
  __m256 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / QK; ++i) {
    const PackedAffineBlockx8<Nibbles>& g = p[i];
    const BlockQ8A* x[T];
    const int8_t *lo[T], *hi[T];
    __m256i s[T];
    for (int t = 0; t < T; ++t) {
      x[t] = reinterpret_cast<const BlockQ8A*>(ab + t * stride) + i;
      lo[t] = x[t]->qs;
      hi[t] = x[t]->qs + 16;
      s[t] = _mm256_setzero_si256();
    }
    block_isums<Vnni, Nibbles, T>(g.q, lo, hi, s);
    const __m256 d = _mm256_load_ps(g.d), cst = _mm256_load_ps(g.c);
    for (int t = 0; t < T; ++t) {
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[t]), _mm256_mul_ps(d, _mm256_set1_ps(x[t]->d)), acc[t]);
      acc[t] = _mm256_fmadd_ps(cst, _mm256_set1_ps(x[t]->s), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) _mm256_storeu_ps(y + t * y_stride, acc[t]);
}

// ---- PackedDotFn: n_tokens (1 .. kPackRows) tokens, in calls of at most MaxT --------------------

// f(std::integral_constant<int, T>, activations, outputs) for the tokens in groups of at most
// MaxT (8 with AVX-512 VNNI, 4 with 16 registers).
template <bool Vnni, typename F>
HEARTH_INLINE void by_token_groups(const void* a, size_t a_stride, int n_tokens, float* y, size_t y_stride, F&& f) {
#if defined(HEARTH_PACKED_X8_VEX_VNNI)
  constexpr int kMaxT = 4;
#else
  constexpr int kMaxT = Vnni ? 8 : 4;
#endif
  const uint8_t* ab = static_cast<const uint8_t*>(a);
  while (n_tokens > 0) {
    const int t = std::min(n_tokens, kMaxT);
    with_count<kMaxT>(t, [&](auto count) { f(count, ab, y); });
    ab += size_t(t) * a_stride;
    y += size_t(t) * y_stride;
    n_tokens -= t;
  }
}

template <bool Vnni>
void dot_q4_K(int64_t n, const void* packed, const void* a, size_t a_stride, int n_tokens, float* y, size_t y_stride) {
  by_token_groups<Vnni>(a, a_stride, n_tokens, y, y_stride, [&](auto t, const uint8_t* ab, float* yt) {
    k_quant_tokens<Vnni, decltype(t)::value>(n, static_cast<const PackedQ4Kx8*>(packed), ab, a_stride, yt, y_stride);
  });
}

template <bool Vnni>
void dot_q5_K(int64_t n, const void* packed, const void* a, size_t a_stride, int n_tokens, float* y, size_t y_stride) {
  by_token_groups<Vnni>(a, a_stride, n_tokens, y, y_stride, [&](auto t, const uint8_t* ab, float* yt) {
    k_quant_tokens<Vnni, decltype(t)::value>(n, static_cast<const PackedQ5Kx8*>(packed), ab, a_stride, yt, y_stride);
  });
}

template <bool Vnni>
void dot_q6_K(int64_t n, const void* packed, const void* a, size_t a_stride, int n_tokens, float* y, size_t y_stride) {
  by_token_groups<Vnni>(a, a_stride, n_tokens, y, y_stride, [&](auto t, const uint8_t* ab, float* yt) {
    q6_K_tokens<Vnni, decltype(t)::value>(n, static_cast<const PackedQ6Kx8*>(packed), ab, a_stride, yt, y_stride);
  });
}

template <bool Vnni>
void dot_q4_0(int64_t n, const void* packed, const void* a, size_t a_stride, int n_tokens, float* y, size_t y_stride) {
  by_token_groups<Vnni>(a, a_stride, n_tokens, y, y_stride, [&](auto t, const uint8_t* ab, float* yt) {
    blocks_tokens<Vnni, true, 3, decltype(t)::value>(n, static_cast<const PackedBlockx8<true>*>(packed), ab, a_stride,
                                                     yt, y_stride);
  });
}

template <bool Vnni, bool Nibbles>
void dot_affine(int64_t n, const void* packed, const void* a, size_t a_stride, int n_tokens, float* y, size_t y_stride) {
  by_token_groups<Vnni>(a, a_stride, n_tokens, y, y_stride, [&](auto t, const uint8_t* ab, float* yt) {
    affine_blocks_tokens<Vnni, Nibbles, decltype(t)::value>(n, static_cast<const PackedAffineBlockx8<Nibbles>*>(packed),
                                                            ab, a_stride, yt, y_stride);
  });
}

// VNNI only (see the top of this file).
[[maybe_unused]] void dot_q8_0(int64_t n, const void* packed, const void* a, size_t a_stride, int n_tokens, float* y, size_t y_stride) {
  by_token_groups<true>(a, a_stride, n_tokens, y, y_stride, [&](auto t, const uint8_t* ab, float* yt) {
    blocks_tokens<true, false, 7, decltype(t)::value>(n, static_cast<const PackedBlockx8<false>*>(packed), ab, a_stride,
                                                      yt, y_stride);
  });
}

// Q5_0 against Q8X (the VNNI table's format for it): bytes 0..31, offset -16.
[[maybe_unused]] void dot_q5_0_q8x(int64_t n, const void* packed, const void* a, size_t a_stride, int n_tokens, float* y,
                                   size_t y_stride) {
  by_token_groups<true>(a, a_stride, n_tokens, y, y_stride, [&](auto t, const uint8_t* ab, float* yt) {
    blocks_tokens<true, false, 4, decltype(t)::value>(n, static_cast<const PackedBlockx8<false>*>(packed), ab, a_stride,
                                                      yt, y_stride);
  });
}

// The packed kernels of table t: Q4_0 (Q8X activations, which the table must use for Q4_0),
// Q4_1, Q5_0 and Q5_1 (Q8A), Q4_K, Q5_K and Q6_K; with Q8XKernels (the AVX-512 VNNI table,
// whose other Q8_0 and Q5_0 kernels take Q8X), Q8_0 and Q5_0 against Q8X.
template <bool Vnni, bool Q8XKernels = Vnni>
constexpr void add_to_table(KernelTable& t) {
  using gguf::TensorType;
  t.pack_rows[int(TensorType::Q4_0)] = pack_q4_0;
  t.packed_dot[int(TensorType::Q4_0)] = dot_q4_0<Vnni>;
  t.packed_block_bytes[int(TensorType::Q4_0)] = sizeof(PackedBlockx8<true>);
  t.pack_rows[int(TensorType::Q4_1)] = pack_q4_1;
  t.packed_dot[int(TensorType::Q4_1)] = dot_affine<Vnni, true>;
  t.packed_block_bytes[int(TensorType::Q4_1)] = sizeof(PackedAffineBlockx8<true>);
  t.pack_rows[int(TensorType::Q5_0)] = pack_q5<BlockQ5_0>;
  t.packed_dot[int(TensorType::Q5_0)] = dot_affine<Vnni, false>;
  t.packed_block_bytes[int(TensorType::Q5_0)] = sizeof(PackedAffineBlockx8<false>);
  t.pack_rows[int(TensorType::Q5_1)] = pack_q5<BlockQ5_1>;
  t.packed_dot[int(TensorType::Q5_1)] = dot_affine<Vnni, false>;
  t.packed_block_bytes[int(TensorType::Q5_1)] = sizeof(PackedAffineBlockx8<false>);
  t.pack_rows[int(TensorType::Q4_K)] = pack_q4_K;
  t.packed_dot[int(TensorType::Q4_K)] = dot_q4_K<Vnni>;
  t.packed_block_bytes[int(TensorType::Q4_K)] = sizeof(PackedQ4Kx8);
  t.pack_rows[int(TensorType::Q5_K)] = pack_q5_K;
  t.packed_dot[int(TensorType::Q5_K)] = dot_q5_K<Vnni>;
  t.packed_block_bytes[int(TensorType::Q5_K)] = sizeof(PackedQ5Kx8);
  t.pack_rows[int(TensorType::Q6_K)] = pack_q6_K;
  t.packed_dot[int(TensorType::Q6_K)] = dot_q6_K<Vnni>;
  t.packed_block_bytes[int(TensorType::Q6_K)] = sizeof(PackedQ6Kx8);
  if constexpr (Vnni && Q8XKernels) {
    t.pack_rows[int(TensorType::Q5_0)] = pack_q5_0_bytes;
    t.packed_dot[int(TensorType::Q5_0)] = dot_q5_0_q8x;
    t.packed_block_bytes[int(TensorType::Q5_0)] = sizeof(PackedBlockx8<false>);
    t.pack_rows[int(TensorType::Q8_0)] = pack_q8_0;
    t.packed_dot[int(TensorType::Q8_0)] = dot_q8_0;
    t.packed_block_bytes[int(TensorType::Q8_0)] = sizeof(PackedBlockx8<false>);
  }
}

}  // namespace
}  // namespace hearth::kernels::packed_x8
