// Run-time selection of the kernel implementation. Every instruction set provides one
// KernelTable; the generic table (plain C++) exists on every machine, the others only where
// they were compiled (x86-64: avx2, avx512; ARM64: neon) and are only handed out when the CPU
// has the features they were compiled for. The model code never sees this header: it calls
// matmul() and friends, which use active_table(). Tests use table_for() to run every path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "gguf/types.h"
#include "util/thread_pool.h"

namespace hearth::kernels {

enum class Isa { generic, avx2, avx512, neon };
const char* isa_name(Isa isa);

// Number of TensorType slots in the per-type arrays (type ids are < 40).
constexpr int kTypeSlots = 40;

// The format activations are converted to before a dot with a weight: F32 (used as is) for
// F32/F16/BF16 weights, Q8A (quant.h) for the 32-value formats, Q8_K for the K-quants.
enum class Act { F32, Q8A, Q8_K };
Act activation_format(gguf::TensorType weight);
const char* act_name(Act a);
// Values per block (1, 32, 256) and bytes for n values.
int64_t act_block_size(Act a);
size_t act_row_bytes(Act a, int64_t n);
// Activation row → float (tests and debugging).
void dequantize_activation(Act a, const void* src, float* dst, int64_t n);

// Dot product of one weight row (n values in the weight's block format) with one activation
// row (n values in the weight's activation format).
using VecDotFn = float (*)(int64_t n, const void* w, const void* a);
// The same for four activation rows a, a + a_stride, … (bytes) against the same weight row:
// out[k] = dot(w, a_k). Prompt processing uses it to unpack each weight block once per four
// tokens. May be null for a type; matmul then calls VecDotFn four times.
using VecDot4Fn = void (*)(int64_t n, const void* w, const void* a, size_t a_stride, float* out);
// Float row → activation blocks.
using QuantizeFn = void (*)(const float* x, void* y, int64_t n);
using ToFloatFn = void (*)(const uint16_t* x, float* y, int64_t n);
using FromFloatFn = void (*)(const float* x, uint16_t* y, int64_t n);

struct KernelTable {
  Isa isa = Isa::generic;
  VecDotFn vec_dot[kTypeSlots] = {};    // indexed by weight TensorType
  VecDot4Fn vec_dot4[kTypeSlots] = {};  // optional
  QuantizeFn quantize_q8a = nullptr;    // float row → Q8A
  QuantizeFn quantize_q8_K = nullptr;   // float row → Q8_K
  ToFloatFn fp16_to_fp32 = nullptr;
  FromFloatFn fp32_to_fp16 = nullptr;
  ToFloatFn bf16_to_fp32 = nullptr;
  FromFloatFn fp32_to_bf16 = nullptr;
};

// The quantizer for an activation format (null for F32).
inline QuantizeFn quantizer(const KernelTable& t, Act a) {
  return a == Act::Q8A ? t.quantize_q8a : a == Act::Q8_K ? t.quantize_q8_K : nullptr;
}

// The ISAs this CPU can run, best last (always starts with generic).
std::vector<Isa> available_isas();
// The table for `isa`; throws hearth::Error(unsupported) if this build or CPU lacks it.
const KernelTable& table_for(Isa isa);
// The table matmul() uses: the best available, or HEARTH_ISA=generic|avx2|avx512|neon if set
// (an unknown name, or one this CPU cannot run, throws hearth::Error naming it). Chosen once.
const KernelTable& active_table();

// The table of the best ISA this CPU has, ignoring HEARTH_ISA; never throws. For exact
// conversions (fp16 rows), where every path gives the same bits.
const KernelTable& best_table();

struct Weight;
// matmul() with an explicit table (tests run every ISA through the same driver).
void matmul_with(const KernelTable& table, const Weight& w, const float* x, int64_t n_tokens, float* y,
                 ThreadPool& pool);

// Tables filled in by each ISA's file. Calling one of these executes no ISA instruction
// (they only take function addresses), but the kernels they point at do.
const KernelTable& generic_table();
#if defined(__x86_64__)
const KernelTable& avx2_table();
const KernelTable& avx512_table();
#endif
#if defined(__aarch64__)
const KernelTable& neon_table();
#endif

}  // namespace hearth::kernels
