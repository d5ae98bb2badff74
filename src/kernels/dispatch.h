// Run-time selection of the kernel implementation. Every instruction set provides one
// KernelTable; the generic table (plain C++) exists on every machine, the others only where
// they were compiled (x86-64: avx2, avxvnni, avx512, avx512vnni; ARM64: neon, neon-dotprod,
// neon-i8mm)
// and are only handed out when the CPU
// has the features they were compiled for. The model code never sees this header: it calls
// matmul() and friends, which use active_table(). Tests use table_for() to run every path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "gguf/types.h"
#include "kernels/quant.h"
#include "util/thread_pool.h"

namespace hearth::kernels {

enum class Isa { generic, avx2, avxvnni, avx512, avx512vnni, neon, neon_dotprod, neon_i8mm };
const char* isa_name(Isa isa);

// Number of TensorType slots in the per-type arrays (type ids are < 40).
constexpr int kTypeSlots = 40;

// The format activations are converted to before a dot with a weight: F32 (used as is) for
// F32/F16/BF16 weights, Q8A (quant.h) for the 32-value formats, Q8_K for the K-quants. A
// table may ask for another format for a type (Q8X: Q8A regrouped for the VNNI kernels); the
// quantized values are the same in every format, only their layout differs.
enum class Act { F32, Q8A, Q8_K, Q8X };
// The default (reference) format for a weight type; KernelTable::act says what a table uses.
constexpr Act activation_format(gguf::TensorType weight) {
  using gguf::TensorType;
  switch (weight) {
    case TensorType::Q4_0: case TensorType::Q4_1: case TensorType::Q5_0: case TensorType::Q5_1:
    case TensorType::Q8_0:
      return Act::Q8A;
    case TensorType::Q4_K: case TensorType::Q5_K: case TensorType::Q6_K:
      return Act::Q8_K;
    default:
      return Act::F32;
  }
}
const char* act_name(Act a);
// Values per block (1, 32, 256, 32) and bytes for n values (Q8X pads n up to 128).
int64_t act_block_size(Act a);
size_t act_row_bytes(Act a, int64_t n);
// Activation row → float (tests and debugging).
void dequantize_activation(Act a, const void* src, float* dst, int64_t n);

// Dot product of one weight row (n values in the weight's block format) with one activation
// row (n values in the weight's activation format).
using VecDotFn = float (*)(int64_t n, const void* w, const void* a);
// Two weight rows w0 and w1 (anywhere) against one activation row: out[r] = vec_dot(n, w_r,
// a), to the bit. A decode step calls it for each pair of rows it computes; a kernel can
// share between the rows what does not depend on the weights (activation loads, the final
// horizontal sums) and convert both rows' scales at once (Zen 4, weights in L2, 2048-value
// rows, TSC cycles per 128 values and row: VNNI Q4_0 6.7 -> 5.7, Q8_0 7.8 -> 6.4, Q4_K
// 6.6 -> 6.3; AVX2 Q4_0 8.0 -> 7.05). Optional; matmul calls VecDotFn twice without it.
using VecDot2Fn = void (*)(int64_t n, const void* w0, const void* w1, const void* a, float* out);
// The same for four activation rows a, a + a_stride, … (bytes) against the same weight row:
// out[k] = dot(w, a_k). Prompt processing uses it to unpack each weight block once per four
// tokens. May be null for a type; matmul then calls VecDotFn four times.
using VecDot4Fn = void (*)(int64_t n, const void* w, const void* a, size_t a_stride, float* out);
// Two weight rows w and w + w_stride (bytes) against four activation rows:
// out[4 * r + k] = dot(w_r, a_k). Each activation block is loaded once for both rows, which
// halves the activation traffic from L2 when many tokens share the weights. Optional.
using VecDot4x2Fn = void (*)(int64_t n, const void* w, size_t w_stride, const void* a, size_t a_stride, float* out);
// The same for two activation rows: out[2 * r + k] = dot(w_r, a_k). A decode step of two or
// three sequences uses it, where the one-token kernel would read every weight row twice. Optional.
using VecDot2x2Fn = VecDot4x2Fn;
// Prompt processing with weights packed per tile: PackRowsFn copies kPackRows weight rows
// (w, w + w_stride, ...; n values each) into a scratch layout of the table's choosing,
// packed_block_bytes per weight block, and PackedDotFn multiplies that packed group with
// n_tokens (1..kPackRows) activation rows a, a + a_stride, ...:
// y[t * y_stride + r] = dot(w_r, a_t). The packing is not a second copy of the model: one
// group of rows at a time goes into a per-thread buffer (tens of KiB), is used for every token
// of a token block, and is overwritten by the next group, as a BLAS packs its panels. It pays
// where the packed layout lets one instruction serve several rows: Q4_K's VNNI kernel puts
// eight rows in the lanes of one register, so its float scaling is done once per eight rows.
constexpr int kPackRows = 8;
using PackRowsFn = void (*)(int64_t n, const void* w, size_t w_stride, void* packed);
using PackedDotFn = void (*)(int64_t n, const void* packed, const void* a, size_t a_stride, int n_tokens, float* y,
                             size_t y_stride);
// Attention over an fp16 KV cache, n cache rows of d values, `stride` elements apart:
// scores[t] = Σ_i row_t[i]·q[i], and out[i] = Σ_t w[t]·row_t[i] (out overwritten). One call
// per head keeps the query or the output in registers across all rows.
using F16RowsDotFn = void (*)(const uint16_t* rows, size_t stride, int64_t n, const float* q, int64_t d,
                              float* scores);
using F16RowsSumFn = void (*)(const uint16_t* rows, size_t stride, int64_t n, const float* w, int64_t d, float* out);
// g query heads at once against the same rows (grouped-query attention): q is [g][d],
// scores[h·n + t] = Σ_i row_t[i]·q[h·d + i]. Each row is converted from fp16 once for all g.
using F16RowsDotHeadsFn = void (*)(const uint16_t* rows, size_t stride, int64_t n, const float* q, int g, int64_t d,
                                   float* scores);
// And the weighted sums for g heads: out[h·d + i] = Σ_t w[h·n + t]·row_t[i] (out overwritten).
using F16RowsSumHeadsFn = void (*)(const uint16_t* rows, size_t stride, int64_t n, const float* w, int g, int64_t d,
                                   float* out);
// x ← softmax(x) over n values (attention scores; -inf entries become 0).
using SoftmaxFn = void (*)(float* x, int64_t n);
// softmax(scale·x) without its division: x ← exp(scale·(x - max x)), returning Σ x (in double;
// 0 when every x is -inf, which become 0). scale > 0. Attention divides its weighted sum (d
// values) by that instead of dividing the n weights, and folds the 1/√d of the scores in here.
using ExpSumFn = double (*)(float* x, int64_t n, float scale);
// out[i] = silu(gate[i]) · up[i] (the SwiGLU feed-forward); out may alias gate or up.
using SwigluFn = void (*)(const float* gate, const float* up, int64_t n, float* out);
// Float row → activation blocks.
using QuantizeFn = void (*)(const float* x, void* y, int64_t n);
using ToFloatFn = void (*)(const uint16_t* x, float* y, int64_t n);
using FromFloatFn = void (*)(const float* x, uint16_t* y, int64_t n);

struct KernelTable {
  Isa isa = Isa::generic;
  VecDotFn vec_dot[kTypeSlots] = {};    // indexed by weight TensorType
  VecDot2Fn vec_dot2[kTypeSlots] = {};  // optional; one token, against one_token_act's format
  VecDot4Fn vec_dot4[kTypeSlots] = {};  // optional
  VecDot4x2Fn vec_dot4x2[kTypeSlots] = {};  // optional; used before vec_dot4 where present
  VecDot2x2Fn vec_dot2x2[kTypeSlots] = {};  // optional; for the last two or three tokens
  PackRowsFn pack_rows[kTypeSlots] = {};    // optional, with packed_dot and packed_block_bytes
  PackedDotFn packed_dot[kTypeSlots] = {};
  size_t packed_block_bytes[kTypeSlots] = {};  // packed bytes per weight block of kPackRows rows
  Act act[kTypeSlots] = {};             // activation format vec_dot[t] expects (default_activations)
  // Optional: a type's one-token products against another format than its other kernels, where
  // the format that suits one token would cost the rest more (VNNI Q4_1 and Q5_1: Q8X, whose
  // rows are fatter than Q8A's, made prompts 17 % slower). Where vec_dot_one_token[t] is set,
  // one-token matmuls convert to act_one_token[t] and use it for a row without a partner, and
  // vec_dot2[t] takes that format (one_token_act, one_token_dot).
  Act act_one_token[kTypeSlots] = {};
  VecDotFn vec_dot_one_token[kTypeSlots] = {};
  QuantizeFn quantize_q8a = nullptr;    // float row → Q8A
  QuantizeFn quantize_q8_K = nullptr;   // float row → Q8_K
  QuantizeFn quantize_q8x = nullptr;    // float row → Q8X
  F16RowsDotFn f16_rows_dot = nullptr;
  F16RowsSumFn f16_rows_weighted_sum = nullptr;
  F16RowsDotHeadsFn f16_rows_dot_heads = nullptr;
  F16RowsSumHeadsFn f16_rows_weighted_sum_heads = nullptr;
  SoftmaxFn softmax = nullptr;
  ExpSumFn exp_sum = nullptr;
  SwigluFn swiglu = nullptr;
  ToFloatFn fp16_to_fp32 = nullptr;
  FromFloatFn fp32_to_fp16 = nullptr;
  ToFloatFn bf16_to_fp32 = nullptr;
  FromFloatFn fp32_to_bf16 = nullptr;
};

// The quantizer for an activation format (null for F32).
inline QuantizeFn quantizer(const KernelTable& t, Act a) {
  switch (a) {
    case Act::Q8A: return t.quantize_q8a;
    case Act::Q8_K: return t.quantize_q8_K;
    case Act::Q8X: return t.quantize_q8x;
    case Act::F32: break;
  }
  return nullptr;
}

// The activation format and the one-row kernel of type's one-token products (see
// vec_dot_one_token).
inline Act one_token_act(const KernelTable& t, gguf::TensorType type) {
  return t.vec_dot_one_token[int(type)] != nullptr ? t.act_one_token[int(type)] : t.act[int(type)];
}
inline VecDotFn one_token_dot(const KernelTable& t, gguf::TensorType type) {
  return t.vec_dot_one_token[int(type)] != nullptr ? t.vec_dot_one_token[int(type)] : t.vec_dot[int(type)];
}

// Q8X made with a table's own Q8A quantizer, so a table's two formats hold the same values.
// n a multiple of 32; writes ceil(n / 128) groups, the last one zero-padded.
template <QuantizeFn QuantizeQ8A>
void quantize_q8x_via(const float* x, void* yv, int64_t n) {
  BlockQ8X* y = static_cast<BlockQ8X*>(yv);
  BlockQ8A a[4];
  for (int64_t i = 0; i < n; i += QK8X, ++y) {
    const int nb = int((n - i < QK8X ? n - i : QK8X) / QK);
    QuantizeQ8A(x + i, a, int64_t(nb) * QK);
    q8a_to_q8x(a, nb, y);
  }
}

// Fills t.act with activation_format() for every type (each table starts from this).
constexpr void default_activations(KernelTable& t) {
  for (int i = 0; i < kTypeSlots; ++i) t.act[i] = activation_format(gguf::TensorType(i));
}

// The ISAs this CPU can run, best last (always starts with generic).
std::vector<Isa> available_isas();
// The table for `isa`; throws hearth::Error(unsupported) if this build or CPU lacks it.
const KernelTable& table_for(Isa isa);
// The table matmul() uses: the best available, or HEARTH_ISA=generic|avx2|avxvnni|avx512|
// avx512vnni|neon|neon-dotprod|neon-i8mm if set
// (an unknown name, or one this CPU cannot run, throws hearth::Error naming it). Chosen once.
const KernelTable& active_table();

// The table of the best ISA this CPU has, ignoring HEARTH_ISA; never throws. For exact
// conversions (fp16 rows), where every path gives the same bits.
const KernelTable& best_table();

struct Weight;
// matmul() with an explicit table (tests run every ISA through the same driver).
void matmul_with(const KernelTable& table, const Weight& w, const float* x, int64_t n_tokens, float* y,
                 ThreadPool& pool);
struct MatmulOut;
// matmul_group() with an explicit table.
void matmul_group_with(const KernelTable& table, std::span<const MatmulOut> outs, const float* x, int64_t n_tokens,
                       ThreadPool& pool);

// Tables filled in by each ISA's file. Calling one of these executes no ISA instruction
// (they only take function addresses), but the kernels they point at do.
const KernelTable& generic_table();
#if defined(__x86_64__)
const KernelTable& avx2_table();
const KernelTable& avxvnni_table();
const KernelTable& avx512_table();
const KernelTable& avx512vnni_table();
// The AVX-512 VNNI table for a CPU whose 512-bit instructions run at full width (Intel) or as
// two 256-bit halves (Zen 4): their one-token kernels differ where that decides which is
// faster, and give the same floats. avx512vnni_table() is the one for this CPU
// (CpuFeatures::zmm_full_width); tests run both.
const KernelTable& avx512vnni_table(bool zmm_full_width);
#endif
#if defined(__aarch64__)
const KernelTable& neon_table();
const KernelTable& neon_dotprod_table();
const KernelTable& neon_i8mm_table();
#endif

}  // namespace hearth::kernels
