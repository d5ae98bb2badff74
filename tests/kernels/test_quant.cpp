// Block formats: hand-built blocks decode to the exact floats their documented layout says,
// quantizers round-trip within error bounds (and beat a plain min/max baseline), and bad
// requests give errors that name the problem.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/fp16.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"
#include "test_helpers.h"
#include "util/error.h"

namespace hearth::kernels {
namespace {

using gguf::TensorType;

TEST(QuantLayout, Q4_0HandBuilt) {
  BlockQ4_0 b;
  b.d = fp32_to_fp16(0.5f);
  // Value j < 16 is the low nibble of qs[j], value j + 16 the high nibble.
  for (int j = 0; j < 16; ++j) b.qs[j] = uint8_t(j | ((15 - j) << 4));
  float y[32];
  dequantize_row_q4_0(&b, y, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 0.5f * float(j - 8)) << j;
    EXPECT_EQ(y[j + 16], 0.5f * float(15 - j - 8)) << j;
  }
}

TEST(QuantLayout, Q4_1HandBuilt) {
  BlockQ4_1 b;
  b.d = fp32_to_fp16(0.25f);
  b.m = fp32_to_fp16(-1.5f);
  for (int j = 0; j < 16; ++j) b.qs[j] = uint8_t(((j * 3) & 15) | (j << 4));
  float y[32];
  dequantize_row_q4_1(&b, y, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 0.25f * float((j * 3) & 15) - 1.5f);
    EXPECT_EQ(y[j + 16], 0.25f * float(j) - 1.5f);
  }
}

TEST(QuantLayout, Q5_0AndQ5_1HighBits) {
  // High bit of value k is bit k of the little-endian uint32 qh.
  const uint32_t qh = 0xA5C3'0F01u;
  BlockQ5_0 b0;
  BlockQ5_1 b1;
  b0.d = b1.d = fp32_to_fp16(2.0f);
  b1.m = fp32_to_fp16(0.5f);
  const uint8_t qh_bytes[4] = {0x01, 0x0F, 0xC3, 0xA5};
  std::memcpy(b0.qh, qh_bytes, 4);
  std::memcpy(b1.qh, qh_bytes, 4);
  for (int j = 0; j < 16; ++j) b0.qs[j] = b1.qs[j] = uint8_t((j & 15) | (((j + 5) & 15) << 4));
  float y0[32], y1[32];
  dequantize_row_q5_0(&b0, y0, 32);
  dequantize_row_q5_1(&b1, y1, 32);
  for (int k = 0; k < 32; ++k) {
    const int low = k < 16 ? (k & 15) : ((k - 16 + 5) & 15);
    const int q = low | int(((qh >> k) & 1) << 4);
    EXPECT_EQ(y0[k], 2.0f * float(q - 16)) << k;
    EXPECT_EQ(y1[k], 2.0f * float(q) + 0.5f) << k;
  }
}

TEST(QuantLayout, Q8_0HandBuilt) {
  BlockQ8_0 b;
  b.d = fp32_to_fp16(0.125f);
  for (int j = 0; j < 32; ++j) b.qs[j] = int8_t(j * 8 - 128);
  float y[32];
  dequantize_row_q8_0(&b, y, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], 0.125f * float(j * 8 - 128));
}

// Q4_K sub-block scales and mins for the hand-built blocks, and their 12-byte packing worked
// out by hand from the documented layout (see quant.h):
//   bytes 0-3:  sc[j] | (sc[j+4] >> 4) << 6      → 0x41 0x82 0xC3 0x3F
//   bytes 4-7:  m[j]  | (m[j+4]  >> 4) << 6      → 0x80 0x41 0xBE 0xC7
//   bytes 8-11: (sc[j+4] & 15) | (m[j+4] & 15) << 4 → 0x81 0x01 0x00 0xF5
constexpr uint8_t kSc[8] = {1, 2, 3, 63, 17, 33, 48, 5};
constexpr uint8_t kM[8] = {0, 1, 62, 7, 40, 16, 32, 63};
constexpr uint8_t kScales[12] = {0x41, 0x82, 0xC3, 0x3F, 0x80, 0x41, 0xBE, 0xC7, 0x81, 0x01, 0x00, 0xF5};

TEST(QuantLayout, K4ScalePacking) {
  uint8_t packed[12];
  pack_scale_min_k4(kSc, kM, packed);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(packed[i], kScales[i]) << "byte " << i;
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    unpack_scale_min_k4(kScales, j, &sc, &m);
    EXPECT_EQ(sc, kSc[j]) << j;
    EXPECT_EQ(m, kM[j]) << j;
  }
}

TEST(QuantLayout, Q4_KHandBuilt) {
  BlockQ4_K b;
  b.d = fp32_to_fp16(0.5f);
  b.dmin = fp32_to_fp16(0.25f);
  std::memcpy(b.scales, kScales, 12);
  // Sub-block j, value l has level (l + 3j) % 16; sub-blocks 2i and 2i+1 share the 32 bytes
  // qs[32i..32i+31], low and high nibble.
  auto level = [](int j, int l) { return (l + 3 * j) % 16; };
  for (int i = 0; i < 4; ++i)
    for (int l = 0; l < 32; ++l) b.qs[32 * i + l] = uint8_t(level(2 * i, l) | (level(2 * i + 1, l) << 4));
  float y[256];
  dequantize_row_q4_K(&b, y, 256);
  for (int j = 0; j < 8; ++j)
    for (int l = 0; l < 32; ++l)
      ASSERT_EQ(y[32 * j + l], 0.5f * float(kSc[j]) * float(level(j, l)) - 0.25f * float(kM[j]))
          << "sub-block " << j << " value " << l;
}

TEST(QuantLayout, Q5_KHandBuilt) {
  BlockQ5_K b;
  b.d = fp32_to_fp16(0.5f);
  b.dmin = fp32_to_fp16(1.0f);
  std::memcpy(b.scales, kScales, 12);
  auto level = [](int j, int l) { return (7 * l + 5 * j) % 32; };  // 0..31
  std::memset(b.qh, 0, 32);
  for (int i = 0; i < 4; ++i) {
    for (int l = 0; l < 32; ++l) {
      const int lo = level(2 * i, l), hi = level(2 * i + 1, l);
      b.qs[32 * i + l] = uint8_t((lo & 15) | ((hi & 15) << 4));
      // Bit 4 of sub-block j's value l is bit j of qh[l].
      b.qh[l] |= uint8_t(((lo >> 4) << (2 * i)) | ((hi >> 4) << (2 * i + 1)));
    }
  }
  float y[256];
  dequantize_row_q5_K(&b, y, 256);
  for (int j = 0; j < 8; ++j)
    for (int l = 0; l < 32; ++l)
      ASSERT_EQ(y[32 * j + l], 0.5f * float(kSc[j]) * float(level(j, l)) - float(kM[j]))
          << "sub-block " << j << " value " << l;
}

TEST(QuantLayout, Q6_KHandBuilt) {
  BlockQ6_K b;
  b.d = fp32_to_fp16(0.125f);
  const int8_t sc[16] = {-128, 127, -1, 1, 5, -7, 64, -64, 3, 0, 100, -100, 12, 13, -14, 15};
  std::memcpy(b.scales, sc, 16);
  auto level = [](int v) { return (v * 37 + 11) % 64; };  // 0..63 for value v in 0..255
  // Per 128-value half: value l + 32k (k = 0..3) has its low 4 bits in ql[l + 32(k & 1)]
  // (low nibble for k < 2, high nibble for k >= 2) and its top 2 bits in qh[l] bits 2k, 2k+1.
  std::memset(b.ql, 0, sizeof b.ql);
  std::memset(b.qh, 0, sizeof b.qh);
  for (int half = 0; half < 2; ++half) {
    for (int k = 0; k < 4; ++k) {
      for (int l = 0; l < 32; ++l) {
        const int q = level(128 * half + 32 * k + l);
        b.ql[64 * half + l + 32 * (k & 1)] |= uint8_t((q & 15) << (k < 2 ? 0 : 4));
        b.qh[32 * half + l] |= uint8_t((q >> 4) << (2 * k));
      }
    }
  }
  float y[256];
  dequantize_row_q6_K(&b, y, 256);
  for (int v = 0; v < 256; ++v)
    ASSERT_EQ(y[v], 0.125f * float(sc[v / 16]) * float(level(v) - 32)) << "value " << v;
}

TEST(QuantLayout, DequantizeByTypeAndWeightRow) {
  // dequantize_row(type, …) and the Weight/row form pick the same decoder and row offset.
  const int64_t cols = 512, rows = 3;
  for (TensorType t : {TensorType::F32, TensorType::F16, TensorType::BF16, TensorType::Q4_0, TensorType::Q4_1,
                       TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0, TensorType::Q4_K, TensorType::Q5_K,
                       TensorType::Q6_K}) {
    SCOPED_TRACE(std::string(gguf::tensor_type_name(t)));
    const auto data = test::random_blocks(t, cols * rows, 5);
    const Weight w{t, data.data(), rows, cols};
    std::vector<float> a(cols), b(cols);
    kernels::dequantize_row(w, 2, a.data());
    kernels::dequantize_row(t, data.data() + 2 * gguf::row_bytes(t, cols), b.data(), cols);
    EXPECT_EQ(a, b);
    for (float v : a) EXPECT_TRUE(std::isfinite(v));
  }
}

// ---- quantize → dequantize ------------------------------------------------------------------

std::vector<float> round_trip(TensorType t, const std::vector<float>& x) {
  std::vector<uint8_t> q(gguf::row_bytes(t, x.size()));
  quantize_row(t, x.data(), q.data(), int64_t(x.size()));
  std::vector<float> y(x.size());
  dequantize_row(t, q.data(), y.data(), int64_t(x.size()));
  return y;
}

// A plain baseline without any search: Q4_0 as d = max / -8 (the value of largest magnitude
// maps to -8); Q4_K/Q5_K as per-sub-block scale (max-min)/nmax, min -min, with the 6-bit
// scale and min quantization; Q6_K as per-16 d = max / -32 with int8 scales. Returns the
// reconstruction.
std::vector<float> baseline(TensorType t, const std::vector<float>& x) {
  std::vector<float> y(x.size());
  auto rnd = [](float v) { return float(std::nearbyint(v)); };
  auto clampf = [](float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); };
  if (t == TensorType::Q4_0) {
    for (size_t b = 0; b < x.size(); b += 32) {
      float amax = 0, max = 0;
      for (int i = 0; i < 32; ++i)
        if (std::fabs(x[b + i]) > amax) amax = std::fabs(x[b + i]), max = x[b + i];
      const float d = fp16_to_fp32(fp32_to_fp16(max / -8.0f));
      for (int i = 0; i < 32; ++i) y[b + i] = d == 0 ? 0 : d * clampf(rnd(x[b + i] / d), -8, 7);
    }
  } else if (t == TensorType::Q4_K || t == TensorType::Q5_K) {
    const float nmax = t == TensorType::Q4_K ? 15 : 31;
    for (size_t b = 0; b < x.size(); b += 256) {
      float s[8], m[8], smax = 0, mmax = 0;
      for (int j = 0; j < 8; ++j) {
        float lo = 0, hi = x[b + 32 * j];
        for (int l = 0; l < 32; ++l) lo = std::fmin(lo, x[b + 32 * j + l]), hi = std::fmax(hi, x[b + 32 * j + l]);
        s[j] = (hi - lo) / nmax;
        m[j] = -lo;
        smax = std::fmax(smax, s[j]);
        mmax = std::fmax(mmax, m[j]);
      }
      const float d = fp16_to_fp32(fp32_to_fp16(smax / 63)), dm = fp16_to_fp32(fp32_to_fp16(mmax / 63));
      for (int j = 0; j < 8; ++j) {
        const float ds = d * (d > 0 ? clampf(rnd(s[j] / d), 0, 63) : 0);
        const float mm = dm * (dm > 0 ? clampf(rnd(m[j] / dm), 0, 63) : 0);
        for (int l = 0; l < 32; ++l)
          y[b + 32 * j + l] = ds > 0 ? ds * clampf(rnd((x[b + 32 * j + l] + mm) / ds), 0, nmax) - mm : -mm;
      }
    }
  } else if (t == TensorType::Q6_K) {
    for (size_t b = 0; b < x.size(); b += 256) {
      float s[16], amax_s = 0;
      for (int j = 0; j < 16; ++j) {
        float amax = 0, max = 0;
        for (int l = 0; l < 16; ++l)
          if (std::fabs(x[b + 16 * j + l]) > amax) amax = std::fabs(x[b + 16 * j + l]), max = x[b + 16 * j + l];
        s[j] = max / -32.0f;
        amax_s = std::fmax(amax_s, std::fabs(s[j]));
      }
      const float d = fp16_to_fp32(fp32_to_fp16(amax_s / 127));
      for (int j = 0; j < 16; ++j) {
        const float ds = d * (d > 0 ? clampf(rnd(s[j] / d), -128, 127) : 0);
        for (int l = 0; l < 16; ++l)
          y[b + 16 * j + l] = ds != 0 ? ds * clampf(rnd(x[b + 16 * j + l] / ds), -32, 31) : 0;
      }
    }
  }
  return y;
}

struct RoundTripCase {
  TensorType type;
  double max_rel_rmse;  // bound for Gaussian data
};

TEST(QuantRoundTrip, ErrorBoundsAndBaseline) {
  // Gaussian rows plus a heavy-tailed one (a few large outliers, as in real weight rows).
  auto gauss = test::random_row(256 * 64, 42);
  auto tailed = test::random_row(256 * 64, 43, 0.02f);
  for (size_t i = 0; i < tailed.size(); i += 97) tailed[i] *= 25.0f;

  // Bounds: ~10% above what these quantizers measure (printed below), which is what theory
  // predicts: a uniform quantizer's error is step / √12, with step ≈ block range / levels
  // (Q4_0: 2·2.1σ / 16 / √12 ≈ 0.076σ for 32 Gaussian values).
  const RoundTripCase cases[] = {
      {TensorType::Q8_0, 0.0060}, {TensorType::Q8_1, 0.0060}, {TensorType::Q8_K, 0.0075},
      {TensorType::Q6_K, 0.019},  {TensorType::Q5_0, 0.045},  {TensorType::Q5_1, 0.037},
      {TensorType::Q5_K, 0.039},  {TensorType::Q4_0, 0.088},  {TensorType::Q4_1, 0.076},
      {TensorType::Q4_K, 0.078},  {TensorType::F16, 0.0003},  {TensorType::BF16, 0.0025},
  };
  for (const auto& c : cases) {
    const std::string name(gguf::tensor_type_name(c.type));
    const double e = test::rel_rmse(gauss, round_trip(c.type, gauss));
    const double e_tail = test::rel_rmse(tailed, round_trip(c.type, tailed));
    std::printf("  %-5s relative RMSE: gaussian %.5f  heavy-tailed %.5f", name.c_str(), e, e_tail);
    EXPECT_LT(e, c.max_rel_rmse) << name;
    EXPECT_GT(e, 0) << name;
    if (c.type == TensorType::Q4_0 || c.type == TensorType::Q4_K || c.type == TensorType::Q5_K ||
        c.type == TensorType::Q6_K) {
      const double b = test::rel_rmse(gauss, baseline(c.type, gauss));
      const double b_tail = test::rel_rmse(tailed, baseline(c.type, tailed));
      std::printf("   (plain baseline %.5f / %.5f)", b, b_tail);
      EXPECT_LT(e, b) << name << " search should beat the plain min/max quantizer";
      EXPECT_LT(e_tail, b_tail * 1.001) << name;
    }
    std::printf("\n");
  }
}

TEST(QuantRoundTrip, ExactlyRepresentableRowsSurvive) {
  // A row that already lies on a Q8_0 grid with a power-of-two step decodes back exactly, and
  // an all-zero row stays zero in every format.
  std::vector<float> x(64);
  for (int i = 0; i < 64; ++i) x[i] = float((i * 13) % 255 - 127) * 0.03125f;
  x[0] = 127 * 0.03125f;
  x[32] = -127 * 0.03125f;
  EXPECT_EQ(round_trip(TensorType::Q8_0, x), x);
  std::vector<float> zeros(256, 0.0f);
  for (TensorType t : {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0,
                       TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K, TensorType::Q8_K})
    EXPECT_EQ(round_trip(t, zeros), zeros) << gguf::tensor_type_name(t);
}

TEST(QuantRoundTrip, Q8AActivationFormat) {
  // Q8A (matmul's activation format for the 32-value types) rounds like Q8_0 but keeps d
  // and the block sum s = d · Σq as floats.
  auto x = test::random_row(256, 21);
  std::vector<BlockQ8A> a(8);
  std::vector<BlockQ8_0> q(8);
  quantize_row_q8a(x.data(), a.data(), 256);
  quantize_row_q8_0(x.data(), q.data(), 256);
  std::vector<float> y(256);
  dequantize_row_q8a(a.data(), y.data(), 256);
  EXPECT_LT(test::rel_rmse(x, y), 0.006);
  for (int b = 0; b < 8; ++b) {
    float amax = 0;
    int sum = 0;
    for (int j = 0; j < 32; ++j) {
      amax = std::fmax(amax, std::fabs(x[size_t(32 * b + j)]));
      sum += a[size_t(b)].qs[j];
      EXPECT_EQ(a[size_t(b)].qs[j], q[size_t(b)].qs[j]);
    }
    EXPECT_EQ(a[size_t(b)].d, amax / 127.0f);
    EXPECT_EQ(a[size_t(b)].s, a[size_t(b)].d * float(sum));
  }
}

TEST(QuantRoundTrip, Q8XIsQ8ARegrouped) {
  // Q8X (the VNNI kernels' activation format) holds Q8A's values and scales, four blocks per
  // group; a row of 7 blocks leaves a group with three zero blocks of padding.
  const int64_t n = 7 * 32;
  auto x = test::random_row(size_t(n), 22);
  std::vector<BlockQ8A> a(7);
  quantize_row_q8a(x.data(), a.data(), n);
  std::vector<BlockQ8X> g(2);
  q8a_to_q8x(a.data(), 4, &g[0]);
  q8a_to_q8x(a.data() + 4, 3, &g[1]);
  std::vector<float> ya(static_cast<size_t>(n)), yx(static_cast<size_t>(n));
  dequantize_row_q8a(a.data(), ya.data(), n);
  dequantize_row_q8x(g.data(), yx.data(), n);
  EXPECT_EQ(yx, ya);
  for (int b = 0; b < 8; ++b) {
    const BlockQ8X& grp = g[size_t(b / 4)];
    const int k = b % 4;
    int sum = 0;
    for (int j = 0; j < 16; ++j) {
      const int8_t lo = b < 7 ? a[size_t(b)].qs[j] : 0, hi = b < 7 ? a[size_t(b)].qs[16 + j] : 0;
      EXPECT_EQ(grp.lo[16 * k + j], lo);
      EXPECT_EQ(grp.hi[16 * k + j], hi);
      sum += lo + hi;
    }
    for (int l = 0; l < 4; ++l) {
      EXPECT_EQ(grp.d[4 * k + l], b < 7 ? a[size_t(b)].d : 0.0f);
      EXPECT_EQ(grp.nsum[4 * k + l], l == 0 ? -sum : 0);
    }
  }
}

TEST(QuantRoundTrip, EveryTablesQ8XIsItsQ8ARegrouped) {
  // A table's Q8X quantizer (the AVX2 one writes Q8X directly) gives, byte for byte, what its
  // own Q8A quantizer and q8a_to_q8x give; lengths with every partial last group.
  for (Isa isa : available_isas()) {
    SCOPED_TRACE(isa_name(isa));
    const KernelTable& t = table_for(isa);
    for (int64_t blocks : {1, 2, 3, 4, 5, 7, 8, 64, 176}) {
      const int64_t n = 32 * blocks, groups = (blocks + 3) / 4;
      auto x = test::random_row(size_t(n), uint32_t(blocks) + 40);
      if (blocks > 2) std::fill(x.begin() + 32, x.begin() + 64, 0.0f);  // a block of zeros: d = 0
      std::vector<BlockQ8A> a(static_cast<size_t>(blocks));
      t.quantize_q8a(x.data(), a.data(), n);
      std::vector<BlockQ8X> want(static_cast<size_t>(groups)), got(static_cast<size_t>(groups));
      std::memset(got.data(), 0x5a, got.size() * sizeof(BlockQ8X));  // padding must be written
      for (int64_t g = 0; g < groups; ++g)
        q8a_to_q8x(a.data() + 4 * g, int(std::min<int64_t>(4, blocks - 4 * g)), &want[size_t(g)]);
      t.quantize_q8x(x.data(), got.data(), n);
      EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(BlockQ8X)), 0) << blocks << " blocks";
    }
  }
}

TEST(QuantRoundTrip, Q8KBlockSums) {
  auto x = test::random_row(512, 9);
  std::vector<BlockQ8_K> q(2);
  quantize_row_q8_K(x.data(), q.data(), 512);
  for (const auto& b : q)
    for (int g = 0; g < 16; ++g) {
      int s = 0;
      for (int l = 0; l < 16; ++l) s += b.qs[16 * g + l];
      EXPECT_EQ(b.bsums[g], s);
    }
}

// ---- errors -------------------------------------------------------------------------------

TEST(QuantErrors, UnsupportedTypeIsNamed) {
  float out[256];
  uint8_t data[256] = {};
  try {
    dequantize_row(TensorType::Q2_K, data, out, 256);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::unsupported);
    EXPECT_NE(std::string(e.what()).find("Q2_K"), std::string::npos) << e.what();
  }
  try {
    quantize_row(TensorType::IQ4_XS, out, data, 256);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::unsupported);
    EXPECT_NE(std::string(e.what()).find("IQ4_XS"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(is_supported(TensorType::Q3_K));
  EXPECT_FALSE(is_supported(TensorType::IQ2_XXS));
  EXPECT_TRUE(is_supported(TensorType::Q6_K));
}

TEST(QuantErrors, RowLengthNotMultipleOfBlock) {
  std::vector<float> x(100);
  std::vector<uint8_t> q(1000);
  try {
    quantize_row(TensorType::Q4_K, x.data(), q.data(), 100);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("256"), std::string::npos) << e.what();
  }
  const Weight w{TensorType::Q4_0, q.data(), 2, 32};
  EXPECT_THROW(kernels::dequantize_row(w, 2, x.data()), Error);
  EXPECT_THROW(kernels::dequantize_row(w, -1, x.data()), Error);
}

}  // namespace
}  // namespace hearth::kernels
