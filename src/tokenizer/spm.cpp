// PLACEHOLDER: replaced by the real implementation.
#include "tokenizer/factories.h"
#include "util/error.h"

namespace hearth::tokenizer {
std::unique_ptr<Tokenizer> make_spm(Vocab) { throw Error(ErrorKind::unsupported, "spm tokenizer not implemented yet"); }
}  // namespace hearth::tokenizer
