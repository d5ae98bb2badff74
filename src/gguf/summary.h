// A plain description of what a GGUF file holds, derived from its metadata and tensor table:
// what `hearth show` prints and, later, what the catalog and /api/show report.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "gguf/gguf.h"

namespace hearth::gguf {

struct TypeTotals {
  uint64_t tensors = 0;
  uint64_t elements = 0;
  uint64_t bytes = 0;
};

struct Summary {
  std::string path;
  uint64_t file_size = 0;
  uint32_t version = 0;
  uint64_t alignment = 0;
  std::string architecture;  // general.architecture ("" if absent)
  std::string name;          // general.name
  std::optional<int64_t> file_type;  // general.file_type (llama.cpp's "ftype")
  uint64_t n_tensors = 0;
  uint64_t n_parameters = 0;  // sum of tensor elements
  uint64_t tensor_bytes = 0;
  std::map<std::string, TypeTotals> by_type;  // keyed by type name

  std::optional<int64_t> context_length, embedding_length, block_count, feed_forward_length,
      head_count, head_count_kv, rope_dimension_count, expert_count, expert_used_count,
      sliding_window;
  std::optional<double> rope_freq_base, rope_scaling_factor, rms_epsilon;
  std::string rope_scaling_type;

  std::string tokenizer_model;  // tokenizer.ggml.model
  std::string tokenizer_pre;    // tokenizer.ggml.pre
  uint64_t vocab_size = 0;
  std::optional<int64_t> bos_token_id, eos_token_id;
  bool has_chat_template = false;
};

Summary summarize(const File& f);

// "260.1K", "1.10B" — parameter counts as people say them.
std::string human_count(uint64_t n);
// "1.13 MiB"
std::string human_bytes(uint64_t n);

}  // namespace hearth::gguf
