// fp16 / bf16 conversions: exact against an independent formula, and every ISA's row
// conversion bit-identical to the scalar one.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/fp16.h"
#include "test_helpers.h"

namespace hearth::kernels {
namespace {

uint32_t bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

// The value of a half from its definition: (-1)^s · 2^(e-15) · 1.m, or 2^-14 · 0.m.
double half_value(uint16_t h) {
  const int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
  double v = e == 0 ? std::ldexp(m, -24) : std::ldexp(1024 + m, e - 25);
  return s ? -v : v;
}

TEST(Fp16, KnownValues) {
  EXPECT_EQ(fp32_to_fp16(1.0f), 0x3c00);
  EXPECT_EQ(fp32_to_fp16(-2.0f), 0xc000);
  EXPECT_EQ(fp32_to_fp16(65504.0f), 0x7bff);
  EXPECT_EQ(fp32_to_fp16(65519.0f), 0x7bff);   // just below the rounding point
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7c00);   // halfway to 65536 → even → Inf
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -25)), 0x0000);  // halfway to 0 → even (0)
  EXPECT_EQ(fp32_to_fp16(std::ldexp(3.0f, -25)), 0x0002);  // 1.5 ulp → 2 (even)
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -14)), 0x0400);  // smallest normal
  EXPECT_EQ(fp32_to_fp16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);      // tie → even
  EXPECT_EQ(fp32_to_fp16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);  // tie → even (up)
  EXPECT_EQ(fp32_to_fp16(-0.0f), 0x8000);
  EXPECT_EQ(fp32_to_fp16(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(fp32_to_fp16(1e10f), 0x7c00);
  const uint16_t nan = fp32_to_fp16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7c00, 0x7c00);
  EXPECT_NE(nan & 0x03ff, 0);
  EXPECT_EQ(fp16_to_fp32(0x3555), float(half_value(0x3555)));  // ≈ 1/3
}

TEST(Fp16, EveryHalfDecodesExactlyAndRoundTrips) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = fp16_to_fp32(uint16_t(h));
    const int e = (h >> 10) & 31;
    if (e == 31) {
      if (h & 1023) {
        EXPECT_TRUE(std::isnan(f)) << h;
      } else {
        EXPECT_TRUE(std::isinf(f)) << h;
      }
      continue;
    }
    ASSERT_EQ(double(f), half_value(uint16_t(h))) << "half " << h;
    ASSERT_EQ(fp32_to_fp16(f), h) << "half " << h;
  }
}

TEST(Fp16, RoundsToNearestHalf) {
  // For floats between two neighbouring halves the result must be the nearer one (ties even).
  auto rng = test::random_row(20000, 7, 3000.0f);
  for (float x : rng) {
    const uint16_t h = fp32_to_fp16(x);
    const double v = half_value(h);
    const double up = half_value(uint16_t(h + 1)), down = half_value(uint16_t(h - 1));
    EXPECT_LE(std::fabs(v - x), std::fabs(up - x)) << x;
    EXPECT_LE(std::fabs(v - x), std::fabs(down - x)) << x;
  }
}

TEST(Bf16, KnownValuesAndRounding) {
  EXPECT_EQ(fp32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(bf16_to_fp32(0x3f80), 1.0f);
  EXPECT_EQ(bf16_to_fp32(0xc040), -3.0f);
  // 1 + 2^-8 is halfway between bf16 1.0 and 1.0078125: ties to even (1.0).
  EXPECT_EQ(fp32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  EXPECT_EQ(fp32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_EQ(fp32_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
  const uint16_t nan = fp32_to_bf16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_TRUE(std::isnan(bf16_to_fp32(nan)));
  // A NaN whose payload sits only in the low bits must stay a NaN, not round to Inf.
  uint32_t low_nan = 0x7f800001;
  float f;
  std::memcpy(&f, &low_nan, 4);
  EXPECT_TRUE(std::isnan(bf16_to_fp32(fp32_to_bf16(f))));
}

// Inputs that hit every conversion case: all halves, random floats, edges.
std::vector<float> conversion_inputs() {
  std::vector<float> v;
  for (uint32_t h = 0; h < 65536; ++h) v.push_back(fp16_to_fp32(uint16_t(h)));
  auto r = test::random_row(10000, 3, 100.0f);
  v.insert(v.end(), r.begin(), r.end());
  for (float x : test::random_row(5000, 4, 1e-5f)) v.push_back(x);  // subnormal halves
  for (float x : {65519.0f, 65520.0f, 65535.0f, 1e30f, -1e30f, 1e-30f, 0.0f, -0.0f}) v.push_back(x);
  uint32_t specials[] = {0x7f800001, 0xffc00000, 0x7fbfffff, 0x7f7fffff, 0x00000001};
  for (uint32_t b : specials) {
    float f;
    std::memcpy(&f, &b, 4);
    v.push_back(f);
  }
  v.push_back(1.0f);  // odd count: exercises the scalar tails
  return v;
}

TEST(Fp16, EveryIsaMatchesScalarBitForBit) {
  const auto in = conversion_inputs();
  const size_t n = in.size();
  std::vector<uint16_t> half_ref(n), bf_ref(n);
  for (size_t i = 0; i < n; ++i) {
    half_ref[i] = fp32_to_fp16(in[i]);
    bf_ref[i] = fp32_to_bf16(in[i]);
  }
  for (Isa isa : available_isas()) {
    SCOPED_TRACE(isa_name(isa));
    const KernelTable& t = table_for(isa);
    std::vector<uint16_t> h(n), b(n);
    std::vector<float> back(n);
    t.fp32_to_fp16(in.data(), h.data(), int64_t(n));
    t.fp32_to_bf16(in.data(), b.data(), int64_t(n));
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(h[i], half_ref[i]) << "fp16 of " << in[i] << " (bits " << std::hex << bits(in[i]) << ")";
      ASSERT_EQ(b[i], bf_ref[i]) << "bf16 of " << in[i] << " (bits " << std::hex << bits(in[i]) << ")";
    }
    t.fp16_to_fp32(h.data(), back.data(), int64_t(n));
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(bits(back[i]), bits(fp16_to_fp32(h[i]))) << i;
    t.bf16_to_fp32(b.data(), back.data(), int64_t(n));
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(bits(back[i]), bits(bf16_to_fp32(b[i]))) << i;
  }
}

TEST(Fp16, PublicRowFunctions) {
  const auto in = test::random_row(1001, 11);
  std::vector<uint16_t> h(in.size());
  std::vector<float> out(in.size());
  fp32_to_fp16_row(in.data(), h.data(), int64_t(in.size()));
  fp16_to_fp32_row(h.data(), out.data(), int64_t(in.size()));
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(h[i], fp32_to_fp16(in[i]));
    EXPECT_NEAR(out[i], in[i], std::fabs(in[i]) * 1e-3f + 1e-7f);
  }
}

}  // namespace
}  // namespace hearth::kernels
