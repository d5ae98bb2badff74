// Constructors of the three tokenizer families (each in its own file). Internal to tokenizer/.
#pragma once

#include <memory>

#include "tokenizer/tokenizer.h"

namespace hearth::tokenizer {

std::unique_ptr<Tokenizer> make_spm(Vocab vocab);        // spm.cpp
std::unique_ptr<Tokenizer> make_bpe(Vocab vocab);        // bpe.cpp
std::unique_ptr<Tokenizer> make_wordpiece(Vocab vocab);  // wordpiece.cpp

}  // namespace hearth::tokenizer
