// matmul: the driver around the per-ISA dot products. It checks the weight once per call,
// converts the activations to the weight's partner format once (not once per row), splits the
// weight rows across the pool, and for several tokens walks tokens in cache-sized blocks so
// each weight row is read from memory once per block and reused for every token in it.
#include "kernels/matmul.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/fp16.h"
#include "kernels/quant.h"
#include "kernels/vec.h"
#include "util/cpu.h"
#include "util/error.h"

namespace hearth::kernels {

using gguf::TensorType;

// ---- ISA selection -------------------------------------------------------------------------

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::generic: return "generic";
    case Isa::avx2: return "avx2";
    case Isa::avxvnni: return "avxvnni";
    case Isa::avx512: return "avx512";
    case Isa::avx512vnni: return "avx512vnni";
    case Isa::neon: return "neon";
    case Isa::neon_dotprod: return "neon-dotprod";
    case Isa::neon_i8mm: return "neon-i8mm";
  }
  return "unknown";
}

namespace {

// What each ISA's file was compiled with (src/kernels/CMakeLists.txt); empty if this CPU has
// all of it.
std::string missing_features(Isa isa) {
  const CpuFeatures& f = cpu_features();
  std::string miss;
  auto need = [&](bool have, const char* name) {
    if (have) return;
    if (!miss.empty()) miss += ", ";
    miss += name;
  };
  auto need_avx2 = [&] {
    need(f.avx2, "avx2");
    need(f.fma, "fma");
    need(f.f16c, "f16c");
  };
  switch (isa) {
    case Isa::generic:
      break;
    case Isa::avx512vnni:
      need(f.avx512vnni, "avx512_vnni");
      [[fallthrough]];
    case Isa::avx512:
      need(f.avx512f, "avx512f");
      need(f.avx512bw, "avx512bw");
      need(f.avx512vl, "avx512vl");
      need_avx2();
      break;
    case Isa::avx2:
      need_avx2();
      break;
    case Isa::avxvnni:  // AVX2 plus AVX-VNNI; not implied by AVX-512 (Zen 4 has one, not the other)
      need(f.avxvnni, "avx_vnni");
      need_avx2();
      break;
    case Isa::neon_i8mm:
      need(f.i8mm, "i8mm");
      [[fallthrough]];
    case Isa::neon_dotprod:
      need(f.dotprod, "asimddp");
      [[fallthrough]];
    case Isa::neon:
      need(f.neon, "neon");
      break;
  }
  return miss;
}

bool compiled_in(Isa isa) {
  switch (isa) {
    case Isa::generic: return true;
#if defined(__x86_64__)
    case Isa::avx2: case Isa::avxvnni: case Isa::avx512: case Isa::avx512vnni: return true;
#endif
#if defined(__aarch64__)
    case Isa::neon: case Isa::neon_dotprod: case Isa::neon_i8mm: return true;
#endif
    default: return false;
  }
}

const KernelTable& table_unchecked(Isa isa) {
  switch (isa) {
#if defined(__x86_64__)
    case Isa::avx2: return avx2_table();
    case Isa::avxvnni: return avxvnni_table();
    case Isa::avx512: return avx512_table();
    case Isa::avx512vnni: return avx512vnni_table();
#endif
#if defined(__aarch64__)
    case Isa::neon: return neon_table();
    case Isa::neon_dotprod: return neon_dotprod_table();
    case Isa::neon_i8mm: return neon_i8mm_table();
#endif
    default: return generic_table();
  }
}

const KernelTable& select_active() {
  const char* env = std::getenv("HEARTH_ISA");
  if (env == nullptr || *env == '\0') return best_table();
  const std::string want = env;
  for (Isa isa : {Isa::generic, Isa::avx2, Isa::avxvnni, Isa::avx512, Isa::avx512vnni, Isa::neon, Isa::neon_dotprod,
                  Isa::neon_i8mm}) {
    if (want != isa_name(isa)) continue;
    try {
      return table_for(isa);
    } catch (const Error& e) {
      throw Error(e.kind(), fmt::format("HEARTH_ISA={}: {}", want, e.what()));
    }
  }
  throw_error(ErrorKind::invalid_argument,
              "HEARTH_ISA={}: unknown instruction set (expected generic, avx2, avxvnni, avx512, avx512vnni, neon, neon-dotprod or neon-i8mm)", want);
}

}  // namespace

std::vector<Isa> available_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::generic, Isa::neon, Isa::neon_dotprod, Isa::neon_i8mm, Isa::avx2, Isa::avxvnni, Isa::avx512,
                  Isa::avx512vnni})
    if (compiled_in(isa) && missing_features(isa).empty()) out.push_back(isa);
  return out;
}

const KernelTable& table_for(Isa isa) {
  if (!compiled_in(isa))
    throw_error(ErrorKind::unsupported, "kernels for {} are not part of this build (other architecture)",
                isa_name(isa));
  const std::string miss = missing_features(isa);
  if (!miss.empty())
    throw_error(ErrorKind::unsupported, "kernels for {} need CPU features this machine lacks: {} (it has: {})",
                isa_name(isa), miss, cpu_features_string(cpu_features()));
  return table_unchecked(isa);
}

const KernelTable& best_table() {
  static const KernelTable& best = table_unchecked(available_isas().back());
  return best;
}

const KernelTable& active_table() {
  // A function-local static: chosen on first use, then constant. If HEARTH_ISA is bad the
  // initialisation throws and is retried (and throws again) on the next call.
  static const KernelTable& active = select_active();
  return active;
}

const char* isa_name() { return isa_name(active_table().isa); }

const char* act_name(Act a) {
  switch (a) {
    case Act::F32: return "F32";
    case Act::Q8A: return "Q8A";
    case Act::Q8_K: return "Q8_K";
    case Act::Q8X: return "Q8X";
  }
  return "unknown";
}

int64_t act_block_size(Act a) {
  switch (a) {
    case Act::F32: return 1;
    case Act::Q8A: case Act::Q8X: return QK;
    case Act::Q8_K: return QK_K;
  }
  return 1;
}

size_t act_row_bytes(Act a, int64_t n) {
  switch (a) {
    case Act::F32: return size_t(n) * sizeof(float);
    case Act::Q8A: return size_t(n / QK) * sizeof(BlockQ8A);
    case Act::Q8_K: return size_t(n / QK_K) * sizeof(BlockQ8_K);
    case Act::Q8X: return size_t((n + QK8X - 1) / QK8X) * sizeof(BlockQ8X);
  }
  return 0;
}

void dequantize_activation(Act a, const void* src, float* dst, int64_t n) {
  switch (a) {
    case Act::F32: std::memcpy(dst, src, size_t(n) * sizeof(float)); return;
    case Act::Q8A: dequantize_row_q8a(static_cast<const BlockQ8A*>(src), dst, n); return;
    case Act::Q8_K: dequantize_row_q8_K(static_cast<const BlockQ8_K*>(src), dst, n); return;
    case Act::Q8X: dequantize_row_q8x(static_cast<const BlockQ8X*>(src), dst, n); return;
  }
}

bool is_supported(TensorType type) {
  const auto t = uint32_t(type);
  return t < uint32_t(kTypeSlots) && generic_table().vec_dot[t] != nullptr;
}

// ---- row conversions -----------------------------------------------------------------------

void fp16_to_fp32_row(const uint16_t* x, float* y, int64_t n) { best_table().fp16_to_fp32(x, y, n); }
void fp32_to_fp16_row(const float* x, uint16_t* y, int64_t n) { best_table().fp32_to_fp16(x, y, n); }
void bf16_to_fp32_row(const uint16_t* x, float* y, int64_t n) { best_table().bf16_to_fp32(x, y, n); }
void fp32_to_bf16_row(const float* x, uint16_t* y, int64_t n) { best_table().fp32_to_bf16(x, y, n); }

float dot_f32(const float* a, const float* b, int64_t n) {
  return best_table().vec_dot[int(TensorType::F32)](n, a, b);
}
float dot_f16_f32(const uint16_t* a, const float* b, int64_t n) {
  return best_table().vec_dot[int(TensorType::F16)](n, a, b);
}
void f16_rows_dot(const uint16_t* rows, size_t stride, int64_t n, const float* q, int64_t d, float* scores) {
  best_table().f16_rows_dot(rows, stride, n, q, d, scores);
}
void f16_rows_weighted_sum(const uint16_t* rows, size_t stride, int64_t n, const float* w, int64_t d, float* out) {
  best_table().f16_rows_weighted_sum(rows, stride, n, w, d, out);
}
void f16_rows_dot_heads(const uint16_t* rows, size_t stride, int64_t n, const float* q, int g, int64_t d,
                        float* scores) {
  best_table().f16_rows_dot_heads(rows, stride, n, q, g, d, scores);
}
void f16_rows_weighted_sum_heads(const uint16_t* rows, size_t stride, int64_t n, const float* w, int g, int64_t d,
                                 float* out) {
  best_table().f16_rows_weighted_sum_heads(rows, stride, n, w, g, d, out);
}
void softmax(float* x, int64_t n) { best_table().softmax(x, n); }
double exp_sum(float* x, int64_t n, float scale) { return best_table().exp_sum(x, n, scale); }
void swiglu(const float* gate, const float* up, int64_t n, float* out) { best_table().swiglu(gate, up, n, out); }

void dequantize_row(const Weight& w, int64_t r, float* out) {
  if (!is_supported(w.type))
    throw_error(ErrorKind::unsupported, "tensor type {} is not supported (no dequantize kernel)",
                gguf::tensor_type_name(w.type));
  if (r < 0 || r >= w.rows)
    throw_error(ErrorKind::invalid_argument, "row {} out of range for a {}x{} {} tensor", r, w.rows, w.cols,
                gguf::tensor_type_name(w.type));
  const uint64_t rb = gguf::row_bytes(w.type, uint64_t(w.cols));
  dequantize_row(w.type, static_cast<const uint8_t*>(w.data) + uint64_t(r) * rb, out, w.cols);
}

// ---- matmul --------------------------------------------------------------------------------

namespace {

// Everything a worker needs, passed by one pointer so the std::function that carries the
// lambda to the pool stays within its small-object buffer (no allocation per call).
struct Job {
  const KernelTable* table = {};
  VecDotFn dot = {};
  VecDot2Fn dot2 = {};  // one token: rows r and r + pair_offset in one call, where the table has it
  VecDot4Fn dot4 = {};
  VecDot4x2Fn dot4x2 = {};
  VecDot2x2Fn dot2x2 = {};
  PackRowsFn pack_rows = {};  // null unless this call packs groups of rows (see dot_tile)
  PackedDotFn packed_dot = {};
  size_t packed_group_bytes = 0;
  int64_t pack_min_tokens = 0;  // token blocks this long or longer are packed
  QuantizeFn quantize = {};
  const uint8_t* w = {};
  size_t w_row_bytes = {};
  const float* x = {};
  const uint8_t* act = {};  // converted activations, one row per token (x itself for F32)
  uint8_t* act_out = {};    // where quantize_tokens writes them (the scratch buffer)
  size_t act_row_bytes = {};
  int64_t rows = 0, cols = 0, n_tokens = 0;
  int64_t token_block = {};
  // Several tokens of long float rows are processed in column chunks, so that a chunk of a
  // weight row stays in L1 while the token block's chunks (in L2) stream past it.
  int64_t k_chunk = {};
  size_t w_chunk_bytes = 0, a_chunk_bytes = 0;
  // One token: row r is computed right after row r - pair_offset, and the tiles cover rows
  // [0, tile_rows) = [0, pair_offset); otherwise pair_offset is 0 and tile_rows = rows. So
  // each thread reads two streams half a matrix apart. On the development VM (Zen 4, 2 cores)
  // a plain read loop gets 10-15 % more from memory with two streams per thread than with
  // one, and decoding the synthetic 1.1B models got 1-5 % faster (Q4_0 58.6 -> 60.9,
  // Q8_0 40.6 -> 42.2 tokens/s while the memory was fast; Q8_0 27.6 -> 30.6 while it was
  // slow; alternated in one process). Both rows go through one vec_dot2 call where the table
  // has one (dot_tile): a sixth-session kernel that only shared the activation loads was not
  // faster in the model; the ninth session's, which also converts both rows' scales at once,
  // is (docs/kernels.md).
  int64_t pair_offset = 0, tile_rows = 0;
  bool parallel = false;  // split across the pool (big enough to be worth waking it)
  int64_t rows_per_tile = {};
  int64_t row_chunks = {}, tiles = {};  // tiles: row chunks × token blocks
  std::atomic<int64_t> next_tile{0};
  // Decode steps (one token block): thread i owns a contiguous range of tiles, packed as
  // front << 32 | back, takes from its front and, when it runs dry, moves the back half of
  // another's range into its own.
  static constexpr int kMaxRanges = 64;
  int n_ranges = 0;
  // One cache line each: threads claiming from their own ranges must not contend for a line.
  struct alignas(64) Range {
    std::atomic<uint64_t> v;
  };
  Range ranges[kMaxRanges];
  float* y = nullptr;
};

void quantize_tokens(const Job& j, int ith, int nth) {
  for (int64_t t = ith; t < j.n_tokens; t += nth)
    j.quantize(j.x + t * j.cols, j.act_out + t * j.act_row_bytes, j.cols);
}

// Token blocks of at least this many tokens use a table's packed kernel where it has one:
// packing a group of rows costs about as much as multiplying it with a few tokens. Where the
// type has a two-row four-token kernel, that kernel streams the weights from memory better
// for fewer tokens: eight tokens of the 1.1B Q4_0 model (pp8) ran at 125-143 t/s with it
// against 82-130 packed; with 16 and 32 tokens the packed kernel was as fast or faster.
constexpr int64_t kPackMinTokens = 8;
constexpr int64_t kPackMinTokensAfterTwoRowKernel = 16;

// One tile: rows [r0, r1) against tokens [t0, t1).
void dot_tile(const Job& j, int64_t r0, int64_t r1, int64_t t0, int64_t t1) {
  if (j.n_tokens == 1) {
    // Row r, then row r + h: two streams of weights (see pair_offset).
    const int64_t h = j.pair_offset;
    for (int64_t r = r0; r < r1; ++r) {
      const uint8_t* w = j.w + r * j.w_row_bytes;
      if (r + h >= j.rows) {
        j.y[r] = j.dot(j.cols, w, j.act);
      } else if (j.dot2 != nullptr) {
        float out[2];
        j.dot2(j.cols, w, w + h * j.w_row_bytes, j.act, out);
        j.y[r] = out[0];
        j.y[r + h] = out[1];
      } else {
        j.y[r] = j.dot(j.cols, w, j.act);
        j.y[r + h] = j.dot(j.cols, w + h * j.w_row_bytes, j.act);
      }
    }
    return;
  }
  int64_t r_rest = r0;  // the first row not done by the packed kernel
  if (j.packed_dot != nullptr && t1 - t0 >= j.pack_min_tokens) {
    // Groups of kPackRows rows, each packed once into this thread's buffer and then used for
    // every token of the block. Tiles start at multiples of kPackRows (rows_per_tile), so the
    // groups, and which rows fall back to the kernels below, do not depend on the threads.
    thread_local std::vector<uint8_t> buffer;
    constexpr size_t kAlign = 64;
    if (buffer.size() < j.packed_group_bytes + kAlign) buffer.resize(j.packed_group_bytes + kAlign);
    uint8_t* packed = buffer.data() + (kAlign - reinterpret_cast<uintptr_t>(buffer.data()) % kAlign) % kAlign;
    for (; r_rest + kPackRows <= r1; r_rest += kPackRows) {
      j.pack_rows(j.cols, j.w + r_rest * j.w_row_bytes, j.w_row_bytes, packed);
      for (int64_t t = t0; t < t1; t += kPackRows)
        j.packed_dot(j.cols, packed, j.act + t * j.act_row_bytes, j.act_row_bytes, int(std::min<int64_t>(kPackRows, t1 - t)),
                     j.y + t * j.rows + r_rest, size_t(j.rows));
    }
  }
  float out[4];
  for (int64_t c0 = 0, chunk = 0; c0 < j.cols; c0 += j.k_chunk, ++chunk) {
    const int64_t kc = c0 + j.k_chunk < j.cols ? j.k_chunk : j.cols - c0;
    const uint8_t* act = j.act + chunk * j.a_chunk_bytes;
    // The first column chunk stores, later ones add.
    auto put = [&](int64_t t, int64_t r, float v) {
      float& dst = j.y[t * j.rows + r];
      dst = c0 == 0 ? v : dst + v;
    };
    int64_t r = r_rest;
    if (j.dot4x2 != nullptr || j.dot2x2 != nullptr) {
      // Pairs of rows against the token block's groups of four (with the one-row four-token
      // kernel, row by row, where a type has no two-row one), then of two; any other token
      // below. (Before the one-row fallback, Q4_K prompts went through the two-token kernel
      // throughout: pp512 of the synthetic 1.1B model 87-92 t/s, against 100-106 with four tokens
      // per unpack.)
      float out8[8];
      for (; r + 2 <= r1; r += 2) {
        const uint8_t* wr = j.w + r * j.w_row_bytes + chunk * j.w_chunk_bytes;
        int64_t t = t0;
        for (; j.dot4x2 != nullptr && t + 4 <= t1; t += 4) {
          j.dot4x2(kc, wr, j.w_row_bytes, act + t * j.act_row_bytes, j.act_row_bytes, out8);
          for (int k = 0; k < 4; ++k) {
            put(t + k, r, out8[k]);
            put(t + k, r + 1, out8[4 + k]);
          }
        }
        for (; j.dot4x2 == nullptr && j.dot4 != nullptr && t + 4 <= t1; t += 4) {
          for (int64_t rr = 0; rr < 2; ++rr) {
            j.dot4(kc, wr + rr * j.w_row_bytes, act + t * j.act_row_bytes, j.act_row_bytes, out);
            for (int k = 0; k < 4; ++k) put(t + k, r + rr, out[k]);
          }
        }
        for (; j.dot2x2 != nullptr && t + 2 <= t1; t += 2) {
          j.dot2x2(kc, wr, j.w_row_bytes, act + t * j.act_row_bytes, j.act_row_bytes, out8);
          for (int k = 0; k < 2; ++k) {
            put(t + k, r, out8[k]);
            put(t + k, r + 1, out8[2 + k]);
          }
        }
        for (; t < t1; ++t) {
          put(t, r, j.dot(kc, wr, act + t * j.act_row_bytes));
          put(t, r + 1, j.dot(kc, wr + j.w_row_bytes, act + t * j.act_row_bytes));
        }
      }
    }
    for (; r < r1; ++r) {
      const uint8_t* wr = j.w + r * j.w_row_bytes + chunk * j.w_chunk_bytes;
      int64_t t = t0;
      if (j.dot4 != nullptr) {
        for (; t + 4 <= t1; t += 4) {
          j.dot4(kc, wr, act + t * j.act_row_bytes, j.act_row_bytes, out);
          for (int k = 0; k < 4; ++k) put(t + k, r, out[k]);
        }
      }
      for (; t < t1; ++t) put(t, r, j.dot(kc, wr, act + t * j.act_row_bytes));
    }
  }
}

// Threads take tiles dynamically rather than a fixed share of the rows, so a core that is
// slowed down (by another process, or a busy sibling hyper-thread) does less of the work
// instead of holding everyone up. Each output is still computed whole by one thread, so
// results do not depend on the thread count.
//
// A decode step (one token block) streams the weights once: each thread starts on its own
// contiguous range of tiles and walks it front to back, so its reads stay one sequential
// stream the hardware prefetcher can follow; a thread that is done takes the back half of
// another's range and walks that front to back too. (With tiles dealt from one shared
// counter, four times smaller tiles made one-token steps 8 % slower: crossing to a tile
// elsewhere costs. Ranges made one- and four-token steps of the 1.1B Q4_0 model 3-5 % faster,
// configurations alternated in one run. Taking single tiles from the back of the other range,
// as until the ninth session, walked the thief backwards through memory tile by tile; with
// the 32 KiB one-token tiles, halving was 2.3 ± 1.3 % faster on the 1.1B Q4_0 model, 60
// rounds alternated in one process.)
// Prompt chunks (several token blocks) deal tiles from one counter, token block by token
// block, so the threads work on the same activations (hot in cache) at the same time.
uint64_t pack_range(uint32_t front, uint32_t back) { return uint64_t(front) << 32 | back; }

// Claims the first tile of range r; -1 if it is empty.
int64_t claim(std::atomic<uint64_t>& r) {
  uint64_t cur = r.load(std::memory_order_relaxed);
  for (;;) {
    const uint32_t f = uint32_t(cur >> 32), b = uint32_t(cur);
    if (f >= b) return -1;
    if (r.compare_exchange_weak(cur, pack_range(f + 1, b), std::memory_order_relaxed)) return f;
  }
}

void run_tile(const Job& j, int64_t k) {
  const int64_t tb = k / j.row_chunks, rc = k % j.row_chunks;
  const int64_t r0 = rc * j.rows_per_tile, r1 = std::min(j.tile_rows, r0 + j.rows_per_tile);
  const int64_t t0 = tb * j.token_block, t1 = std::min(j.n_tokens, t0 + j.token_block);
  dot_tile(j, r0, r1, t0, t1);
}

// Moves the back half of range `from` (the last tile, if only one is left) into range `to`,
// which its owner has used up; false if `from` is empty.
bool steal_half(std::atomic<uint64_t>& from, std::atomic<uint64_t>& to) {
  uint64_t cur = from.load(std::memory_order_relaxed);
  for (;;) {
    const uint32_t f = uint32_t(cur >> 32), b = uint32_t(cur);
    if (f >= b) return false;
    const uint32_t mid = f + (b - f) / 2;
    if (from.compare_exchange_weak(cur, pack_range(f, mid), std::memory_order_relaxed)) {
      to.store(pack_range(mid, b), std::memory_order_relaxed);
      return true;
    }
  }
}

void dot_rows(Job& j, int ith) {
  if (j.n_ranges > 0) {
    std::atomic<uint64_t>& own = j.ranges[ith].v;
    for (;;) {
      for (int64_t k = claim(own); k >= 0; k = claim(own)) run_tile(j, k);
      bool stole = false;
      for (int d = 1; d < j.n_ranges && !stole; ++d) stole = steal_half(j.ranges[(ith + d) % j.n_ranges].v, own);
      if (!stole) return;
    }
  }
  for (int64_t k = j.next_tile.fetch_add(1, std::memory_order_relaxed); k < j.tiles;
       k = j.next_tile.fetch_add(1, std::memory_order_relaxed))
    run_tile(j, k);
}

// Below this many multiply-adds a matmul is done on the calling thread: waking the pool costs
// a few microseconds, more than the work.
constexpr int64_t kMinParallelWork = 1 << 16;
// Activations of one token block should stay in L2 while the rows stream past.
constexpr size_t kTokenBlockBytes = 256 * 1024;
// Weights per tile of a one-token matmul (see matmul_with).
constexpr size_t kOneTokenTileBytes = 32 * 1024;
// Column chunk for float weights (values; a multiple of every vector width).
constexpr int64_t kFloatChunk = 1024;

// Everything of a matmul up to running it: checks, kernels, activations, tiles. False if there
// is nothing to run (no rows or tokens; no columns, y zeroed). With `shared_act`, the
// activations are already converted (by the first job of a group, see matmul_group).
bool prepare_job(Job& j, const KernelTable& table, const Weight& w, const float* x, int64_t n_tokens, float* y,
                 ThreadPool& pool, const uint8_t* shared_act = nullptr) {
  if (!is_supported(w.type))
    throw_error(ErrorKind::unsupported, "tensor type {} is not supported by the matmul kernels",
                gguf::tensor_type_name(w.type));
  const Act act = n_tokens == 1 ? one_token_act(table, w.type) : table.act[int(w.type)];
  const int64_t block = std::max<int64_t>(gguf::block_size(w.type), act_block_size(act));
  if (w.rows < 0 || w.cols < 0 || n_tokens < 0)
    throw_error(ErrorKind::invalid_argument, "matmul: negative size ({} rows, {} cols, {} tokens)", w.rows, w.cols,
                n_tokens);
  if (w.cols % block != 0)
    throw_error(ErrorKind::format, "matmul: a {} row of {} values is not a multiple of the block size {}",
                gguf::tensor_type_name(w.type), w.cols, block);
  if (w.rows == 0 || n_tokens == 0) return false;
  if (w.cols == 0) {
    std::memset(y, 0, size_t(w.rows * n_tokens) * sizeof(float));
    return false;
  }
  if (w.data == nullptr || x == nullptr || y == nullptr)
    throw_error(ErrorKind::internal, "matmul: null buffer for a {}x{} {} weight", w.rows, w.cols,
                gguf::tensor_type_name(w.type));

  j.table = &table;
  j.dot = n_tokens == 1 ? one_token_dot(table, w.type) : table.vec_dot[int(w.type)];
  j.dot2 = n_tokens == 1 ? table.vec_dot2[int(w.type)] : nullptr;
  j.dot4 = table.vec_dot4[int(w.type)];
  j.dot4x2 = n_tokens >= 4 ? table.vec_dot4x2[int(w.type)] : nullptr;
  j.dot2x2 = n_tokens >= 2 ? table.vec_dot2x2[int(w.type)] : nullptr;
  j.pack_min_tokens = j.dot4x2 != nullptr ? kPackMinTokensAfterTwoRowKernel : kPackMinTokens;
  if (n_tokens >= j.pack_min_tokens && table.packed_dot[int(w.type)] != nullptr) {
    j.pack_rows = table.pack_rows[int(w.type)];
    j.packed_dot = table.packed_dot[int(w.type)];
    j.packed_group_bytes = table.packed_block_bytes[int(w.type)] * size_t(w.cols / gguf::block_size(w.type));
  }
  j.w = static_cast<const uint8_t*>(w.data);
  j.w_row_bytes = gguf::row_bytes(w.type, uint64_t(w.cols));
  j.x = x;
  j.rows = w.rows;
  j.cols = w.cols;
  j.n_tokens = n_tokens;
  j.y = y;

  const bool parallel = pool.size() > 1 && w.rows * w.cols * n_tokens >= kMinParallelWork;
  j.parallel = parallel;

  if (act == Act::F32) {
    j.act = reinterpret_cast<const uint8_t*>(x);
    j.act_row_bytes = size_t(w.cols) * sizeof(float);
  } else {
    // Grows to the largest call seen on this thread, then never allocates again. Aligned to
    // a cache line, so the kernels' 64-byte activation loads never straddle two (the VNNI
    // two-row kernel: 28.2 -> 26.6 cycles per group in cache against a 16-byte offset).
    thread_local std::vector<uint8_t> scratch;
    constexpr size_t kLine = 64;
    j.quantize = quantizer(table, act);
    j.act_row_bytes = act_row_bytes(act, w.cols);
    // Rows a multiple of 1 KiB apart would put the same part of every token's row in the
    // same few L1 sets, and the packed kernels read eight tokens at one offset: with 2048
    // columns in Q8X (4 KiB rows) the Q4_0 one took 375 TSC cycles per 256 values against
    // 289 with rows 256 bytes further apart.
    if (n_tokens > 1 && j.act_row_bytes % 1024 == 0) j.act_row_bytes += 256;
    if (shared_act != nullptr) {
      j.act = shared_act;
    } else {
      const size_t need = j.act_row_bytes * size_t(n_tokens) + kLine;
      if (scratch.size() < need) scratch.resize(need);
      const size_t skip = (kLine - reinterpret_cast<uintptr_t>(scratch.data()) % kLine) % kLine;
      j.act = j.act_out = scratch.data() + skip;
      if (parallel && n_tokens > 1) {
        pool.run([&j](int ith, int nth) { quantize_tokens(j, ith, nth); });
      } else {
        quantize_tokens(j, 0, 1);
      }
    }
  }
  j.k_chunk = w.cols;
  if (act == Act::F32 && n_tokens > 1 && w.cols > kFloatChunk) j.k_chunk = kFloatChunk;
  j.w_chunk_bytes = gguf::row_bytes(w.type, uint64_t(j.k_chunk));
  j.a_chunk_bytes = act_row_bytes(act, j.k_chunk);
  j.token_block = std::max<int64_t>(4, int64_t(kTokenBlockBytes / j.a_chunk_bytes) & ~int64_t(3));
  j.pair_offset = n_tokens == 1 ? (w.rows + 1) / 2 : 0;
  j.tile_rows = n_tokens == 1 ? j.pair_offset : w.rows;
  const int64_t nth = parallel ? pool.size() : 1;
  if (n_tokens == 1) {
    // About kOneTokenTileBytes of weights per tile (a tile of k rows computes 2k). Each
    // thread walks its own range of tiles front to back, so small tiles do not break its
    // streams; they only make the end of a matmul even out finely, when one thread has run
    // dry and takes half of what is left of the other's range. With about eight tiles per
    // thread (up to 590 KB each, the 1.1B model's output layer) the threads waited for each
    // other for 6 % of a decode step (perf, 1.1B Q4_0); with 16-128 KiB tiles for 3-5 %.
    j.rows_per_tile = std::max<int64_t>(2, int64_t(kOneTokenTileBytes / (2 * j.w_row_bytes)) & ~int64_t(1));
  } else {
    // About eight tiles per thread and token block: enough to even out uneven cores. Even,
    // so rows pair up as (2i, 2i + 1) for the two-row kernels whatever the thread count:
    // which kernel computes a row must not depend on it, or the rounding would.
    j.rows_per_tile = std::clamp<int64_t>(j.tile_rows / (nth * 8), 4, 64) & ~int64_t(1);
  }
  // Likewise whole groups for the packed kernel.
  if (j.packed_dot != nullptr) j.rows_per_tile = std::max<int64_t>(kPackRows, j.rows_per_tile & ~int64_t(kPackRows - 1));

  j.row_chunks = (j.tile_rows + j.rows_per_tile - 1) / j.rows_per_tile;
  j.tiles = j.row_chunks * ((j.n_tokens + j.token_block - 1) / j.token_block);
  if (parallel && j.n_tokens <= j.token_block && nth <= Job::kMaxRanges) {
    j.n_ranges = int(nth);
    for (int i = 0; i < j.n_ranges; ++i)
      j.ranges[i].v.store(pack_range(uint32_t(j.tiles * i / nth), uint32_t(j.tiles * (i + 1) / nth)),
                        std::memory_order_relaxed);
  }
  return true;
}

// Up to this many weights share one activation conversion and one dispatch (q, k, v).
constexpr size_t kMaxGroup = 4;

}  // namespace

void matmul_with(const KernelTable& table, const Weight& w, const float* x, int64_t n_tokens, float* y,
                 ThreadPool& pool) {
  Job j;
  if (!prepare_job(j, table, w, x, n_tokens, y, pool)) return;
  if (j.parallel) {
    pool.run([&j](int ith, int) { dot_rows(j, ith); });
  } else {
    dot_rows(j, 0);
  }
}

void matmul_group_with(const KernelTable& table, std::span<const MatmulOut> outs, const float* x, int64_t n_tokens,
                       ThreadPool& pool) {
  // One token, several weights of one activation format and width, each big enough for the
  // pool: one conversion of x, and one dispatch in which each thread goes from its ranges of
  // one product to the next without waiting for the other threads in between. Otherwise (a
  // prompt, where these costs are small against the work, or mixed formats) one by one.
  bool together = n_tokens == 1 && pool.size() > 1 && outs.size() > 1 && outs.size() <= kMaxGroup;
  for (const MatmulOut& o : outs) {
    together = together && is_supported(o.w->type) &&
               one_token_act(table, o.w->type) == one_token_act(table, outs[0].w->type) &&
               o.w->cols == outs[0].w->cols && o.w->rows * o.w->cols >= kMinParallelWork;
  }
  if (!together) {
    for (const MatmulOut& o : outs) matmul_with(table, *o.w, x, n_tokens, o.y, pool);
    return;
  }
  // One pointer to all of it, so the pool's std::function needs no allocation (as Job).
  struct Group {
    Job jobs[kMaxGroup];
    bool run[kMaxGroup] = {};
    size_t n = 0;
  } g;
  g.n = outs.size();
  const uint8_t* act = nullptr;
  for (size_t k = 0; k < g.n; ++k) {
    g.run[k] = prepare_job(g.jobs[k], table, *outs[k].w, x, n_tokens, outs[k].y, pool, act);
    if (g.run[k] && act == nullptr) act = g.jobs[k].act;
  }
  Group* gp = &g;
  pool.run([gp](int ith, int) {
    for (size_t k = 0; k < gp->n; ++k)
      if (gp->run[k]) dot_rows(gp->jobs[k], ith);
  });
}

void matmul(const Weight& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  matmul_with(active_table(), w, x, n_tokens, y, pool);
}

void matmul_group(std::span<const MatmulOut> outs, const float* x, int64_t n_tokens, ThreadPool& pool) {
  matmul_group_with(active_table(), outs, x, n_tokens, pool);
}

}  // namespace hearth::kernels
