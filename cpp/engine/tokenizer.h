// The tokenizer of the generation engine (C++, no Python), one of two kinds:
//
// * SentencePiece: wraps the SentencePiece C++ library (Debian's libsentencepiece-dev; see
//   third_party/sentencepiece/FindSentencePiece.cmake), for tokenizer.model checkpoints;
// * byte-level BPE (engine/bpe_tokenizer.h), for tokenizer.json checkpoints such as
//   Llama 3 and Qwen 2/3; its serialized form starts with the magic "LGBPE01".
//
// FromModelBytes picks the kind from the bytes. Every failure is a Status: bad model
// bytes are kModelLoad ("tokenizer model '<source>' is invalid: ..."), out-of-range ids are
// kInput. Nothing aborts on user input: ids are range-checked before the library sees them.
//
// A Tokenizer is immutable after creation; Encode/Decode are safe to call from several
// threads. A StreamDecoder is per generation stream (not thread-safe).
#ifndef LITEGEN_CPP_ENGINE_TOKENIZER_H_
#define LITEGEN_CPP_ENGINE_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "litert/status.h"

namespace sentencepiece {
class SentencePieceProcessor;
}  // namespace sentencepiece

namespace litegen {

class BpeTokenizer;
class StreamDecoder;

class Tokenizer {
 public:
  // `source` names the model in messages (a path, "bundle 'x.litegen'", ...).
  static Expected<std::unique_ptr<Tokenizer>> FromModelBytes(std::string_view bytes,
                                                             const std::string& source =
                                                                 "<memory>");
  // Reads a SentencePiece .model file (e.g. a checkpoint's tokenizer.model) or a
  // serialized byte-level BPE tokenizer.
  static Expected<std::unique_ptr<Tokenizer>> FromFile(const std::string& path);

  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Token ids of `text`. No BOS / EOS unless asked (and the model defines them).
  Expected<std::vector<int>> Encode(std::string_view text, bool add_bos = false,
                                    bool add_eos = false) const;
  // Text of `ids` (control tokens such as BOS/EOS decode to nothing). kInput on an id
  // outside [0, vocab_size()). Byte-level BPE: added tokens match atomically in `text`
  // (as in HF tokenizers) and text that is not valid UTF-8 is kInput.
  Expected<std::string> Decode(const std::vector<int>& ids) const;

  int vocab_size() const { return vocab_size_; }
  // Special ids; -1 when the model has none.
  int bos_id() const { return bos_id_; }
  int eos_id() const { return eos_id_; }
  int unk_id() const { return unk_id_; }
  int pad_id() const { return pad_id_; }

  // "sentencepiece" or "bpe_bytelevel" (the bundle metadata's tokenizer_type).
  const char* kind() const;

  // The piece string of `id` (e.g. "▁the", "<0x0A>", byte-level "Ġthe"); kInput when out
  // of range.
  Expected<std::string> IdToPiece(int id) const;
  // The id of the exact piece, or -1 when the vocabulary has no such piece.
  int PieceToId(std::string_view piece) const;
  // Control pieces (<s>, </s>, ... ; byte-level BPE: special added tokens and unused
  // ids); false when out of range.
  bool IsControl(int id) const;
  bool IsByte(int id) const;

  const std::string& source() const { return source_; }
  // A fresh incremental decoder bound to this tokenizer (which must outlive it).
  StreamDecoder NewStreamDecoder() const;

 private:
  Tokenizer() = default;
  Status CheckIds(const std::vector<int>& ids) const;

  // Exactly one of the two is set.
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  std::unique_ptr<BpeTokenizer> bpe_;
  friend class StreamDecoder;
  std::string source_;
  int vocab_size_ = 0;
  // A plain piece (no "▁", not control/byte) the StreamDecoder decodes in front of a
  // window that does not start the text, so the window's leading "▁" stays a space as in
  // a full decode; -1 when the vocabulary has none.
  int anchor_id_ = -1;
  int bos_id_ = -1, eos_id_ = -1, unk_id_ = -1, pad_id_ = -1;
};

// Incremental detokenizer for streaming: Push(id) returns the text that token adds, so the
// concatenation of all deltas plus Flush() equals Decode(all ids). It holds text back while
// the tail is an incomplete UTF-8 sequence (byte-fallback pieces spelling one character
// over several tokens) and decodes over a sliding window so SentencePiece's leading-space
// handling ("▁" at the start of the text is dropped, elsewhere it is a space) matches a
// full decode. Cost per token is O(window), not O(tokens so far).
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer* tokenizer) : tokenizer_(tokenizer) {}

  // The new text produced by `id` (may be empty). kInput on an out-of-range id (the
  // decoder state is unchanged then).
  Expected<std::string> Push(int id);
  // Whatever is still held back (an incomplete UTF-8 tail decodes as U+FFFD), then resets.
  std::string Flush();
  // Forget everything (next Push starts a new text, as at the start of a decode).
  void Reset();
  // Every token pushed since the last Reset/Flush.
  const std::vector<int>& ids() const { return ids_; }

 private:
  // Decodes ids_[prefix_offset_, end) (behind the anchor piece unless the window starts
  // the text).
  Expected<std::string> DecodeWindow(size_t end) const;

  const Tokenizer* tokenizer_;
  std::vector<int> ids_;
  size_t prefix_offset_ = 0;  // window start
  size_t read_offset_ = 0;    // tokens up to here have been emitted
};

}  // namespace litegen

#endif  // LITEGEN_CPP_ENGINE_TOKENIZER_H_
