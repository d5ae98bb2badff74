// GGUF (ggml) quantized block formats, byte for byte as they are stored in files, and the
// reference conversions: dequantize (blocks → float) and quantize (float → blocks).
//
// Every format stores a row as a sequence of independent blocks. The small formats cover 32
// values; the "K-quants" cover a 256-value super-block split into sub-blocks whose scales are
// themselves quantized against a per-super-block fp16 scale. Field names follow ggml's
// (d = scale, m/dmin = min, qs = low bits, qh = high bits), so code and format docs read alike.
// All fp16 fields are stored as raw uint16_t (see fp16.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "gguf/types.h"

namespace hearth::kernels {

constexpr int QK = 32;     // values per block of the 32-wide formats
constexpr int QK_K = 256;  // values per K-quant super-block

// x = d * (q - 8), q in [0, 15]. Value j (j < 16) is the low nibble of qs[j], value j + 16
// the high nibble.
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[QK / 2];
};
// x = d * q + m, q in [0, 15]; nibble order as Q4_0.
struct BlockQ4_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qs[QK / 2];
};
// x = d * (q - 16), q in [0, 31]: low 4 bits as Q4_0, bit 4 of value j is bit j of qh
// (read as a little-endian uint32).
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[QK / 2];
};
// x = d * q + m, q in [0, 31]; bits as Q5_0.
struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[QK / 2];
};
// x = d * q, q in [-127, 127] (int8).
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[QK];
};
// As Q8_0 plus s = d * sum(qs): the activation format for Q4_1/Q5_1 weights, whose min term
// needs the activation block's sum.
struct BlockQ8_1 {
  uint16_t d;
  uint16_t s;
  int8_t qs[QK];
};

// 8 sub-blocks of 32: x = d * sc[j] * q - dmin * m[j], q in [0, 15], sc/m 6-bit.
// scales[12] packs the eight 6-bit (sc, m) pairs: bytes 0-3 hold sc[0..3] in their low 6 bits,
// bytes 4-7 hold m[0..3]; bytes 8-11 hold the low 4 bits of sc[4..7] (low nibble) and m[4..7]
// (high nibble), whose top 2 bits sit in the top 2 bits of bytes 0-3 (sc) and 4-7 (m).
// qs: each 32-byte group holds sub-block 2i in its low nibbles and 2i+1 in its high nibbles.
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qs[QK_K / 2];
};
// As Q4_K with q in [0, 31]: bit 4 of value l of sub-block j is bit j of qh[l] (l < 32).
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[QK_K / 8];
  uint8_t qs[QK_K / 2];
};
// 16 sub-blocks of 16: x = d * scales[j] * (q - 32), q in [0, 63], scales int8. Each half
// (128 values) uses 64 bytes of ql and 32 of qh: value l + 32*k (l < 32, k < 4) has low bits
// in ql[l + 32*(k&1)] (low nibble for k < 2, high nibble otherwise) and high 2 bits in
// bits 2k..2k+1 of qh[l].
struct BlockQ6_K {
  uint8_t ql[QK_K / 2];
  uint8_t qh[QK_K / 4];
  int8_t scales[QK_K / 16];
  uint16_t d;
};
// Activation format for the 32-value weight formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0). Not a
// GGUF type: matmul makes it on the fly and never stores it. Like Q8_1, but d and
// s = d * sum(qs) are floats, so a dot product converts no fp16 on the activation side, and a
// weight's constant offset (Q4_0's -8, Q5_0's -16) or min (Q4_1, Q5_1) costs one multiply per
// block: Σ (dw q + c) · da qa = dw·da·Σ q qa + c·s.
struct BlockQ8A {
  float d;
  float s;
  int8_t qs[QK];
};

// Q8A regrouped for the VNNI kernels (dot_avx512vnni.cpp): four consecutive 32-value blocks
// per group, laid out so that one 512-bit register holds the same half of all four blocks and
// one float register holds their four scales, each repeated over the four int32 lanes that a
// VNNI dot product gives that block. The values and d are exactly Q8A's (it is made from Q8A).
// A row's last group is padded with zero blocks (d = 0, q = 0).
constexpr int QK8X = 4 * QK;  // values per Q8X group
struct BlockQ8X {
  int8_t lo[64];      // lo[16k + j] = q[j] of block k (j < 16)
  int8_t hi[64];      // hi[16k + j] = q[16 + j] of block k
  float d[16];        // d[4k .. 4k+3] = d of block k
  int32_t nsum[16];   // nsum[4k] = -Σ q of block k; the other lanes 0
};

// Activation format for K-quant weights: x = d * q, plus the sums of each 16 q's, which fold
// the weight's min/offset terms into one multiply per sub-block.
struct BlockQ8_K {
  float d;
  int8_t qs[QK_K];
  int16_t bsums[QK_K / 16];
};

static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 &&
              sizeof(BlockQ5_1) == 24 && sizeof(BlockQ8_0) == 34 && sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ8A) == 40);
static_assert(sizeof(BlockQ4_K) == 144 && sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210 &&
              sizeof(BlockQ8_K) == 292);
static_assert(sizeof(BlockQ8X) == 256);

// Unpacks sub-block j's 6-bit scale and min from a Q4_K/Q5_K scales[12] field.
static inline void unpack_scale_min_k4(const uint8_t* scales, int j, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = scales[j] & 63;
    *m = scales[j + 4] & 63;
  } else {
    *sc = uint8_t((scales[j + 4] & 0x0f) | ((scales[j - 4] >> 6) << 4));
    *m = uint8_t((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
  }
}
// The inverse: packs eight 6-bit scales and mins (each < 64) into scales[12].
void pack_scale_min_k4(const uint8_t sc[8], const uint8_t m[8], uint8_t scales[12]);

// Dequantize n values (n a multiple of the type's block size) of a row stored as `type`.
// Supports F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q4_K, Q5_K, Q6_K, Q8_K; throws
// hearth::Error(unsupported) naming the type otherwise.
void dequantize_row(gguf::TensorType type, const void* src, float* dst, int64_t n);

// Quantize n floats into blocks of `type` (n a multiple of the block size). Supported: F32,
// F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q4_K, Q5_K, Q6_K, Q8_K. Weight quantizers
// search for the scales that minimise the squared error (see quant.cpp); this is for files
// and tests, not the hot path.
void quantize_row(gguf::TensorType type, const float* src, void* dst, int64_t n);

bool can_dequantize(gguf::TensorType type);
bool can_quantize(gguf::TensorType type);

// Typed reference conversions (also the generic kernels' building blocks).
void dequantize_row_q4_0(const BlockQ4_0* x, float* y, int64_t n);
void dequantize_row_q4_1(const BlockQ4_1* x, float* y, int64_t n);
void dequantize_row_q5_0(const BlockQ5_0* x, float* y, int64_t n);
void dequantize_row_q5_1(const BlockQ5_1* x, float* y, int64_t n);
void dequantize_row_q8_0(const BlockQ8_0* x, float* y, int64_t n);
void dequantize_row_q8_1(const BlockQ8_1* x, float* y, int64_t n);
void dequantize_row_q4_K(const BlockQ4_K* x, float* y, int64_t n);
void dequantize_row_q5_K(const BlockQ5_K* x, float* y, int64_t n);
void dequantize_row_q6_K(const BlockQ6_K* x, float* y, int64_t n);
void dequantize_row_q8_K(const BlockQ8_K* x, float* y, int64_t n);
void dequantize_row_q8a(const BlockQ8A* x, float* y, int64_t n);
// n values of a Q8X row (n a multiple of 32; the padding is not read).
void dequantize_row_q8x(const BlockQ8X* x, float* y, int64_t n);

void quantize_row_q4_0(const float* x, BlockQ4_0* y, int64_t n);
void quantize_row_q4_1(const float* x, BlockQ4_1* y, int64_t n);
void quantize_row_q5_0(const float* x, BlockQ5_0* y, int64_t n);
void quantize_row_q5_1(const float* x, BlockQ5_1* y, int64_t n);
void quantize_row_q8_0(const float* x, BlockQ8_0* y, int64_t n);
void quantize_row_q8_1(const float* x, BlockQ8_1* y, int64_t n);
void quantize_row_q4_K(const float* x, BlockQ4_K* y, int64_t n);
void quantize_row_q5_K(const float* x, BlockQ5_K* y, int64_t n);
void quantize_row_q6_K(const float* x, BlockQ6_K* y, int64_t n);
void quantize_row_q8_K(const float* x, BlockQ8_K* y, int64_t n);
void quantize_row_q8a(const float* x, BlockQ8A* y, int64_t n);
// Σ over weight blocks [first, nb) of a row against the padded last Q8X group `a` (block b is
// block b % 4 of it), in plain C++: the tail of every Q8X kernel (rows of 32·(4m + r) values).
float q8x_tail_dot(const BlockQ4_0* w, int64_t first, int64_t nb, const BlockQ8X& a);
float q8x_tail_dot(const BlockQ5_0* w, int64_t first, int64_t nb, const BlockQ8X& a);
float q8x_tail_dot(const BlockQ8_0* w, int64_t first, int64_t nb, const BlockQ8X& a);
float q8x_tail_dot(const BlockQ4_1* w, int64_t first, int64_t nb, const BlockQ8X& a);
float q8x_tail_dot(const BlockQ5_1* w, int64_t first, int64_t nb, const BlockQ8X& a);
// Regroups nb (1..4) Q8A blocks into one Q8X group, zero-padding the missing blocks: the
// Q8X quantizers of every table share it, so they agree bit for bit with their Q8A ones.
void q8a_to_q8x(const BlockQ8A* a, int nb, BlockQ8X* y);

}  // namespace hearth::kernels
