#include "engine/bpe_tokenizer.h"

#include <cstring>
#include <queue>
#include <utility>

#include "engine/bpe_normalizer.h"

namespace litegen {
namespace {

// GPT-2's byte <-> unicode alphabet: printable Latin-1 bytes stand for themselves, the
// other 68 bytes for U+0100.. in byte order (so "Ġ" is the space byte 0x20).
std::array<uint32_t, 256> ByteToCodePoint() {
  std::array<uint32_t, 256> table{};
  uint32_t next = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    table[b] = printable ? b : next++;
  }
  return table;
}

// Byte of an alphabet code point, -1 outside the alphabet.
int CodePointToByte(uint32_t c) {
  static const std::array<uint32_t, 256> forward = ByteToCodePoint();
  if (c >= 0x144) return -1;
  for (int b = 0; b < 256; ++b) {
    if (forward[static_cast<size_t>(b)] == c) return b;
  }
  return -1;
}

// What a token decodes to, as HF's ByteLevel decoder does it: through the alphabet when
// every character is in it, else its UTF-8 bytes unchanged. Sets *in_alphabet.
std::string TokenBytes(std::string_view text, bool* in_alphabet) {
  std::string out;
  *in_alphabet = true;
  for (size_t pos = 0; pos < text.size();) {
    const size_t len = Utf8SequenceLength(text, pos);
    const int b = CodePointToByte(DecodeUtf8(text, pos, len));
    if (b < 0) {
      *in_alphabet = false;
      return std::string(text);
    }
    out.push_back(static_cast<char>(b));
    pos += len;
  }
  return out;
}

// Bounds-checked little-endian reader over the serialized tokenizer.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool U8(uint8_t* v) { return Raw(v, 1); }
  bool U32(uint32_t* v) { return Raw(v, 4); }
  bool I32(int32_t* v) { return Raw(v, 4); }
  bool Bytes(size_t n, std::string_view* out) {
    if (n > data_.size() - pos_) return false;
    *out = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  size_t remaining() const { return data_.size() - pos_; }
  size_t pos() const { return pos_; }

 private:
  bool Raw(void* v, size_t n) {  // little-endian hosts only (x86-64, arm64)
    if (n > data_.size() - pos_) return false;
    std::memcpy(v, data_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  std::string_view data_;
  size_t pos_ = 0;
};

uint64_t PairKey(int left, int right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

constexpr uint32_t kIgnoreMerges = 1;

// Start of the code point before byte `pos` (pos > 0) of valid UTF-8 `text`.
size_t PreviousCharStart(std::string_view text, size_t pos) {
  size_t i = pos - 1;
  while (i > 0 && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) --i;
  return i;
}

}  // namespace

bool BpeTokenizer::HasMagic(std::string_view bytes) {
  return bytes.size() >= sizeof(kBpeMagic) &&
         std::memcmp(bytes.data(), kBpeMagic, sizeof(kBpeMagic)) == 0;
}

Expected<std::unique_ptr<BpeTokenizer>> BpeTokenizer::FromBytes(std::string_view bytes,
                                                                const std::string& where) {
  auto invalid = [&](const std::string& reason) {
    return Status(ErrorCode::kModelLoad,
                  where + " is not a valid byte-level BPE tokenizer: " + reason);
  };
  if (!HasMagic(bytes)) return invalid("no LGBPE01 magic");
  Reader r(bytes.substr(sizeof(kBpeMagic)));
  uint32_t pattern = 0, normalizer = 0, flags = 0, vocab_size = 0, merge_count = 0;
  int32_t bos = -1, eos = -1, pad = -1;
  if (!r.U32(&pattern) || !r.U32(&normalizer) || !r.U32(&flags) || !r.U32(&vocab_size) ||
      !r.U32(&merge_count) || !r.I32(&bos) || !r.I32(&eos) || !r.I32(&pad)) {
    return invalid("truncated header");
  }
  if (!IsKnownPreTokenizerPattern(pattern)) {
    return invalid("unknown pre-tokenizer pattern " + std::to_string(pattern));
  }
  if (normalizer > 1) return invalid("unknown normalizer " + std::to_string(normalizer));
  if ((flags & ~kIgnoreMerges) != 0) return invalid("unknown flags " + std::to_string(flags));
  // Every entry takes at least 6 bytes and every merge 12: reject sizes the data cannot
  // hold before allocating for them.
  if (vocab_size == 0 || vocab_size > r.remaining() / 6 || vocab_size > (1u << 30)) {
    return invalid("vocabulary size " + std::to_string(vocab_size) + " does not fit the data");
  }
  for (const int32_t id : {bos, eos, pad}) {
    if (id < -1 || id >= static_cast<int64_t>(vocab_size)) {
      return invalid("special token id " + std::to_string(id) + " is outside the vocabulary");
    }
  }
  std::unique_ptr<BpeTokenizer> t(new BpeTokenizer());
  t->pattern_ = static_cast<PreTokenizerPattern>(pattern);
  t->nfc_ = normalizer == 1;
  t->ignore_merges_ = (flags & kIgnoreMerges) != 0;
  t->bos_id_ = bos;
  t->eos_id_ = eos;
  t->pad_id_ = pad;
  t->byte_ids_.fill(-1);
  t->tokens_.resize(vocab_size);
  for (uint32_t id = 0; id < vocab_size; ++id) {
    const std::string at = "token " + std::to_string(id);
    uint8_t kind = 0, token_flags = 0;
    uint32_t length = 0;
    std::string_view text;
    if (!r.U8(&kind) || !r.U8(&token_flags) || !r.U32(&length) || !r.Bytes(length, &text)) {
      return invalid(at + " is truncated");
    }
    if (kind > 2) return invalid(at + " has unknown kind " + std::to_string(kind));
    if ((token_flags & ~0x1F) != 0 || (kind != 2 && token_flags != 0)) {
      return invalid(at + " has invalid flags " + std::to_string(token_flags));
    }
    if (!IsValidUtf8(text)) return invalid(at + " is not valid UTF-8");
    if (kind != 0 && text.empty()) return invalid(at + " is empty");
    if (kind == 0 && !text.empty()) return invalid(at + " is unused but has text");
    Token& token = t->tokens_[id];
    token.kind = static_cast<Kind>(kind);
    token.flags = token_flags;
    token.text = std::string(text);
    bool in_alphabet = false;
    token.bytes = TokenBytes(text, &in_alphabet);
    if (token.kind == Kind::kModel || (token.flags & kInModel) != 0) {
      // Only alphabet tokens can come out of the byte-level pipeline; the others exist
      // (HF keeps them too) but only decode.
      if (in_alphabet) {
        t->model_ids_.emplace(token.bytes, static_cast<int>(id));
        if (token.bytes.size() == 1) {
          t->byte_ids_[static_cast<unsigned char>(token.bytes[0])] = static_cast<int>(id);
        }
      }
      t->piece_ids_.emplace(token.text, static_cast<int>(id));
    }
  }

  if (merge_count > r.remaining() / 12) {
    return invalid(std::to_string(merge_count) + " merges do not fit the data");
  }
  t->merges_.reserve(merge_count);
  for (uint32_t rank = 0; rank < merge_count; ++rank) {
    uint32_t ids[3] = {0, 0, 0};
    if (!r.U32(&ids[0]) || !r.U32(&ids[1]) || !r.U32(&ids[2])) return invalid("truncated merges");
    const std::string at = "merge " + std::to_string(rank);
    for (const uint32_t id : ids) {
      if (id >= vocab_size || !t->IsModelToken(id)) {
        return invalid(at + " uses id " + std::to_string(id) + ", not a model token");
      }
    }
    if (t->tokens_[ids[2]].bytes != t->tokens_[ids[0]].bytes + t->tokens_[ids[1]].bytes) {
      return invalid(at + ": token " + std::to_string(ids[2]) + " is not the concatenation of " +
                     std::to_string(ids[0]) + " and " + std::to_string(ids[1]));
    }
    // As in HF (a map built from the list): a repeated pair keeps its last rank.
    t->merges_.insert_or_assign(PairKey(static_cast<int>(ids[0]), static_cast<int>(ids[1])),
                                std::make_pair(rank, static_cast<int>(ids[2])));
  }
  if (r.remaining() != 0) {
    return invalid(std::to_string(r.remaining()) + " unexpected bytes after the merges");
  }
  // Added tokens: HF matches them by content (added ones win over model tokens of the same
  // text in PieceToId).
  for (uint32_t id = 0; id < vocab_size; ++id) {
    const Token& token = t->tokens_[id];
    if (token.kind != Kind::kAdded) continue;
    t->piece_ids_.insert_or_assign(token.text, static_cast<int>(id));
    const bool normalized = (token.flags & kNormalized) != 0;
    AddedToken added{static_cast<int>(id),
                     normalized && t->nfc_ ? NfcNormalize(token.text) : token.text,
                     (token.flags & kLstrip) != 0, (token.flags & kRstrip) != 0};
    AddedTokenSet& set = normalized ? t->normalized_added_ : t->raw_added_;
    set.first_bytes[static_cast<unsigned char>(added.content[0])] = true;
    set.tokens.push_back(std::move(added));
  }
  return t;
}

std::vector<BpeTokenizer::Segment> BpeTokenizer::SplitAddedTokens(
    std::vector<Segment> segments, const AddedTokenSet& tokens) {
  if (tokens.tokens.empty()) return segments;
  std::vector<Segment> out;
  for (Segment& segment : segments) {
    if (segment.id >= 0) {
      out.push_back(std::move(segment));
      continue;
    }
    const std::string_view text = segment.text;
    size_t start_offset = 0;
    for (size_t pos = 0; pos < text.size();) {
      // Leftmost-longest, as HF's Aho-Corasick matcher.
      if (!tokens.first_bytes[static_cast<unsigned char>(text[pos])]) {
        ++pos;
        continue;
      }
      const AddedToken* best = nullptr;
      for (const AddedToken& token : tokens.tokens) {
        if (text.compare(pos, token.content.size(), token.content) == 0 &&
            (best == nullptr || token.content.size() > best->content.size())) {
          best = &token;
        }
      }
      if (best == nullptr) {
        ++pos;
        continue;
      }
      size_t start = pos, stop = pos + best->content.size();
      if (best->lstrip) {
        while (start > start_offset) {
          const size_t prev = PreviousCharStart(text, start);
          if (!IsUnicodeWhiteSpace(DecodeUtf8(text, prev, start - prev))) break;
          start = prev;
        }
      }
      if (best->rstrip) {
        while (stop < text.size()) {
          const size_t len = Utf8SequenceLength(text, stop);
          if (len == 0 || !IsUnicodeWhiteSpace(DecodeUtf8(text, stop, len))) break;
          stop += len;
        }
      }
      if (start_offset < start) {
        out.push_back({std::string(text.substr(start_offset, start - start_offset)), -1});
      }
      out.push_back({std::string(), best->id});
      start_offset = pos = stop;
    }
    if (start_offset < text.size()) out.push_back({std::string(text.substr(start_offset)), -1});
  }
  return out;
}

Expected<std::vector<int>> BpeTokenizer::Encode(std::string_view text) const {
  if (!IsValidUtf8(text)) {
    return Status(ErrorCode::kInput, "the text to encode is not valid UTF-8");
  }
  std::vector<Segment> segments;
  segments.push_back({std::string(text), -1});
  segments = SplitAddedTokens(std::move(segments), raw_added_);
  if (nfc_) {
    for (Segment& segment : segments) {
      if (segment.id < 0) segment.text = NfcNormalize(segment.text);
    }
  }
  segments = SplitAddedTokens(std::move(segments), normalized_added_);
  std::vector<int> ids;
  for (const Segment& segment : segments) {
    if (segment.id >= 0) {
      ids.push_back(segment.id);
      continue;
    }
    for (const std::string_view word : PreTokenize(segment.text, pattern_)) {
      EncodeWord(word, &ids);
    }
  }
  return ids;
}

void BpeTokenizer::EncodeWord(std::string_view word, std::vector<int>* ids) const {
  if (ignore_merges_) {
    if (auto it = model_ids_.find(std::string(word)); it != model_ids_.end()) {
      ids->push_back(it->second);
      return;
    }
  }
  struct Symbol {
    int id;
    int prev, next;
    bool alive;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  for (const char c : word) {
    const int id = byte_ids_[static_cast<unsigned char>(c)];
    if (id < 0) continue;  // HF drops bytes without a token when there is no unk token
    const int index = static_cast<int>(symbols.size());
    symbols.push_back({id, index - 1, index + 1, true});
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;

  struct Candidate {
    uint32_t rank;
    int pos;
    int merged_id;
  };
  // Lowest rank first, then leftmost (the order of HF's merge queue).
  auto later = [](const Candidate& a, const Candidate& b) {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  };
  std::priority_queue<Candidate, std::vector<Candidate>, decltype(later)> queue(later);
  auto push_pair = [&](int pos) {
    const int next = symbols[static_cast<size_t>(pos)].next;
    if (next < 0) return;
    const auto it = merges_.find(
        PairKey(symbols[static_cast<size_t>(pos)].id, symbols[static_cast<size_t>(next)].id));
    if (it != merges_.end()) queue.push({it->second.first, pos, it->second.second});
  };
  for (int i = 0; i + 1 < static_cast<int>(symbols.size()); ++i) push_pair(i);
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[static_cast<size_t>(top.pos)];
    if (!left.alive || left.next < 0) continue;
    Symbol& right = symbols[static_cast<size_t>(left.next)];
    const auto it = merges_.find(PairKey(left.id, right.id));
    if (it == merges_.end() || it->second.second != top.merged_id) continue;  // stale
    left.id = top.merged_id;
    right.alive = false;
    left.next = right.next;
    if (left.next >= 0) symbols[static_cast<size_t>(left.next)].prev = top.pos;
    if (left.prev >= 0) push_pair(left.prev);
    push_pair(top.pos);
  }
  for (const Symbol& s : symbols) {
    if (s.alive) ids->push_back(s.id);
  }
}

std::string BpeTokenizer::Decode(const std::vector<int>& ids) const {
  std::string bytes;
  for (const int id : ids) {
    if (IsControl(id)) continue;
    bytes += tokens_[static_cast<size_t>(id)].bytes;
  }
  return Utf8Lossy(bytes);
}

int BpeTokenizer::PieceToId(std::string_view piece) const {
  const auto it = piece_ids_.find(std::string(piece));
  return it == piece_ids_.end() ? -1 : it->second;
}

bool BpeTokenizer::IsControl(int id) const {
  if (id < 0 || id >= vocab_size()) return false;
  const Token& token = tokens_[static_cast<size_t>(id)];
  return token.kind == Kind::kUnused || (token.kind == Kind::kAdded && (token.flags & kSpecial));
}

}  // namespace litegen
