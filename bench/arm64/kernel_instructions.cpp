// Calls one ARM64 dot-product kernel `reps` times on 4096-value rows, for
// bench/arm64/kernel_instructions.sh, which runs it under qemu-aarch64 with two repetition
// counts and counts the instructions executed in between: a measurement of a kernel's work
// that needs no ARM machine (not of its speed: that depends on the core).
//
// usage: kernel_instructions ISA TYPE SHAPE REPS
//   ISA: generic | neon | neon-dotprod | neon-i8mm;
//   TYPE: Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K Q5_K Q6_K, or F16 BF16 (float activations)
//   SHAPE: one (vec_dot), two (vec_dot2, or two vec_dot), four (vec_dot4, or four vec_dot),
//          2x2 (vec_dot2x2), 4x2 (vec_dot4x2), pack (pack_rows, eight rows), packed
//          (packed_dot: eight packed rows against eight tokens)
//   or TYPE attention with SHAPE scores, sums or exp (see attention())
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gguf/types.h"
#include "kernels/dispatch.h"
#include "kernels/quant.h"

using namespace hearth::kernels;
using hearth::gguf::TensorType;

Isa table_named(const std::string& name) {
  for (Isa isa : {Isa::generic, Isa::neon, Isa::neon_dotprod, Isa::neon_i8mm})
    if (name == isa_name(isa)) return isa;
  std::fprintf(stderr, "unknown table %s\n", name.c_str());
  std::exit(2);
}

// Attention over an fp16 cache of 512 rows for 8 query heads of 64 (TinyLlama's group):
// SHAPE scores (f16_rows_dot_heads), sums (f16_rows_weighted_sum_heads) or exp (exp_sum
// over the 8 × 512 scores). The script divides by 512 rows.
int attention(const std::string& isa, const std::string& shape, int reps) {
  const KernelTable& k = table_for(table_named(isa));
  constexpr int g = 8, d = 64, n = 512;
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<uint16_t> rows(size_t(n) * d);
  std::vector<float> tmp(size_t(n) * d), q(size_t(g) * d), scores(size_t(g) * n), out(size_t(g) * d);
  for (float& v : tmp) v = u(rng);
  for (float& v : q) v = u(rng);
  k.fp32_to_fp16(tmp.data(), rows.data(), int64_t(tmp.size()));
  volatile float sink = 0;
  for (int rep = 0; rep < reps; ++rep) {
    if (shape == "scores") {
      k.f16_rows_dot_heads(rows.data(), d, n, q.data(), g, d, scores.data());
      sink = sink + scores[0];
    } else if (shape == "sums") {
      k.f16_rows_weighted_sum_heads(rows.data(), d, n, scores.data(), g, d, out.data());
      sink = sink + out[0];
    } else if (shape == "exp") {
      for (int h = 0; h < g; ++h) sink = sink + float(k.exp_sum(scores.data() + h * n, n, 0.125f));
    } else {
      std::fprintf(stderr, "unknown attention shape %s\n", shape.c_str());
      return 1;
    }
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s ISA TYPE SHAPE REPS\n", argv[0]);
    return 2;
  }
  const std::string isa = argv[1], type = argv[2], shape = argv[3];
  const int reps = std::atoi(argv[4]);
  if (type == "attention") return attention(isa, shape, reps);
  constexpr int64_t n = 4096;
  const TensorType t = type == "Q4_0"   ? TensorType::Q4_0
                       : type == "Q4_1" ? TensorType::Q4_1
                       : type == "Q5_0" ? TensorType::Q5_0
                       : type == "Q5_1" ? TensorType::Q5_1
                       : type == "Q8_0" ? TensorType::Q8_0
                       : type == "Q4_K" ? TensorType::Q4_K
                       : type == "Q5_K" ? TensorType::Q5_K
                       : type == "F16"  ? TensorType::F16
                       : type == "BF16" ? TensorType::BF16
                                        : TensorType::Q6_K;
  const KernelTable& k = table_for(table_named(isa));
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> x(n * 4);
  for (float& v : x) v = u(rng);
  const size_t row = hearth::gguf::row_bytes(t, n);
  std::vector<uint8_t> w(row * kPackRows);  // eight rows for the packed kernels, two for the rest
  for (int r = 0; r < kPackRows; ++r) quantize_row(t, x.data() + n * (r % 4), w.data() + row * r, n);
  const Act at = k.act[int(t)];
  const size_t stride = act_row_bytes(at, n);
  std::vector<uint8_t> a(stride * kPackRows);
  for (int i = 0; i < kPackRows; ++i) {
    if (at == Act::F32) {
      std::memcpy(a.data() + stride * i, x.data() + n * (i % 4), stride);
    } else {
      quantizer(k, at)(x.data() + n * (i % 4), a.data() + stride * i, n);
    }
  }
  std::vector<uint8_t> packed(k.packed_block_bytes[int(t)] * size_t(n / hearth::gguf::block_size(t)) + 64);
  void* pk = packed.data() + (64 - reinterpret_cast<uintptr_t>(packed.data()) % 64) % 64;
  float y[kPackRows * kPackRows];
  const VecDotFn dot = k.vec_dot[int(t)];
  float out[8] = {};
  volatile float sink = 0;
  for (int rep = 0; rep < reps; ++rep) {
    if (shape == "one") {
      out[0] = dot(n, w.data(), a.data());
    } else if (shape == "two") {
      if (k.vec_dot2[int(t)] != nullptr) {
        k.vec_dot2[int(t)](n, w.data(), w.data() + row, a.data(), out);
      } else {
        for (int r = 0; r < 2; ++r) out[r] = dot(n, w.data() + row * r, a.data());
      }
    } else if (shape == "four") {
      if (k.vec_dot4[int(t)] != nullptr) {
        k.vec_dot4[int(t)](n, w.data(), a.data(), stride, out);
      } else {
        for (int i = 0; i < 4; ++i) out[i] = dot(n, w.data(), a.data() + stride * i);
      }
    } else if (shape == "2x2" && k.vec_dot2x2[int(t)] != nullptr) {
      k.vec_dot2x2[int(t)](n, w.data(), row, a.data(), stride, out);
    } else if (shape == "4x2" && k.vec_dot4x2[int(t)] != nullptr) {
      k.vec_dot4x2[int(t)](n, w.data(), row, a.data(), stride, out);
    } else if (shape == "pack" && k.pack_rows[int(t)] != nullptr) {
      k.pack_rows[int(t)](n, w.data(), row, pk);
      out[0] = float(static_cast<const int8_t*>(pk)[rep % 64]);
    } else if (shape == "packed" && k.packed_dot[int(t)] != nullptr) {
      k.packed_dot[int(t)](n, pk, a.data(), stride, kPackRows, y, kPackRows);
      out[0] = y[rep % 64];
    } else {
      std::fprintf(stderr, "%s has no %s kernel for %s\n", isa.c_str(), shape.c_str(), type.c_str());
      return 1;
    }
    sink = sink + out[0];
  }
  std::printf("%g\n", double(sink));
  return 0;
}
