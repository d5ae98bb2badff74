#include "model/quantize.h"

#include <algorithm>

#include "gguf/gguf.h"
#include "gguf/writer.h"
#include "kernels/quant.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace hearth::model {

using gguf::TensorType;

namespace {

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_float_type(TensorType t) { return t == TensorType::F32 || t == TensorType::F16 || t == TensorType::BF16; }

// Weight matrices are what quantization is for; norms are vectors stored as "...norm.weight"
// (and sometimes 2-D in odd files), which must stay exact.
bool is_matrix(const gguf::TensorInfo& t) {
  return t.dims.size() >= 2 && ends_with(t.name, ".weight") && t.name.find("norm") == std::string::npos;
}

// The type a matrix with rows of `cols` values gets: the target if its blocks fit, else the
// best smaller-block type that does.
TensorType fit_type(TensorType target, uint64_t cols, std::string& note) {
  if (cols % gguf::block_size(target) == 0) return target;
  for (TensorType t : {TensorType::Q8_0, TensorType::F16}) {
    if (cols % gguf::block_size(t) == 0) {
      note = "rows of " + std::to_string(cols) + " values do not divide into " +
             std::string(gguf::tensor_type_name(target)) + " blocks of " +
             std::to_string(gguf::block_size(target)) + "; stored as " + std::string(gguf::tensor_type_name(t));
      return t;
    }
  }
  return TensorType::F32;  // unreachable: F16's block is one value
}

std::vector<uint8_t> convert(const gguf::File& f, const gguf::TensorInfo& t, TensorType to, ThreadPool& pool) {
  const int64_t cols = static_cast<int64_t>(t.ne(0));
  const int64_t rows = static_cast<int64_t>(t.n_elements / t.ne(0));
  const size_t in_row = gguf::row_bytes(t.type, uint64_t(cols)), out_row = gguf::row_bytes(to, uint64_t(cols));
  std::vector<uint8_t> out(out_row * size_t(rows));
  const uint8_t* src = f.tensor_data(t);
  pool.run([&](int ith, int nth) {
    std::vector<float> row(static_cast<size_t>(cols));
    for (int64_t r = ith; r < rows; r += nth) {
      kernels::dequantize_row(t.type, src + size_t(r) * in_row, row.data(), cols);
      kernels::quantize_row(to, row.data(), out.data() + size_t(r) * out_row, cols);
    }
  });
  return out;
}

}  // namespace

bool is_quantize_target(TensorType t) {
  switch (t) {
    case TensorType::F32: case TensorType::F16: case TensorType::BF16: case TensorType::Q8_0:
    case TensorType::Q4_0: case TensorType::Q4_1: case TensorType::Q5_0: case TensorType::Q5_1:
    case TensorType::Q4_K: case TensorType::Q5_K: case TensorType::Q6_K:
      return true;
    default:
      return false;
  }
}

uint32_t gguf_file_type(TensorType t) {
  switch (t) {
    case TensorType::F16: return 1;
    case TensorType::Q4_0: return 2;
    case TensorType::Q4_1: return 3;
    case TensorType::Q8_0: return 7;
    case TensorType::Q5_0: return 8;
    case TensorType::Q5_1: return 9;
    case TensorType::Q4_K: return 14;  // Q4_K_S: every matrix Q4_K
    case TensorType::Q5_K: return 16;  // Q5_K_S
    case TensorType::Q6_K: return 18;
    case TensorType::BF16: return 32;
    default: return 0;  // all F32
  }
}

QuantizeReport quantize_file(const std::string& in_path, const std::string& out_path, TensorType target,
                             int n_threads, const QuantizeProgress& progress) {
  if (!is_quantize_target(target)) {
    throw_error(ErrorKind::invalid_argument,
                "quantize: cannot produce {}; types: F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K Q5_K Q6_K",
                gguf::tensor_type_name(target));
  }
  if (in_path == out_path) {
    throw_error(ErrorKind::invalid_argument, "quantize: output {} would overwrite the input", out_path);
  }
  const gguf::File f = gguf::File::open(in_path);
  ThreadPool pool(std::max(1, n_threads));

  gguf::Writer w(f.version() >= 3 ? 3 : f.version());
  for (const auto& kv : f.metadata()) w.set(kv.key, kv.value);
  w.set("general.file_type", gguf::Value(gguf_file_type(target)));
  w.set("general.quantized_by", gguf::Value("hearth"));

  QuantizeReport report;
  const size_t n = f.tensors().size();
  for (size_t i = 0; i < n; ++i) {
    const gguf::TensorInfo& t = f.tensors()[i];
    QuantizeReport::Tensor r{t.name, t.type, t.type, t.n_bytes, t.n_bytes, ""};
    if (is_matrix(t)) r.to = fit_type(target, t.ne(0), r.note);
    if (r.to == t.type) {
      w.add_tensor(t.name, t.type, t.dims, {f.tensor_data(t), size_t(t.n_bytes)});
    } else {
      if (!is_float_type(t.type)) {
        throw_error(ErrorKind::unsupported,
                    "quantize: {}: tensor {} is stored as {}; quantize converts from F32, F16 or BF16 only "
                    "(start from the unquantized model)",
                    in_path, t.name, gguf::tensor_type_name(t.type));
      }
      std::vector<uint8_t> data = convert(f, t, r.to, pool);
      r.bytes_out = data.size();
      w.add_tensor_owned(t.name, r.to, t.dims, std::move(data));
    }
    report.bytes_in += r.bytes_in;
    report.bytes_out += r.bytes_out;
    report.tensors.push_back(r);
    if (progress) progress(i, n, report.tensors.back());
  }
  w.write(out_path);
  return report;
}

}  // namespace hearth::model
