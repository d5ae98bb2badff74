#include "gguf/types.h"

#include <array>

namespace hearth::gguf {

namespace {

struct Entry {
  uint32_t id;
  TensorTypeInfo info;
};

// Block layouts (elements per block, bytes per block) as defined by the GGUF format.
// K-quants use super-blocks of 256 elements.
constexpr std::array<Entry, 38> kTypes = {{
    {0, {"F32", 1, 4, false}},
    {1, {"F16", 1, 2, false}},
    {2, {"Q4_0", 32, 18, false}},      // f16 d + 16 B of nibbles
    {3, {"Q4_1", 32, 20, false}},      // f16 d, f16 m + 16 B
    {6, {"Q5_0", 32, 22, false}},      // f16 d + 4 B high bits + 16 B
    {7, {"Q5_1", 32, 24, false}},      // f16 d, f16 m + 4 B + 16 B
    {8, {"Q8_0", 32, 34, false}},      // f16 d + 32 int8
    {9, {"Q8_1", 32, 36, false}},      // f16 d, f16 s + 32 int8
    {10, {"Q2_K", 256, 84, false}},
    {11, {"Q3_K", 256, 110, false}},
    {12, {"Q4_K", 256, 144, false}},   // f16 d, f16 dmin, 12 B scales, 128 B nibbles
    {13, {"Q5_K", 256, 176, false}},   // as Q4_K + 32 B high bits
    {14, {"Q6_K", 256, 210, false}},   // 128 B low, 64 B high, 16 int8 scales, f16 d
    {15, {"Q8_K", 256, 292, false}},   // f32 d, 256 int8, 16 int16 block sums
    {16, {"IQ2_XXS", 256, 66, false}},
    {17, {"IQ2_XS", 256, 74, false}},
    {18, {"IQ3_XXS", 256, 98, false}},
    {19, {"IQ1_S", 256, 50, false}},
    {20, {"IQ4_NL", 32, 18, false}},
    {21, {"IQ3_S", 256, 110, false}},
    {22, {"IQ2_S", 256, 82, false}},
    {23, {"IQ4_XS", 256, 136, false}},
    {24, {"I8", 1, 1, false}},
    {25, {"I16", 1, 2, false}},
    {26, {"I32", 1, 4, false}},
    {27, {"I64", 1, 8, false}},
    {28, {"F64", 1, 8, false}},
    {29, {"IQ1_M", 256, 56, false}},
    {30, {"BF16", 1, 2, false}},
    {31, {"Q4_0_4_4", 32, 18, true}},
    {32, {"Q4_0_4_8", 32, 18, true}},
    {33, {"Q4_0_8_8", 32, 18, true}},
    {34, {"TQ1_0", 256, 54, false}},
    {35, {"TQ2_0", 256, 66, false}},
    {36, {"IQ4_NL_4_4", 32, 18, true}},
    {37, {"IQ4_NL_4_8", 32, 18, true}},
    {38, {"IQ4_NL_8_8", 32, 18, true}},
    {39, {"MXFP4", 32, 17, false}},    // e8m0 scale + 16 B of fp4 nibbles
}};

constexpr std::array<TensorType, 38> kAll = [] {
  std::array<TensorType, 38> a{};
  for (size_t i = 0; i < kTypes.size(); ++i) a[i] = static_cast<TensorType>(kTypes[i].id);
  return a;
}();

}  // namespace

std::optional<TensorTypeInfo> tensor_type_info(uint32_t type) {
  for (const auto& e : kTypes)
    if (e.id == type) return e.info;
  return std::nullopt;
}

std::optional<TensorType> tensor_type_from_name(std::string_view name) {
  for (const auto& e : kTypes)
    if (e.info.name == name) return static_cast<TensorType>(e.id);
  return std::nullopt;
}

std::string_view tensor_type_name(TensorType t) {
  auto info = tensor_type_info(static_cast<uint32_t>(t));
  return info ? info->name : std::string_view("unknown");
}

const TensorType* all_tensor_types(size_t* count) {
  *count = kAll.size();
  return kAll.data();
}

std::string_view value_type_name(ValueType t) {
  switch (t) {
    case ValueType::UINT8: return "u8";
    case ValueType::INT8: return "i8";
    case ValueType::UINT16: return "u16";
    case ValueType::INT16: return "i16";
    case ValueType::UINT32: return "u32";
    case ValueType::INT32: return "i32";
    case ValueType::FLOAT32: return "f32";
    case ValueType::BOOL: return "bool";
    case ValueType::STRING: return "string";
    case ValueType::ARRAY: return "array";
    case ValueType::UINT64: return "u64";
    case ValueType::INT64: return "i64";
    case ValueType::FLOAT64: return "f64";
  }
  return "unknown";
}

bool is_valid_value_type(uint32_t t) { return t <= static_cast<uint32_t>(ValueType::FLOAT64); }

}  // namespace hearth::gguf
