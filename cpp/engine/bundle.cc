#include "engine/bundle.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <type_traits>
#include <utility>

#include "engine/bpe_tokenizer.h"

namespace litegen {
namespace {

// ---- File access --------------------------------------------------------------------

class File {
 public:
  ~File() {
    if (fd_ >= 0) ::close(fd_);
  }
  Status Open(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
      return Status(ErrorCode::kModelLoad,
                    "cannot open bundle '" + path + "': " + std::strerror(errno));
    }
    struct stat st {};
    if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
      return Status(ErrorCode::kModelLoad, "cannot open bundle '" + path + "': not a regular file");
    }
    size_ = static_cast<uint64_t>(st.st_size);
    return Status::Ok();
  }
  uint64_t size() const { return size_; }
  bool Read(uint64_t offset, size_t len, void* out) const {
    auto* dst = static_cast<char*>(out);
    while (len > 0) {
      const ssize_t n = ::pread(fd_, dst, len, static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      dst += n;
      offset += static_cast<uint64_t>(n);
      len -= static_cast<size_t>(n);
    }
    return true;
  }

 private:
  int fd_ = -1;
  uint64_t size_ = 0;
};

uint32_t LoadU32(const unsigned char* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}
uint64_t LoadU64(const unsigned char* p) { return LoadU32(p) | uint64_t{LoadU32(p + 4)} << 32; }

// ---- A small JSON reader (the metadata section) ----------------------------------------

struct Json {
  enum Type { kNull, kBool, kNumber, kString, kArray, kObject } type = kNull;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Json> array;
  std::vector<std::pair<std::string, Json>> object;

  const Json* Find(const std::string& key) const {
    for (const auto& [k, v] : object) {
      if (k == key) return &v;
    }
    return nullptr;
  }
};

class JsonParser {
 public:
  explicit JsonParser(const std::string& text) : s_(text) {}

  bool Parse(Json* out, std::string* error) {
    const bool ok = Value(out, 0) && (SkipSpace(), pos_ == s_.size());
    if (!ok) *error = error_.empty() ? "unexpected data at byte " + std::to_string(pos_) : error_;
    return ok;
  }

 private:
  bool Fail(const std::string& what) {
    if (error_.empty()) error_ = what + " at byte " + std::to_string(pos_);
    return false;
  }
  void SkipSpace() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\r' ||
                                s_[pos_] == '\t')) {
      ++pos_;
    }
  }
  bool Literal(const char* word) {
    const size_t n = std::strlen(word);
    if (s_.compare(pos_, n, word) != 0) return Fail("invalid literal");
    pos_ += n;
    return true;
  }
  bool Value(Json* out, int depth) {
    if (depth > 64) return Fail("nesting too deep");
    SkipSpace();
    if (pos_ >= s_.size()) return Fail("unexpected end");
    const char c = s_[pos_];
    if (c == '{') return Object(out, depth);
    if (c == '[') return Array(out, depth);
    if (c == '"') {
      out->type = Json::kString;
      return String(&out->string);
    }
    if (c == 't') {
      out->type = Json::kBool;
      out->boolean = true;
      return Literal("true");
    }
    if (c == 'f') {
      out->type = Json::kBool;
      return Literal("false");
    }
    if (c == 'n') {
      out->type = Json::kNull;
      return Literal("null");
    }
    return Number(out);
  }
  bool Number(Json* out) {
    const size_t start = pos_;
    if (pos_ < s_.size() && s_[pos_] == '-') ++pos_;
    while (pos_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[pos_])) ||
                                s_[pos_] == '.' || s_[pos_] == 'e' || s_[pos_] == 'E' ||
                                s_[pos_] == '+' || s_[pos_] == '-')) {
      ++pos_;
    }
    if (pos_ == start) return Fail("unexpected character");
    const std::string token = s_.substr(start, pos_ - start);
    char* end = nullptr;
    out->number = std::strtod(token.c_str(), &end);
    if (end != token.c_str() + token.size() || !std::isfinite(out->number)) {
      return Fail("invalid number");
    }
    out->type = Json::kNumber;
    return true;
  }
  bool Hex4(uint32_t* cp) {
    if (s_.size() - pos_ < 4) return Fail("truncated \\u escape");
    *cp = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = s_[pos_++];
      *cp <<= 4;
      if (h >= '0' && h <= '9') *cp |= static_cast<uint32_t>(h - '0');
      else if (h >= 'a' && h <= 'f') *cp |= static_cast<uint32_t>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') *cp |= static_cast<uint32_t>(h - 'A' + 10);
      else return Fail("invalid \\u escape");
    }
    return true;
  }
  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  bool String(std::string* out) {
    ++pos_;  // opening quote
    while (pos_ < s_.size()) {
      const char c = s_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return Fail("control character in string");
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) break;
      const char e = s_[pos_++];
      switch (e) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          uint32_t cp = 0;
          if (!Hex4(&cp)) return false;
          if (cp >= 0xD800 && cp < 0xDC00 && s_.compare(pos_, 2, "\\u") == 0) {
            pos_ += 2;
            uint32_t low = 0;
            if (!Hex4(&low)) return false;
            if (low < 0xDC00 || low >= 0xE000) return Fail("invalid surrogate pair");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xD800 && cp < 0xE000) {
            cp = 0xFFFD;  // lone surrogate
          }
          AppendUtf8(cp, out);
          break;
        }
        default: return Fail("invalid escape");
      }
    }
    return Fail("unterminated string");
  }
  bool Array(Json* out, int depth) {
    out->type = Json::kArray;
    ++pos_;
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == ']') return ++pos_, true;
    while (true) {
      out->array.emplace_back();
      if (!Value(&out->array.back(), depth + 1)) return false;
      SkipSpace();
      if (pos_ < s_.size() && s_[pos_] == ',') { ++pos_; continue; }
      if (pos_ < s_.size() && s_[pos_] == ']') return ++pos_, true;
      return Fail("expected ',' or ']'");
    }
  }
  bool Object(Json* out, int depth) {
    out->type = Json::kObject;
    ++pos_;
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == '}') return ++pos_, true;
    while (true) {
      SkipSpace();
      if (pos_ >= s_.size() || s_[pos_] != '"') return Fail("expected a key");
      std::string key;
      if (!String(&key)) return false;
      SkipSpace();
      if (pos_ >= s_.size() || s_[pos_] != ':') return Fail("expected ':'");
      ++pos_;
      Json value;
      if (!Value(&value, depth + 1)) return false;
      out->object.emplace_back(std::move(key), std::move(value));
      SkipSpace();
      if (pos_ < s_.size() && s_[pos_] == ',') { ++pos_; continue; }
      if (pos_ < s_.size() && s_[pos_] == '}') return ++pos_, true;
      return Fail("expected ',' or '}'");
    }
  }

  const std::string& s_;
  size_t pos_ = 0;
  std::string error_;
};

bool IsInt(const Json* v) {
  return v && v->type == Json::kNumber && std::floor(v->number) == v->number &&
         std::fabs(v->number) < 9.0e15;
}

// Fills `meta` from the metadata JSON; returns an empty string or the reason it is invalid.
std::string ParseMetadata(const std::string& text, BundleMetadata* meta) {
  Json root;
  std::string error;
  if (!JsonParser(text).Parse(&root, &error)) return "metadata is not valid JSON (" + error + ")";
  if (root.type != Json::kObject) return "metadata is not a JSON object";

  auto get_string = [&](const char* key, std::string* out, bool required) -> std::string {
    const Json* v = root.Find(key);
    if (!v || v->type == Json::kNull) return required ? std::string("metadata has no '") + key + "'" : "";
    if (v->type != Json::kString) return std::string("metadata '") + key + "' is not a string";
    *out = v->string;
    return "";
  };
  auto get_int = [&](const char* key, auto* out, bool required) -> std::string {
    const Json* v = root.Find(key);
    if (!v || v->type == Json::kNull) return required ? std::string("metadata has no '") + key + "'" : "";
    if (!IsInt(v)) return std::string("metadata '") + key + "' is not an integer";
    *out = static_cast<std::remove_pointer_t<decltype(out)>>(v->number);
    return "";
  };

  std::string e;
  if (!(e = get_int("format_version", &meta->format_version, true)).empty()) return e;
  if (!(e = get_string("litegen_version", &meta->litegen_version, false)).empty()) return e;
  if (!(e = get_string("source_checkpoint", &meta->source_checkpoint, false)).empty()) return e;
  if (!(e = get_string("model_type", &meta->model_type, false)).empty()) return e;
  if (!(e = get_string("quant_recipe", &meta->quant_recipe, false)).empty()) return e;
  if (!(e = get_string("export_form", &meta->export_form, false)).empty()) return e;
  if (!(e = get_int("context_size", &meta->context_size, true)).empty()) return e;
  if (meta->context_size <= 0) return "metadata 'context_size' must be positive";
  if (!(e = get_string("tokenizer_type", &meta->tokenizer_type, true)).empty()) return e;
  if (!(e = get_int("vocab_size", &meta->vocab_size, false)).empty()) return e;
  if (!(e = get_int("bos_token_id", &meta->bos_token_id, false)).empty()) return e;
  if (!(e = get_int("pad_token_id", &meta->pad_token_id, false)).empty()) return e;
  if (!(e = get_string("chat_template", &meta->chat_template, false)).empty()) return e;

  if (const Json* v = root.Find("add_bos_token"); v && v->type != Json::kNull) {
    if (v->type != Json::kBool) return "metadata 'add_bos_token' is not a boolean";
    meta->add_bos_token = v->boolean;
  }
  const Json* signatures = root.Find("signatures");
  if (!signatures || signatures->type != Json::kArray) {
    return "metadata 'signatures' is missing or not a list";
  }
  for (const Json& s : signatures->array) {
    if (s.type != Json::kString) return "metadata 'signatures' holds a non-string";
    meta->signatures.push_back(s.string);
  }
  if (const Json* v = root.Find("eos_token_ids"); v && v->type != Json::kNull) {
    if (v->type != Json::kArray) return "metadata 'eos_token_ids' is not a list";
    for (const Json& id : v->array) {
      if (!IsInt(&id)) return "metadata 'eos_token_ids' holds a non-integer";
      meta->eos_token_ids.push_back(static_cast<int>(id.number));
    }
  }
  return "";
}

}  // namespace

uint32_t Crc32(const void* data, size_t size, uint32_t crc) {
  static const auto* table = [] {
    auto* t = new uint32_t[256];
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

Expected<std::unique_ptr<Tokenizer>> LoadBundleTokenizer(const BundleInfo& info) {
  // The section kind, not the bytes, decides the tokenizer kind.
  const bool bpe_section = info.tokenizer_kind == BundleSectionKind::kTokenizerBpeByteLevel;
  if (bpe_section != BpeTokenizer::HasMagic(info.tokenizer_model)) {
    return Status(ErrorCode::kModelLoad, "bundle '" + info.path + "' is corrupt: the tokenizer "
                                         "section does not hold a tokenizer of its kind");
  }
  return Tokenizer::FromModelBytes(info.tokenizer_model, "bundle '" + info.path + "'");
}

Expected<bool> IsBundleFile(const std::string& path) {
  File file;
  LITEGEN_RETURN_IF_ERROR(file.Open(path));
  if (file.size() < kBundleFooterSize) return false;
  char magic[8];
  if (!file.Read(file.size() - kBundleFooterSize, sizeof(magic), magic)) {
    return Status(ErrorCode::kModelLoad, "cannot read bundle '" + path + "'");
  }
  return std::memcmp(magic, kBundleMagic, sizeof(magic)) == 0;
}

Expected<BundleInfo> OpenBundle(const std::string& path) {
  File file;
  LITEGEN_RETURN_IF_ERROR(file.Open(path));
  const std::string where = "bundle '" + path + "'";
  auto corrupt = [&](const std::string& reason) {
    return Status(ErrorCode::kModelLoad, where + " is corrupt: " + reason);
  };
  const uint64_t size = file.size();
  if (size < kBundleFooterSize) {
    return Status(ErrorCode::kModelLoad, where + " is not a litegen bundle: the file has only " +
                                             std::to_string(size) + " bytes (truncated?)");
  }
  const uint64_t footer_pos = size - kBundleFooterSize;
  unsigned char footer[kBundleFooterSize];
  if (!file.Read(footer_pos, sizeof(footer), footer)) {
    return Status(ErrorCode::kModelLoad, "cannot read " + where);
  }
  if (std::memcmp(footer, kBundleMagic, sizeof(kBundleMagic)) != 0) {
    return Status(ErrorCode::kModelLoad,
                  where + " is not a litegen bundle: no \"LITEGEN\" footer magic at byte " +
                      std::to_string(footer_pos) + " (not a bundle, truncated or corrupt)");
  }
  BundleInfo info;
  info.path = path;
  info.file_size = size;
  info.format_version = LoadU32(footer + 8);
  const uint32_t footer_size = LoadU32(footer + 12);
  info.model_offset = LoadU64(footer + 16);
  info.model_size = LoadU64(footer + 24);
  const uint64_t table_offset = LoadU64(footer + 32);
  const uint64_t table_size = LoadU64(footer + 40);
  const uint32_t checksum = LoadU32(footer + 48);
  const uint64_t recorded_size = LoadU64(footer + 56);

  if (info.format_version != kBundleFormatVersion) {
    return Status(ErrorCode::kModelLoad,
                  where + " has format version " + std::to_string(info.format_version) +
                      "; this litegen reads version " + std::to_string(kBundleFormatVersion));
  }
  if (footer_size != kBundleFooterSize) {
    return corrupt("footer size " + std::to_string(footer_size) + " is not " +
                   std::to_string(kBundleFooterSize));
  }
  if (LoadU32(footer + 52) != 0) return corrupt("the reserved footer field is not zero");
  if (recorded_size != size) {
    return corrupt("the footer records a file of " + std::to_string(recorded_size) +
                   " bytes, but the file has " + std::to_string(size) + " (truncated or appended to)");
  }
  if (info.model_offset != 0) return corrupt("the model does not start at byte 0");
  if (info.model_size < 8 || info.model_size > footer_pos) {
    return corrupt("model size " + std::to_string(info.model_size) + " is outside the file");
  }
  if (table_size % kBundleSectionEntrySize != 0 || table_size / kBundleSectionEntrySize > 1024 ||
      table_offset < info.model_size || table_offset > footer_pos ||
      table_size > footer_pos - table_offset) {
    return corrupt("the section table (" + std::to_string(table_size) + " bytes at byte " +
                   std::to_string(table_offset) + ") is outside the sections area [" +
                   std::to_string(info.model_size) + ", " + std::to_string(footer_pos) + ")");
  }

  // Checksum: every byte after the model up to the footer, then the footer's first 48 bytes.
  uint32_t crc = 0;
  {
    std::vector<unsigned char> chunk(1 << 16);
    for (uint64_t pos = info.model_size; pos < footer_pos;) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk.size(), footer_pos - pos));
      if (!file.Read(pos, n, chunk.data())) return Status(ErrorCode::kModelLoad, "cannot read " + where);
      crc = Crc32(chunk.data(), n, crc);
      pos += n;
    }
    crc = Crc32(footer, 48, crc);
  }
  if (crc != checksum) {
    return corrupt("checksum mismatch (stored " + std::to_string(checksum) + ", computed " +
                   std::to_string(crc) + ")");
  }

  std::vector<unsigned char> table(static_cast<size_t>(table_size));
  if (!table.empty() && !file.Read(table_offset, table.size(), table.data())) {
    return Status(ErrorCode::kModelLoad, "cannot read " + where);
  }
  bool have_tokenizer = false, have_metadata = false;
  for (size_t i = 0; i < table.size() / kBundleSectionEntrySize; ++i) {
    const unsigned char* entry = table.data() + i * kBundleSectionEntrySize;
    const uint32_t kind = LoadU32(entry);
    const uint64_t offset = LoadU64(entry + 8);
    const uint64_t length = LoadU64(entry + 16);
    const std::string name = "section " + std::to_string(i) + " (kind " + std::to_string(kind) + ")";
    if (offset < info.model_size || offset > table_offset || length > table_offset - offset) {
      return corrupt(name + " (" + std::to_string(length) + " bytes at byte " +
                     std::to_string(offset) + ") is out of range");
    }
    if (offset % kBundleAlignment != 0) return corrupt(name + " is not 64-byte aligned");
    std::string* dest = nullptr;
    if (kind == static_cast<uint32_t>(BundleSectionKind::kTokenizerSentencePiece) ||
        kind == static_cast<uint32_t>(BundleSectionKind::kTokenizerBpeByteLevel)) {
      if (have_tokenizer) return corrupt("two tokenizer sections");
      have_tokenizer = true;
      info.tokenizer_kind = static_cast<BundleSectionKind>(kind);
      dest = &info.tokenizer_model;
    } else if (kind == static_cast<uint32_t>(BundleSectionKind::kMetadataJson)) {
      if (have_metadata) return corrupt("two metadata sections");
      have_metadata = true;
      dest = &info.metadata_json;
    } else {
      continue;  // unknown kinds are skipped (added by newer writers)
    }
    dest->resize(static_cast<size_t>(length));
    if (length > 0 && !file.Read(offset, dest->size(), dest->data())) {
      return Status(ErrorCode::kModelLoad, "cannot read " + where);
    }
  }
  if (!have_tokenizer) return corrupt("no tokenizer section");
  if (!have_metadata) return corrupt("no metadata section");
  if (info.tokenizer_model.empty()) return corrupt("the tokenizer section is empty");
  const std::string reason = ParseMetadata(info.metadata_json, &info.metadata);
  if (!reason.empty()) return corrupt(reason);
  if (info.metadata.format_version != static_cast<int>(info.format_version)) {
    return corrupt("metadata format_version " + std::to_string(info.metadata.format_version) +
                   " differs from the footer's " + std::to_string(info.format_version));
  }
  const std::string& type = info.metadata.tokenizer_type;
  if (type != "sentencepiece" && type != "bpe_bytelevel") {
    return Status(ErrorCode::kModelLoad, where + " has tokenizer type '" + type +
                                             "'; this litegen reads 'sentencepiece' and "
                                             "'bpe_bytelevel'");
  }
  const bool bpe_section = info.tokenizer_kind == BundleSectionKind::kTokenizerBpeByteLevel;
  if (bpe_section != (type == "bpe_bytelevel")) {
    return corrupt("metadata tokenizer_type '" + type + "' does not match the tokenizer section");
  }
  return info;
}

}  // namespace litegen
