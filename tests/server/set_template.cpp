// Test helper: copies a GGUF model with tokenizer.chat_template set to a file's text, so the
// server tests can run a synthetic model that has a chat template with tool support.
//   hearth-test-set-template SRC.gguf DST.gguf TEMPLATE.jinja
#include <cstdio>
#include <fstream>
#include <sstream>

#include "gguf/gguf.h"
#include "gguf/writer.h"
#include "util/error.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s SRC.gguf DST.gguf TEMPLATE.jinja\n", argv[0]);
    return 2;
  }
  try {
    std::ifstream in(argv[3], std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "%s: cannot open\n", argv[3]);
      return 3;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    auto f = hearth::gguf::File::open(argv[1]);
    hearth::gguf::Writer w;
    w.copy_from(f);
    w.set("tokenizer.chat_template", hearth::gguf::Value(ss.str()));
    w.write(argv[2]);
  } catch (const hearth::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
