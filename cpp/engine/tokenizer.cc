#include "engine/tokenizer.h"

#include <sentencepiece_processor.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "engine/bpe_tokenizer.h"

namespace litegen {
namespace {

// SentencePiece decodes an incomplete byte-fallback sequence as U+FFFD (EF BF BD); a text
// ending that way (or in a truncated UTF-8 sequence) may still change with the next token.
bool HasUnstableTail(const std::string& text) {
  static const std::string kReplacement = "\xEF\xBF\xBD";
  if (text.size() >= kReplacement.size() &&
      text.compare(text.size() - kReplacement.size(), kReplacement.size(), kReplacement) == 0) {
    return true;
  }
  // A lead byte without all of its continuation bytes.
  size_t i = text.size();
  size_t continuation = 0;
  while (i > 0 && continuation < 4) {
    const unsigned char c = static_cast<unsigned char>(text[i - 1]);
    if ((c & 0xC0) != 0x80) {
      size_t need = 0;
      if ((c & 0xE0) == 0xC0) need = 1;
      else if ((c & 0xF0) == 0xE0) need = 2;
      else if ((c & 0xF8) == 0xF0) need = 3;
      return need > continuation;
    }
    ++continuation;
    --i;
  }
  return false;
}

// ---- Pre-validation of the parts of a model SentencePiece trusts --------------------------
//
// SentencePiece parses the ModelProto safely but trusts the "precompiled_charsmap" of the
// (de)normalizer spec: a Darts double-array trie walked with unchecked indices, whose
// values index a blob of NUL-terminated strings. A corrupted charsmap makes Encode read
// out of bounds (found by fuzzing), so we check every index the walk can reach first.

// Minimal protobuf wire-format reader: finds length-delimited field `field` of a message.
bool ReadVarint(std::string_view data, size_t* pos, uint64_t* value) {
  *value = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*pos >= data.size()) return false;
    const auto byte = static_cast<unsigned char>(data[(*pos)++]);
    *value |= uint64_t{byte & 0x7Fu} << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

// Visits every length-delimited field numbered `field`; false on malformed wire data.
template <typename Fn>
bool ForEachBytesField(std::string_view message, uint32_t field, Fn&& fn) {
  size_t pos = 0;
  while (pos < message.size()) {
    uint64_t key = 0;
    if (!ReadVarint(message, &pos, &key)) return false;
    const uint32_t wire_type = key & 7;
    uint64_t value = 0;
    switch (wire_type) {
      case 0:
        if (!ReadVarint(message, &pos, &value)) return false;
        break;
      case 1:
        if (message.size() - pos < 8) return false;
        pos += 8;
        break;
      case 5:
        if (message.size() - pos < 4) return false;
        pos += 4;
        break;
      case 2: {
        if (!ReadVarint(message, &pos, &value) || value > message.size() - pos) return false;
        const std::string_view payload = message.substr(pos, static_cast<size_t>(value));
        pos += static_cast<size_t>(value);
        if ((key >> 3) == field && !fn(payload)) return false;
        break;
      }
      default:
        return false;  // groups (3/4) are not used by sentencepiece_model.proto
    }
  }
  return true;
}

// Checks a precompiled charsmap: <u32 trie size><Darts units><NUL-terminated strings>.
// Returns an empty string or the reason it is unsafe.
std::string CheckCharsMap(std::string_view blob) {
  if (blob.empty()) return "";
  uint32_t trie_size = 0;
  if (blob.size() <= 4) return "truncated charsmap";
  std::memcpy(&trie_size, blob.data(), 4);  // little-endian hosts only (x86-64, arm64)
  if (trie_size >= blob.size() - 4 + 1 || trie_size % 4 != 0 || trie_size == 0) {
    return "charsmap trie size " + std::to_string(trie_size) + " does not fit the charsmap";
  }
  const std::string_view trie = blob.substr(4, trie_size);
  const std::string_view strings = blob.substr(4 + trie_size);
  const size_t n = trie_size / 4;
  auto unit = [&](size_t i) {
    uint32_t u = 0;
    std::memcpy(&u, trie.data() + 4 * i, 4);
    return u;
  };
  auto offset = [](uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); };
  auto has_leaf = [](uint32_t u) { return ((u >> 8) & 1) != 0; };
  auto label = [](uint32_t u) { return u & ((1u << 31) | 0xFF); };
  // Walk every node reachable from the root the way commonPrefixSearch does.
  std::vector<uint8_t> seen(n, 0);
  std::vector<size_t> stack = {0};
  seen[0] = 1;
  while (!stack.empty()) {
    const size_t p = stack.back();
    stack.pop_back();
    const uint32_t u = unit(p);
    const size_t base = p ^ offset(u);
    if ((base | 0xFF) >= n) return "charsmap trie node " + std::to_string(p) + " points outside";
    if (p != 0 && has_leaf(u)) {
      const uint32_t value = unit(base) & 0x7FFFFFFFu;
      if (value >= strings.size() ||
          strings.find('\0', value) == std::string_view::npos) {
        return "charsmap trie value " + std::to_string(value) + " is outside the strings";
      }
    }
    for (uint32_t c = 0; c < 256; ++c) {
      const size_t child = base ^ c;
      if (!seen[child] && label(unit(child)) == c) {
        seen[child] = 1;
        stack.push_back(child);
      }
    }
  }
  return "";
}

// ModelProto: normalizer_spec = 3, denormalizer_spec = 5; NormalizerSpec:
// precompiled_charsmap = 2.
std::string CheckModelProto(std::string_view bytes) {
  std::string problem;
  auto check_spec = [&](std::string_view spec) {
    return ForEachBytesField(spec, 2, [&](std::string_view charsmap) {
      problem = CheckCharsMap(charsmap);
      return problem.empty();
    });
  };
  for (const uint32_t field : {3u, 5u}) {
    if (!ForEachBytesField(bytes, field, check_spec)) {
      return problem.empty() ? "malformed protobuf data" : problem;
    }
  }
  return "";
}

bool StartsWith(const std::string& text, const std::string& prefix) {
  return text.size() >= prefix.size() && text.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

Tokenizer::~Tokenizer() = default;

Expected<std::unique_ptr<Tokenizer>> Tokenizer::FromModelBytes(std::string_view bytes,
                                                               const std::string& source) {
  const std::string where = "tokenizer model '" + source + "'";
  if (bytes.empty()) return Status(ErrorCode::kModelLoad, where + " is empty");
  if (BpeTokenizer::HasMagic(bytes)) {
    auto bpe = BpeTokenizer::FromBytes(bytes, where);
    if (!bpe.ok()) return bpe.status();
    std::unique_ptr<Tokenizer> tokenizer(new Tokenizer());
    tokenizer->bpe_ = std::move(bpe).value();
    tokenizer->source_ = source;
    tokenizer->vocab_size_ = tokenizer->bpe_->vocab_size();
    tokenizer->bos_id_ = tokenizer->bpe_->bos_id();
    tokenizer->eos_id_ = tokenizer->bpe_->eos_id();
    tokenizer->pad_id_ = tokenizer->bpe_->pad_id();
    return tokenizer;  // no anchor needed: byte-level decoding has no leading-space rule
  }
  if (const std::string problem = CheckModelProto(bytes); !problem.empty()) {
    return Status(ErrorCode::kModelLoad,
                  where + " is not a valid SentencePiece model: " + problem);
  }
  std::unique_ptr<Tokenizer> tokenizer(new Tokenizer());
  tokenizer->sp_ = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const auto status = tokenizer->sp_->LoadFromSerializedProto(
      absl::string_view(bytes.data(), bytes.size()));
  if (!status.ok()) {
    return Status(ErrorCode::kModelLoad,
                  where + " is not a valid SentencePiece model: " + status.ToString());
  }
  const int size = tokenizer->sp_->GetPieceSize();
  if (size <= 0) return Status(ErrorCode::kModelLoad, where + " has an empty vocabulary");
  tokenizer->source_ = source;
  tokenizer->vocab_size_ = size;
  auto special = [size](int id) { return id >= 0 && id < size ? id : -1; };
  tokenizer->bos_id_ = special(tokenizer->sp_->bos_id());
  tokenizer->eos_id_ = special(tokenizer->sp_->eos_id());
  tokenizer->unk_id_ = special(tokenizer->sp_->unk_id());
  tokenizer->pad_id_ = special(tokenizer->sp_->pad_id());
  for (int id = 0; id < size; ++id) {
    const auto& sp = *tokenizer->sp_;
    if (sp.IsControl(id) || sp.IsUnknown(id) || sp.IsUnused(id) || sp.IsByte(id)) continue;
    const std::string piece = sp.IdToPiece(id);
    if (piece.empty() || piece.find("\xE2\x96\x81") != std::string::npos) continue;
    tokenizer->anchor_id_ = id;
    break;
  }
  return tokenizer;
}

Expected<std::unique_ptr<Tokenizer>> Tokenizer::FromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status(ErrorCode::kModelLoad, "cannot open tokenizer model '" + path + "'");
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) {
    return Status(ErrorCode::kModelLoad, "cannot read tokenizer model '" + path + "'");
  }
  return FromModelBytes(buffer.str(), path);
}

Status Tokenizer::CheckIds(const std::vector<int>& ids) const {
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab_size_) {
      return Status(ErrorCode::kInput, "token id " + std::to_string(ids[i]) + " at position " +
                                           std::to_string(i) + " is outside the vocabulary [0, " +
                                           std::to_string(vocab_size_) + ") of tokenizer '" +
                                           source_ + "'");
    }
  }
  return Status::Ok();
}

Expected<std::vector<int>> Tokenizer::Encode(std::string_view text, bool add_bos,
                                             bool add_eos) const {
  if (add_bos && bos_id_ < 0) {
    return Status(ErrorCode::kInvalidArgument, "tokenizer '" + source_ + "' has no BOS token");
  }
  if (add_eos && eos_id_ < 0) {
    return Status(ErrorCode::kInvalidArgument, "tokenizer '" + source_ + "' has no EOS token");
  }
  std::vector<int> ids;
  if (bpe_) {
    auto encoded = bpe_->Encode(text);
    if (!encoded.ok()) {
      return Status(ErrorCode::kInput, "tokenizer '" + source_ + "' cannot encode the text: " +
                                           encoded.status().message());
    }
    ids = std::move(encoded).value();
    if (add_bos) ids.insert(ids.begin(), bos_id_);
    if (add_eos) ids.push_back(eos_id_);
    return ids;
  }
  const auto status = sp_->Encode(absl::string_view(text.data(), text.size()), &ids);
  if (!status.ok()) {
    return Status(ErrorCode::kInput, "tokenizer '" + source_ + "' cannot encode the text: " +
                                         status.ToString());
  }
  if (add_bos) ids.insert(ids.begin(), bos_id_);
  if (add_eos) ids.push_back(eos_id_);
  return ids;
}

Expected<std::string> Tokenizer::Decode(const std::vector<int>& ids) const {
  LITEGEN_RETURN_IF_ERROR(CheckIds(ids));
  if (bpe_) return bpe_->Decode(ids);
  std::string text;
  const auto status = sp_->Decode(ids, &text);
  if (!status.ok()) {
    return Status(ErrorCode::kInput, "tokenizer '" + source_ + "' cannot decode the ids: " +
                                         status.ToString());
  }
  return text;
}

Expected<std::string> Tokenizer::IdToPiece(int id) const {
  LITEGEN_RETURN_IF_ERROR(CheckIds({id}));
  if (bpe_) return bpe_->Piece(id);
  return sp_->IdToPiece(id);
}

const char* Tokenizer::kind() const { return bpe_ ? "bpe_bytelevel" : "sentencepiece"; }

int Tokenizer::PieceToId(std::string_view piece) const {
  if (bpe_) return bpe_->PieceToId(piece);
  const int id = sp_->PieceToId(absl::string_view(piece.data(), piece.size()));
  if (id < 0 || id >= vocab_size_) return -1;
  // Unknown pieces map to unk_id: only an exact match counts.
  return sp_->IdToPiece(id) == piece ? id : -1;
}

bool Tokenizer::IsControl(int id) const {
  if (bpe_) return bpe_->IsControl(id);
  return id >= 0 && id < vocab_size_ && (sp_->IsControl(id) || sp_->IsUnused(id));
}

bool Tokenizer::IsByte(int id) const { return !bpe_ && id >= 0 && id < vocab_size_ && sp_->IsByte(id); }

StreamDecoder Tokenizer::NewStreamDecoder() const { return StreamDecoder(this); }

// ---- StreamDecoder ----------------------------------------------------------------------

Expected<std::string> StreamDecoder::Push(int id) {
  if (id < 0 || id >= tokenizer_->vocab_size()) {
    return Status(ErrorCode::kInput, "token id " + std::to_string(id) +
                                         " is outside the vocabulary [0, " +
                                         std::to_string(tokenizer_->vocab_size()) + ")");
  }
  ids_.push_back(id);
  auto prefix_text = DecodeWindow(read_offset_);
  auto new_text_or = DecodeWindow(ids_.size());
  if (!prefix_text.ok() || !new_text_or.ok()) {
    ids_.pop_back();
    return prefix_text.ok() ? new_text_or.status() : prefix_text.status();
  }
  const std::string& new_text = new_text_or.value();
  if (new_text.size() > prefix_text->size() && !HasUnstableTail(new_text) &&
      StartsWith(new_text, *prefix_text)) {
    std::string delta = new_text.substr(prefix_text->size());
    prefix_offset_ = read_offset_;
    read_offset_ = ids_.size();
    return delta;
  }
  return std::string();
}

std::string StreamDecoder::Flush() {
  std::string delta;
  if (read_offset_ < ids_.size()) {
    auto prefix_text = DecodeWindow(read_offset_);
    auto new_text = DecodeWindow(ids_.size());
    if (prefix_text.ok() && new_text.ok() && StartsWith(*new_text, *prefix_text)) {
      delta = new_text->substr(prefix_text->size());
    }
  }
  Reset();
  return delta;
}

Expected<std::string> StreamDecoder::DecodeWindow(size_t end) const {
  std::vector<int> window;
  window.reserve(end - prefix_offset_ + 1);
  // Past the start of the text, SentencePiece must not drop the window's leading "▁"
  // (a full decode keeps it as a space): decode behind a plain anchor piece. The anchor's
  // text is the same in both windows Push compares, so it cancels out of the delta.
  if (prefix_offset_ > 0 && tokenizer_->anchor_id_ >= 0) window.push_back(tokenizer_->anchor_id_);
  window.insert(window.end(), ids_.begin() + static_cast<std::ptrdiff_t>(prefix_offset_),
                ids_.begin() + static_cast<std::ptrdiff_t>(end));
  return tokenizer_->Decode(window);
}

void StreamDecoder::Reset() {
  ids_.clear();
  prefix_offset_ = 0;
  read_offset_ = 0;
}

}  // namespace litegen
