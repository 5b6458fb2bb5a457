// Byte-level BPE (GPT-2 / tiktoken style, as in Llama 3 and Qwen 2/3 tokenizer.json files):
// the tokenizer kind `Tokenizer` uses for bundles with a "bpe_bytelevel" tokenizer section.
//
// Encoding follows the HF `tokenizers` pipeline: added tokens are matched first
// (leftmost-longest; the non-normalized ones on the raw text, the normalized ones after
// the normalizer), the rest is normalized (none or NFC), split by the pre-tokenizer pattern
// (pretokenizer.h) and each piece's UTF-8 bytes are merged by rank (lowest rank first,
// leftmost on ties). Decoding maps ids to bytes through the GPT-2 byte<->unicode alphabet
// and converts to UTF-8 (invalid sequences become U+FFFD); special added tokens decode to
// nothing, like control tokens of SentencePiece.
//
// Serialized form (the bundle section; written by python/litegen/tokenizer/bpe.py, every
// integer little-endian, every field validated on load):
//   magic "LGBPE01\0"
//   u32 pre-tokenizer pattern (PreTokenizerPattern), u32 normalizer (0 none, 1 NFC),
//   u32 flags (bit 0: ignore_merges), u32 vocab size (ids are [0, vocab size)),
//   u32 merge count, i32 bos id, i32 eos id, i32 pad id (-1: none)
//   vocab size entries: u8 kind (0 unused id, 1 model token, 2 added token),
//     u8 added-token flags (bit 0 special, 1 normalized, 2 lstrip, 3 rstrip, 4 also a
//     model token: merges may use it),
//     u32 length, the token string (UTF-8; model tokens in the byte alphabet, e.g. "Ġthe")
//   merge count entries in rank order: u32 left id, u32 right id, u32 merged id
#ifndef LITEGEN_CPP_ENGINE_BPE_TOKENIZER_H_
#define LITEGEN_CPP_ENGINE_BPE_TOKENIZER_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/pretokenizer.h"
#include "litert/status.h"

namespace litegen {

inline constexpr char kBpeMagic[8] = {'L', 'G', 'B', 'P', 'E', '0', '1', '\0'};

class BpeTokenizer {
 public:
  // True when `bytes` starts with the serialized form's magic.
  static bool HasMagic(std::string_view bytes);
  // kModelLoad "<where> is not a valid byte-level BPE tokenizer: <reason>" on bad data.
  static Expected<std::unique_ptr<BpeTokenizer>> FromBytes(std::string_view bytes,
                                                           const std::string& where);

  // kInput when `text` is not valid UTF-8.
  Expected<std::vector<int>> Encode(std::string_view text) const;
  // UTF-8 text of in-range `ids` (the caller checks the range).
  std::string Decode(const std::vector<int>& ids) const;

  int vocab_size() const { return static_cast<int>(tokens_.size()); }
  int bos_id() const { return bos_id_; }
  int eos_id() const { return eos_id_; }
  int pad_id() const { return pad_id_; }
  // The token string as tokenizer.json spells it ("Ġthe", "<|eot_id|>"); "" for unused ids.
  const std::string& Piece(int id) const { return tokens_[static_cast<size_t>(id)].text; }
  int PieceToId(std::string_view piece) const;
  // Special added tokens (decode to nothing) and unused ids.
  bool IsControl(int id) const;

 private:
  enum class Kind : uint8_t { kUnused = 0, kModel = 1, kAdded = 2 };
  // Added-token flags; kInModel: the token is also in the BPE model's vocabulary (same id),
  // so merges may produce it.
  static constexpr uint8_t kSpecial = 1, kNormalized = 2, kLstrip = 4, kRstrip = 8,
                           kInModel = 16;
  struct Token {
    Kind kind = Kind::kUnused;
    uint8_t flags = 0;
    std::string text;   // as in tokenizer.json
    std::string bytes;  // what it decodes to
  };
  struct AddedToken {
    int id;
    std::string content;  // matched text (NFC-normalized for normalized tokens under NFC)
    bool lstrip, rstrip;
  };
  // The added tokens matched in one pass, with the bytes they can start with.
  struct AddedTokenSet {
    std::vector<AddedToken> tokens;
    std::array<bool, 256> first_bytes{};
  };
  // A stretch of text: an added token (id >= 0) or text still to tokenize (id -1).
  struct Segment {
    std::string text;
    int id = -1;
  };

  BpeTokenizer() = default;
  bool IsModelToken(uint32_t id) const {
    return tokens_[id].kind == Kind::kModel || (tokens_[id].flags & kInModel) != 0;
  }
  // Splits every id -1 segment around the matches of `tokens`.
  static std::vector<Segment> SplitAddedTokens(std::vector<Segment> segments,
                                               const AddedTokenSet& tokens);
  void EncodeWord(std::string_view word, std::vector<int>* ids) const;

  PreTokenizerPattern pattern_ = PreTokenizerPattern::kGpt2;
  bool nfc_ = false;
  bool ignore_merges_ = false;
  int bos_id_ = -1, eos_id_ = -1, pad_id_ = -1;
  std::vector<Token> tokens_;
  std::array<int, 256> byte_ids_{};  // id of each single-byte model token, -1 if none
  std::unordered_map<std::string, int> model_ids_;   // decoded bytes -> model token id
  std::unordered_map<std::string, int> piece_ids_;   // token string -> id
  std::unordered_map<uint64_t, std::pair<uint32_t, int>> merges_;  // (left, right) -> rank, id
  AddedTokenSet raw_added_, normalized_added_;
};

}  // namespace litegen

#endif  // LITEGEN_CPP_ENGINE_BPE_TOKENIZER_H_
