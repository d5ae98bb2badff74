// libFuzzer target for the GGUF reader: any byte string must parse or throw hearth::Error —
// no crash, no out-of-bounds read, no leak. Also walks what was parsed, so a "successful"
// parse that left inconsistent state would be caught by the sanitizers.
#include <cstddef>
#include <cstdint>

#include "gguf/gguf.h"
#include "gguf/summary.h"
#include "gguf/writer.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto f = hearth::gguf::File::parse(std::span<const uint8_t>(data, size), "fuzz.gguf");
    auto s = hearth::gguf::summarize(f);
    (void)s;
    uint64_t sum = 0;
    for (const auto& t : f.tensors()) {
      const uint8_t* p = f.tensor_data(t);
      if (t.n_bytes > 0) sum += p[0] + p[t.n_bytes - 1];  // touch both ends of every tensor
    }
    // What we parsed must write and re-parse.
    hearth::gguf::Writer w(f.version());
    w.copy_from(f);
    auto bytes = w.write_to_memory();
    auto again = hearth::gguf::File::parse(bytes, "rewritten.gguf");
    if (again.metadata().size() != f.metadata().size() || again.tensors().size() != f.tensors().size()) {
      __builtin_trap();
    }
    return static_cast<int>(sum & 0);
  } catch (const hearth::Error&) {
    return 0;
  }
}
