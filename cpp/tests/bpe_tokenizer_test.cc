// Byte-level BPE tokenizer, pre-tokenizer and NFC tests (vs. ids the HF `tokenizers`
// library computed; fixtures: python -m tests.tokenizer.cpp_fixtures FIXTURE_DIR).
#include <string>
#include <vector>

#include "engine/bpe_normalizer.h"
#include "engine/pretokenizer.h"
#include "test_framework.h"

namespace litegen {
namespace {

std::vector<std::string> Split(const std::string& text, PreTokenizerPattern pattern) {
  std::vector<std::string> out;
  for (std::string_view piece : PreTokenize(text, pattern)) out.emplace_back(piece);
  return out;
}

TEST(PreTokenizerSplitsLikeTheRegex) {
  using V = std::vector<std::string>;
  CHECK(Split("Hello world's  123456 !!\n\n  x", PreTokenizerPattern::kLlama3) ==
        (V{"Hello", " world", "'s", " ", " ", "123", "456", " !!\n\n", " ", " x"}));
}

}  // namespace
}  // namespace litegen
