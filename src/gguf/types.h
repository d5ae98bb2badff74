// The GGUF enumerations: metadata value types and tensor (ggml) types with their block layout.
// Numbers are fixed by the file format; a type we cannot compute with is still known by name
// and size so that `hearth show` can describe any file and the reader can bounds-check it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace hearth::gguf {

enum class ValueType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};

std::string_view value_type_name(ValueType t);
bool is_valid_value_type(uint32_t t);

enum class TensorType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3,
  // 4 (Q4_2) and 5 (Q4_3) were removed from the format before GGUF existed.
  Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22,
  IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
  // 31..33: Q4_0_4_4, Q4_0_4_8, Q4_0_8_8 — interleaved repacks, since removed from the format.
  Q4_0_4_4 = 31, Q4_0_4_8 = 32, Q4_0_8_8 = 33,
  TQ1_0 = 34, TQ2_0 = 35,
  // 36..38: IQ4_NL_4_4, IQ4_NL_4_8, IQ4_NL_8_8 — likewise removed.
  IQ4_NL_4_4 = 36, IQ4_NL_4_8 = 37, IQ4_NL_8_8 = 38,
  MXFP4 = 39,
};

struct TensorTypeInfo {
  std::string_view name;   // "Q4_K"
  uint32_t block_size;     // elements per block (1 for plain scalar types)
  uint32_t type_size;      // bytes per block
  bool removed;            // deprecated in the format: still sized, never produced
};

// nullopt for a number the format does not define.
std::optional<TensorTypeInfo> tensor_type_info(uint32_t type);
// "Q4_K" → TensorType::Q4_K; nullopt for unknown names (case-sensitive, as written in GGUF docs).
std::optional<TensorType> tensor_type_from_name(std::string_view name);
std::string_view tensor_type_name(TensorType t);
inline uint32_t block_size(TensorType t) { return tensor_type_info(uint32_t(t))->block_size; }
inline uint32_t type_size(TensorType t) { return tensor_type_info(uint32_t(t))->type_size; }
// Bytes taken by `n` elements of type t (n must be a multiple of the block size).
inline uint64_t row_bytes(TensorType t, uint64_t n) { return n / block_size(t) * type_size(t); }
// All defined type numbers, in order (for listings and tests).
const TensorType* all_tensor_types(size_t* count);

}  // namespace hearth::gguf
