// Unicode NFC normalization for byte-level BPE tokenizers whose tokenizer.json has an
// "NFC" normalizer (Qwen 2 / 3). Tables: bpe_nfc_tables.h (generated from Python's
// unicodedata by pretokenizer_tables_gen.py).
#ifndef LITEGEN_CPP_ENGINE_BPE_NORMALIZER_H_
#define LITEGEN_CPP_ENGINE_BPE_NORMALIZER_H_

#include <string>
#include <string_view>

namespace litegen {

// The NFC form of valid UTF-8 `text` (canonical decomposition, canonical ordering,
// canonical composition; Hangul algorithmically).
std::string NfcNormalize(std::string_view text);

}  // namespace litegen

#endif  // LITEGEN_CPP_ENGINE_BPE_NORMALIZER_H_
