#include "engine/pretokenizer.h"

#include <algorithm>
#include <iterator>

#include "engine/pretokenizer_tables.h"

namespace litegen {
namespace {

using unicode_tables::CodeRange;

template <size_t N>
bool InRanges(const CodeRange (&ranges)[N], uint32_t c) {
  const CodeRange* end = ranges + N;
  const CodeRange* it =
      std::upper_bound(ranges, end, c, [](uint32_t v, const CodeRange& r) { return v < r.first; });
  return it != ranges && c <= std::prev(it)->last;
}

template <size_t N>
bool InList(const uint32_t (&list)[N], uint32_t c) {
  return std::find(list, list + N, c) != list + N;
}

// The regex classes the patterns use: \p{L}, \p{N}, \s and everything else.
enum class CharClass : uint8_t { kLetter, kNumber, kSpace, kOther };

CharClass Classify(uint32_t c) {
  if (c < 0x80) {  // ASCII fast path (same answers as the tables)
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return CharClass::kLetter;
    if (c >= '0' && c <= '9') return CharClass::kNumber;
    if (c == ' ' || (c >= 0x09 && c <= 0x0D)) return CharClass::kSpace;
    return CharClass::kOther;
  }
  if (InRanges(unicode_tables::kLetter, c)) return CharClass::kLetter;
  if (InRanges(unicode_tables::kNumber, c)) return CharClass::kNumber;
  if (InRanges(unicode_tables::kSpace, c)) return CharClass::kSpace;
  return CharClass::kOther;
}

// The text as code points with their classes; the matchers index these.
struct Chars {
  std::vector<uint32_t> cp;
  std::vector<CharClass> cls;
  std::vector<size_t> offset;  // byte offset of each code point, plus the text size

  size_t size() const { return cp.size(); }
  bool Is(size_t i, CharClass c) const { return i < cp.size() && cls[i] == c; }
  bool IsCrLf(size_t i) const { return i < cp.size() && (cp[i] == '\r' || cp[i] == '\n'); }
  bool IsChar(size_t i, uint32_t c) const { return i < cp.size() && cp[i] == c; }
  // End of the run of class `c` starting at i.
  size_t RunEnd(size_t i, CharClass c) const {
    while (Is(i, c)) ++i;
    return i;
  }
};

// 's|'t|'re|'ve|'m|'ll|'d, optionally case-insensitive ((?i:...) as Oniguruma folds it).
size_t MatchContraction(const Chars& s, size_t i, bool fold) {
  if (!s.IsChar(i, '\'')) return 0;
  auto is = [&](size_t j, char letter, const auto& folded) {
    if (j >= s.size()) return false;
    return fold ? InList(folded, s.cp[j]) : s.cp[j] == static_cast<uint32_t>(letter);
  };
  using namespace unicode_tables;
  if (is(i + 1, 's', kFold_s) || is(i + 1, 't', kFold_t)) return 2;
  if (is(i + 1, 'r', kFold_r) && is(i + 2, 'e', kFold_e)) return 3;
  if (is(i + 1, 'v', kFold_v) && is(i + 2, 'e', kFold_e)) return 3;
  if (is(i + 1, 'm', kFold_m)) return 2;
  if (is(i + 1, 'l', kFold_l) && is(i + 2, 'l', kFold_l)) return 3;
  if (is(i + 1, 'd', kFold_d)) return 2;
  return 0;
}

// \s+(?!\S)|\s+ at a whitespace character: the whole run at the end of the text, else the
// run minus its last character (which then starts the next piece, e.g. " word"), else
// the single character.
size_t MatchTrailingSpace(const Chars& s, size_t i) {
  const size_t end = s.RunEnd(i, CharClass::kSpace);
  if (end == s.size() || end - i < 2) return end - i;
  return end - 1 - i;
}

// GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
size_t MatchGpt2(const Chars& s, size_t i) {
  if (size_t n = MatchContraction(s, i, /*fold=*/false)) return n;
  for (CharClass c : {CharClass::kLetter, CharClass::kNumber, CharClass::kOther}) {
    size_t j = i;
    if (s.IsChar(j, ' ') && s.Is(j + 1, c)) ++j;
    if (s.Is(j, c)) return s.RunEnd(j, c) - i;
  }
  return MatchTrailingSpace(s, i);
}

// Llama 3 (max_digits 3) and Qwen 2 (max_digits 1):
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
size_t MatchLlama3(const Chars& s, size_t i, size_t max_digits) {
  if (size_t n = MatchContraction(s, i, /*fold=*/true)) return n;
  {  // [^\r\n\p{L}\p{N}]?\p{L}+ : the optional prefix only when a letter follows it.
    size_t j = i;
    if (!s.Is(j, CharClass::kLetter) && !s.Is(j, CharClass::kNumber) && !s.IsCrLf(j) &&
        s.Is(j + 1, CharClass::kLetter)) {
      ++j;
    }
    if (s.Is(j, CharClass::kLetter)) return s.RunEnd(j, CharClass::kLetter) - i;
  }
  if (s.Is(i, CharClass::kNumber)) {
    size_t j = i;
    while (j - i < max_digits && s.Is(j, CharClass::kNumber)) ++j;
    return j - i;
  }
  {  //  ?[^\s\p{L}\p{N}]+[\r\n]*
    size_t j = i;
    if (s.IsChar(j, ' ') && s.Is(j + 1, CharClass::kOther)) ++j;
    if (s.Is(j, CharClass::kOther)) {
      j = s.RunEnd(j, CharClass::kOther);
      while (s.IsCrLf(j)) ++j;
      return j - i;
    }
  }
  if (s.Is(i, CharClass::kSpace)) {
    // \s*[\r\n]+ : backtracking gives up the greedy \s* until a line break follows, so
    // the match ends just after the run's last \r or \n.
    const size_t end = s.RunEnd(i, CharClass::kSpace);
    for (size_t k = end; k > i; --k) {
      if (s.IsCrLf(k - 1)) return k - i;
    }
    return MatchTrailingSpace(s, i);
  }
  return 1;  // unreachable: every character is a letter, number, space or other
}

}  // namespace

bool IsKnownPreTokenizerPattern(uint32_t value) { return value >= 1 && value <= 3; }

std::vector<std::string_view> PreTokenize(std::string_view text, PreTokenizerPattern pattern) {
  Chars s;
  s.cp.reserve(text.size());
  s.cls.reserve(text.size());
  s.offset.reserve(text.size() + 1);
  for (size_t pos = 0; pos < text.size();) {
    size_t len = Utf8SequenceLength(text, pos);
    if (len == 0) len = 1;  // callers validate; never loop forever
    const uint32_t c = DecodeUtf8(text, pos, len);
    s.cp.push_back(c);
    s.cls.push_back(Classify(c));
    s.offset.push_back(pos);
    pos += len;
  }
  s.offset.push_back(text.size());
  std::vector<std::string_view> pieces;
  for (size_t i = 0; i < s.size();) {
    size_t n = 0;
    switch (pattern) {
      case PreTokenizerPattern::kGpt2:
        n = MatchGpt2(s, i);
        break;
      case PreTokenizerPattern::kLlama3:
        n = MatchLlama3(s, i, 3);
        break;
      case PreTokenizerPattern::kQwen2:
        n = MatchLlama3(s, i, 1);
        break;
    }
    n = std::max<size_t>(n, 1);
    pieces.push_back(text.substr(s.offset[i], s.offset[i + n] - s.offset[i]));
    i += n;
  }
  return pieces;
}

size_t Utf8SequenceLength(std::string_view text, size_t pos) {
  auto byte = [&](size_t i) -> int {
    return pos + i < text.size() ? static_cast<unsigned char>(text[pos + i]) : -1;
  };
  auto in = [](int b, int lo, int hi) { return b >= lo && b <= hi; };
  const int c = byte(0);
  if (c < 0) return 0;
  if (c < 0x80) return 1;
  if (in(c, 0xC2, 0xDF)) return in(byte(1), 0x80, 0xBF) ? 2 : 0;
  if (in(c, 0xE0, 0xEF)) {
    const int lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    return in(byte(1), lo, hi) && in(byte(2), 0x80, 0xBF) ? 3 : 0;
  }
  if (in(c, 0xF0, 0xF4)) {
    const int lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    return in(byte(1), lo, hi) && in(byte(2), 0x80, 0xBF) && in(byte(3), 0x80, 0xBF) ? 4 : 0;
  }
  return 0;
}

bool IsValidUtf8(std::string_view text) {
  for (size_t pos = 0; pos < text.size();) {
    const size_t len = Utf8SequenceLength(text, pos);
    if (len == 0) return false;
    pos += len;
  }
  return true;
}

uint32_t DecodeUtf8(std::string_view text, size_t pos, size_t length) {
  const auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(text[pos + i])); };
  switch (length) {
    case 1:
      return b(0);
    case 2:
      return ((b(0) & 0x1F) << 6) | (b(1) & 0x3F);
    case 3:
      return ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
    default:
      return ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
  }
}

void AppendUtf8(uint32_t c, std::string* out) {
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (c >> 12)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (c >> 18)));
    out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::string Utf8Lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t pos = 0; pos < bytes.size();) {
    if (const size_t len = Utf8SequenceLength(bytes, pos); len > 0) {
      out.append(bytes.substr(pos, len));
      pos += len;
      continue;
    }
    // Skip the maximal prefix of a valid sequence (at least one byte): the longest k for
    // which bytes[pos, pos + k) could still start a valid sequence.
    size_t skip = 1;
    for (size_t k = 2; k <= 3 && pos + k <= bytes.size(); ++k) {
      std::string probe(bytes.substr(pos, k));
      // Complete the probe with the smallest continuation bytes; if that is valid, the
      // first k bytes were a valid prefix.
      const unsigned char lead = static_cast<unsigned char>(probe[0]);
      const size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
      if (k >= need) break;
      probe.append(need - k, '\x80');
      if (Utf8SequenceLength(probe, 0) != need) break;
      skip = k;
    }
    out.append("\xEF\xBF\xBD");
    pos += skip;
  }
  return out;
}

bool IsUnicodeWhiteSpace(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

}  // namespace litegen
