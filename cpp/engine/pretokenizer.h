// Pre-tokenizer of byte-level BPE tokenizers: splits text into the pieces BPE merges within,
// exactly as the regex of the HF `tokenizers` library would.
//
// There is no regex engine with Unicode classes in the C++ standard library, so each
// supported pattern is a hand-written matcher that reproduces the backtracking regex's
// choices (leftmost match, first matching alternative, greedy quantifiers). The Unicode
// classes come from pretokenizer_tables.h, generated from `tokenizers` itself.
// Unknown patterns are rejected when the bundle is written (python/litegen/tokenizer/bpe.py).
#ifndef LITEGEN_CPP_ENGINE_PRETOKENIZER_H_
#define LITEGEN_CPP_ENGINE_PRETOKENIZER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace litegen {

// The split patterns of the common checkpoints (values are stored in bundles).
enum class PreTokenizerPattern : uint32_t {
  // GPT-2 (ByteLevel with use_regex):
  //   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  kGpt2 = 1,
  // Llama 3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
  //          ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
  kLlama3 = 2,
  // Qwen 2 / 3: as Llama 3 but single digits (\p{N} instead of \p{N}{1,3}).
  kQwen2 = 3,
};

bool IsKnownPreTokenizerPattern(uint32_t value);

// Splits valid UTF-8 `text` into consecutive pieces (views into `text`) that cover it.
std::vector<std::string_view> PreTokenize(std::string_view text, PreTokenizerPattern pattern);

// ---- UTF-8 and Unicode helpers shared with the BPE tokenizer ---------------------------

// Length of the valid UTF-8 sequence at text[pos] (1..4), or 0 when it is not one.
size_t Utf8SequenceLength(std::string_view text, size_t pos);
bool IsValidUtf8(std::string_view text);
// Decodes the valid sequence of `length` bytes at text[pos].
uint32_t DecodeUtf8(std::string_view text, size_t pos, size_t length);
void AppendUtf8(uint32_t code_point, std::string* out);
// `bytes` as UTF-8 with every maximal invalid subsequence replaced by U+FFFD (the rule of
// Rust's String::from_utf8_lossy and Python's errors="replace").
std::string Utf8Lossy(std::string_view bytes);
// Unicode White_Space (Rust's char::is_whitespace, used for added tokens' lstrip/rstrip).
bool IsUnicodeWhiteSpace(uint32_t code_point);

}  // namespace litegen

#endif  // LITEGEN_CPP_ENGINE_PRETOKENIZER_H_
