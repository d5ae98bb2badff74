// Shared by the emulated-ISA tests: every kernel of table k (vec_dot, and vec_dot2, vec_dot4
// and vec_dot4x2 where present) against the generic one, on rows with odd block counts and scalar tails, with
// activations in the format k asks for. Returns how many (length, token) pairs were checked.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"
#include "test_helpers.h"

namespace hearth::kernels::test {

inline int expect_kernels_match_generic(const KernelTable& k, std::initializer_list<gguf::TensorType> types) {
  const KernelTable& g = generic_table();
  int checked = 0;
  for (gguf::TensorType t : types) {
    SCOPED_TRACE(std::string(gguf::tensor_type_name(t)));
    std::vector<int64_t> lengths = {256, 768, 4096};
    if (gguf::block_size(t) == 32) lengths.insert(lengths.end(), {32, 96, 4096 + 32, 4096 + 96});  // odd block counts
    if (gguf::block_size(t) == 1) lengths.insert(lengths.end(), {1, 17, 1001});                    // scalar tails
    for (int64_t n : lengths) {
      const auto w = random_blocks(t, n, uint32_t(n) + 1);
      const Act at = k.act[int(t)], gat = g.act[int(t)];
      const size_t stride = act_row_bytes(at, n), gstride = act_row_bytes(gat, n);
      std::vector<uint8_t> acts(stride * 4), gacts(gstride * 4);
      for (int tok = 0; tok < 4; ++tok) {
        const auto x = random_row(size_t(n), uint32_t(n) + 2 + uint32_t(tok));
        if (at == Act::F32) {
          std::memcpy(acts.data() + tok * stride, x.data(), stride);
          std::memcpy(gacts.data() + tok * gstride, x.data(), gstride);
        } else {
          quantizer(g, at)(x.data(), acts.data() + tok * stride, n);
          quantizer(g, gat)(x.data(), gacts.data() + tok * gstride, n);
        }
      }
      std::vector<float> wd(static_cast<size_t>(n)), ad(static_cast<size_t>(n));
      dequantize_row(t, w.data(), wd.data(), n);
      float four[4] = {0, 0, 0, 0};
      if (k.vec_dot4[int(t)] != nullptr) k.vec_dot4[int(t)](n, w.data(), acts.data(), stride, four);
      // Two rows, the second one w again: both must give the four-token results.
      std::vector<uint8_t> w2(w);
      w2.insert(w2.end(), w.begin(), w.end());
      float eight[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      if (k.vec_dot4x2[int(t)] != nullptr) k.vec_dot4x2[int(t)](n, w2.data(), w.size(), acts.data(), stride, eight);
      // One token (token 0's row, in the one-token format), two different rows (w and
      // another): each exactly as the one-token single-row kernel gives it, so a kernel that
      // mixes up the rows' scales or values fails; that kernel is checked below.
      const auto x0 = random_row(size_t(n), uint32_t(n) + 2);  // token 0's row, as above
      const Act a1 = one_token_act(k, t);
      std::vector<uint8_t> one(act_row_bytes(a1, n));
      if (a1 == Act::F32) {
        std::memcpy(one.data(), x0.data(), one.size());
      } else {
        quantizer(g, a1)(x0.data(), one.data(), n);
      }
      const VecDotFn dot1 = one_token_dot(k, t);
      if (k.vec_dot2[int(t)] != nullptr) {
        const auto w_other = random_blocks(t, n, uint32_t(n) + 101);
        float two[2] = {0, 0};
        k.vec_dot2[int(t)](n, w.data(), w_other.data(), one.data(), two);
        EXPECT_EQ(two[0], dot1(n, w.data(), one.data())) << "two-row one-token kernel, row 0, n=" << n;
        EXPECT_EQ(two[1], dot1(n, w_other.data(), one.data())) << "two-row one-token kernel, row 1, n=" << n;
      }
      float two_by_two[4] = {0, 0, 0, 0};
      if (k.vec_dot2x2[int(t)] != nullptr) k.vec_dot2x2[int(t)](n, w2.data(), w.size(), acts.data(), stride, two_by_two);
      for (int tok = 0; tok < 4; ++tok) {
        const uint8_t* a = acts.data() + tok * stride;
        dequantize_activation(at, a, ad.data(), n);
        double scale = 0;
        for (int64_t i = 0; i < n; ++i) scale += std::fabs(double(wd[size_t(i)]) * ad[size_t(i)]);
        const double tol = 2e-5 * scale + 1e-6;
        const float want = g.vec_dot[int(t)](n, w.data(), gacts.data() + tok * gstride);
        EXPECT_NEAR(k.vec_dot[int(t)](n, w.data(), a), want, tol) << "n=" << n << " token " << tok;
        if (tok == 0) {
          EXPECT_NEAR(dot1(n, w.data(), one.data()), want, tol) << "one-token kernel, n=" << n;
        }
        if (k.vec_dot4[int(t)] != nullptr) {
          EXPECT_NEAR(four[tok], want, tol) << "4-token kernel, n=" << n;
        }
        if (k.vec_dot4x2[int(t)] != nullptr) {
          EXPECT_NEAR(eight[tok], want, tol) << "2-row kernel, row 0, n=" << n;
          EXPECT_NEAR(eight[4 + tok], want, tol) << "2-row kernel, row 1, n=" << n;
        }
        if (k.vec_dot2x2[int(t)] != nullptr && tok < 2) {
          EXPECT_NEAR(two_by_two[tok], want, tol) << "2-row 2-token kernel, row 0, n=" << n;
          EXPECT_NEAR(two_by_two[2 + tok], want, tol) << "2-row 2-token kernel, row 1, n=" << n;
        }
        ++checked;
      }
    }
  }
  return checked;
}

// The packed kernel of table k (where it has one for a type) against the generic vec_dot:
// kPackRows different rows packed together, times 1 .. kPackRows tokens, written kPackRows + 3
// floats apart so that a write outside a token's kPackRows outputs shows; rows of 3 lengths,
// 5 for the 32-value formats (two with block counts that are not a multiple of four). Returns
// how many outputs were checked: 36 · kPackRows per length (Σ of 1 .. 8 tokens × 8 rows).
inline int expect_packed_kernels_match_generic(const KernelTable& k, std::initializer_list<gguf::TensorType> types) {
  const KernelTable& g = generic_table();
  int checked = 0;
  for (gguf::TensorType t : types) {
    if (k.packed_dot[int(t)] == nullptr) continue;
    SCOPED_TRACE(std::string(gguf::tensor_type_name(t)));
    std::vector<int64_t> lengths = {256, 768, 4096};
    if (gguf::block_size(t) == 32) lengths.insert(lengths.end(), {96, 4096 + 32});  // odd block counts
    for (int64_t n : lengths) {
      const auto w = random_blocks(t, n * kPackRows, uint32_t(n) + 5);
      const size_t rb = w.size() / kPackRows;
      std::vector<uint8_t> packed(k.packed_block_bytes[int(t)] * size_t(n / gguf::block_size(t)) + 64);
      void* p = packed.data() + (64 - reinterpret_cast<uintptr_t>(packed.data()) % 64) % 64;
      k.pack_rows[int(t)](n, w.data(), rb, p);
      const Act at = k.act[int(t)], gat = g.act[int(t)];
      const size_t stride = act_row_bytes(at, n), gstride = act_row_bytes(gat, n);
      std::vector<uint8_t> acts(stride * kPackRows), gacts(gstride * kPackRows);
      for (int tok = 0; tok < kPackRows; ++tok) {
        const auto x = random_row(size_t(n), uint32_t(n) + 40 + uint32_t(tok));
        quantizer(g, at)(x.data(), acts.data() + tok * stride, n);
        quantizer(g, gat)(x.data(), gacts.data() + tok * gstride, n);
      }
      std::vector<float> wd(static_cast<size_t>(n)), ad(static_cast<size_t>(n));
      constexpr size_t y_stride = kPackRows + 3;
      for (int n_tokens = 1; n_tokens <= kPackRows; ++n_tokens) {
        std::vector<float> y(y_stride * kPackRows, NAN);
        k.packed_dot[int(t)](n, p, acts.data(), stride, n_tokens, y.data(), y_stride);
        for (int tok = 0; tok < kPackRows; ++tok)
          for (size_t r = 0; r < y_stride; ++r) {
            const float got = y[tok * y_stride + r];
            if (tok >= n_tokens || r >= size_t(kPackRows)) {
              EXPECT_TRUE(std::isnan(got)) << "written outside the outputs: token " << tok << " row " << r;
              continue;
            }
            const uint8_t* wr = w.data() + r * rb;
            dequantize_row(t, wr, wd.data(), n);
            dequantize_activation(at, acts.data() + tok * stride, ad.data(), n);
            double scale = 0;
            for (int64_t i = 0; i < n; ++i) scale += std::fabs(double(wd[size_t(i)]) * ad[size_t(i)]);
            const float want = g.vec_dot[int(t)](n, wr, gacts.data() + tok * gstride);
            EXPECT_NEAR(got, want, 2e-5 * scale + 1e-6)
                << "n=" << n << ", " << n_tokens << " tokens: token " << tok << " row " << r;
            ++checked;
          }
      }
    }
  }
  return checked;
}

// matmul through table k against the generic table, several tokens (token blocking and the
// four- and two-token kernels: 11 = 4 + 4 + 2 + 1).
inline void expect_matmul_matches_generic(const KernelTable& k, std::initializer_list<gguf::TensorType> types) {
  ThreadPool pool(2);
  const int64_t rows = 24, cols = 1536, n_tokens = 11;
  const auto x = random_row(size_t(cols * n_tokens), 3);
  for (gguf::TensorType t : types) {
    SCOPED_TRACE(std::string(gguf::tensor_type_name(t)));
    const auto data = random_blocks(t, rows * cols, 17);
    const Weight w{t, data.data(), rows, cols};
    std::vector<float> want(size_t(rows * n_tokens)), got(want.size());
    matmul_with(generic_table(), w, x.data(), n_tokens, want.data(), pool);
    matmul_with(k, w, x.data(), n_tokens, got.data(), pool);
    for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-3 * (std::fabs(want[i]) + 1)) << i;
  }
}

}  // namespace hearth::kernels::test
