// Shared helpers for the kernel tests: seeded random rows and random (but valid) blocks.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "gguf/types.h"
#include "kernels/fp16.h"
#include "kernels/quant.h"

namespace hearth::kernels::test {

inline std::vector<float> random_row(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Bytes of `n` values of `type` where every bit pattern is random except the fp16 scale
// fields, which get finite values of moderate size (a random fp16 could be Inf/NaN). This
// exercises every quant value and every scale bit, unlike data from our own quantizers.
inline std::vector<uint8_t> random_blocks(gguf::TensorType type, int64_t n, uint32_t seed) {
  using gguf::TensorType;
  std::mt19937 rng(seed);
  const size_t bytes = gguf::row_bytes(type, uint64_t(n));
  std::vector<uint8_t> out(bytes);
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& b : out) b = uint8_t(byte(rng));
  std::uniform_real_distribution<float> mag(0.002f, 0.05f);
  std::bernoulli_distribution neg(0.5);
  auto scale = [&](bool allow_negative) {
    float v = mag(rng);
    if (allow_negative && neg(rng)) v = -v;
    return fp32_to_fp16(v);
  };
  auto put16 = [&](size_t off, uint16_t v) { std::memcpy(out.data() + off, &v, 2); };
  const size_t bs = gguf::type_size(type);
  const size_t nb = bytes / bs;
  switch (type) {
    case TensorType::F32: {
      std::normal_distribution<float> d(0, 1);
      for (size_t i = 0; i < size_t(n); ++i) {
        const float v = d(rng);
        std::memcpy(out.data() + 4 * i, &v, 4);
      }
      break;
    }
    case TensorType::F16: case TensorType::BF16: {
      std::normal_distribution<float> d(0, 1);
      for (size_t i = 0; i < size_t(n); ++i)
        put16(2 * i, type == TensorType::F16 ? fp32_to_fp16(d(rng)) : fp32_to_bf16(d(rng)));
      break;
    }
    case TensorType::Q4_0: case TensorType::Q5_0: case TensorType::Q8_0:
      for (size_t i = 0; i < nb; ++i) put16(i * bs, scale(true));
      break;
    case TensorType::Q4_1: case TensorType::Q5_1:
      for (size_t i = 0; i < nb; ++i) {
        put16(i * bs, scale(false));
        put16(i * bs + 2, scale(true));
      }
      break;
    case TensorType::Q4_K: case TensorType::Q5_K:
      for (size_t i = 0; i < nb; ++i) {
        put16(i * bs, scale(false));
        put16(i * bs + 2, scale(false));
      }
      break;
    case TensorType::Q6_K:
      for (size_t i = 0; i < nb; ++i) put16(i * bs + 208, scale(true));
      break;
    default:
      break;
  }
  return out;
}

inline double rel_rmse(const std::vector<float>& x, const std::vector<float>& y) {
  double err = 0, sig = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    err += double(x[i] - y[i]) * double(x[i] - y[i]);
    sig += double(x[i]) * double(x[i]);
  }
  return std::sqrt(err / sig);
}

}  // namespace hearth::kernels::test
