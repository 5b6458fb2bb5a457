#include "engine/bpe_normalizer.h"

#include <algorithm>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "engine/bpe_nfc_tables.h"
#include "engine/pretokenizer.h"

namespace litegen {
namespace {

constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28;
constexpr uint32_t kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

// The tables indexed once (immutable afterwards, so safe to share between threads).
struct NfcData {
  std::unordered_map<uint32_t, const nfc_tables::Decomposition*> decomposition;
  std::unordered_map<uint64_t, uint32_t> composition;  // (first << 32 | second) -> composite

  NfcData() {
    for (const auto& d : nfc_tables::kDecompositions) {
      decomposition.emplace(d.code_point, &d);
      if (d.composes) composition.emplace((uint64_t{d.first} << 32) | d.second, d.code_point);
    }
  }
};

const NfcData& Data() {
  static const NfcData data;
  return data;
}

uint8_t CombiningClass(uint32_t c) {
  if (c < 0x300) return 0;
  const auto* begin = std::begin(nfc_tables::kCombiningClasses);
  const auto* end = std::end(nfc_tables::kCombiningClasses);
  const auto* it = std::upper_bound(
      begin, end, c, [](uint32_t v, const nfc_tables::CombiningClass& r) { return v < r.first; });
  return it != begin && c <= (it - 1)->last ? (it - 1)->ccc : 0;
}

// Appends the full canonical decomposition of `c`, keeping combining marks in canonical
// order (a stable insertion by combining class).
void Decompose(uint32_t c, std::vector<uint32_t>* out) {
  if (c >= kSBase && c < kSBase + kSCount) {
    const uint32_t s = c - kSBase;
    out->push_back(kLBase + s / kNCount);
    out->push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out->push_back(kTBase + s % kTCount);
    return;
  }
  const auto& table = Data().decomposition;
  if (const auto it = table.find(c); it != table.end()) {
    Decompose(it->second->first, out);
    if (it->second->second != 0) Decompose(it->second->second, out);
    return;
  }
  const uint8_t ccc = CombiningClass(c);
  size_t pos = out->size();
  while (ccc != 0 && pos > 0 && CombiningClass((*out)[pos - 1]) > ccc) --pos;
  out->insert(out->begin() + static_cast<std::ptrdiff_t>(pos), c);
}

// The primary composite of (first, second), or 0.
uint32_t Compose(uint32_t first, uint32_t second) {
  if (first >= kLBase && first < kLBase + kLCount && second >= kVBase &&
      second < kVBase + kVCount) {
    return kSBase + ((first - kLBase) * kVCount + (second - kVBase)) * kTCount;
  }
  if (first >= kSBase && first < kSBase + kSCount && (first - kSBase) % kTCount == 0 &&
      second > kTBase && second < kTBase + kTCount) {
    return first + (second - kTBase);
  }
  const auto& table = Data().composition;
  const auto it = table.find((uint64_t{first} << 32) | second);
  return it == table.end() ? 0 : it->second;
}

}  // namespace

std::string NfcNormalize(std::string_view text) {
  if (std::all_of(text.begin(), text.end(),
                  [](char ch) { return static_cast<unsigned char>(ch) < 0x80; })) {
    return std::string(text);  // ASCII is always NFC
  }
  std::vector<uint32_t> chars;
  chars.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    size_t len = Utf8SequenceLength(text, pos);
    if (len == 0) len = 1;  // callers validate; never loop forever
    Decompose(DecodeUtf8(text, pos, len), &chars);
    pos += len;
  }
  // Canonical composition (UAX #15): each character composes with the last starter
  // unless a character in between blocks it (same or higher combining class).
  std::vector<uint32_t> out;
  out.reserve(chars.size());
  size_t starter = 0;
  int last_class = -1;
  for (size_t i = 0; i < chars.size(); ++i) {
    const uint32_t c = chars[i];
    const int cc = CombiningClass(c);
    if (i == 0) {
      out.push_back(c);
      last_class = cc == 0 ? 0 : 256;  // a leading mark composes with nothing
      continue;
    }
    if (last_class < cc || last_class == 0) {
      if (const uint32_t composite = Compose(out[starter], c); composite != 0) {
        out[starter] = composite;
        continue;
      }
    }
    if (cc == 0) starter = out.size();
    last_class = cc;
    out.push_back(c);
  }
  std::string result;
  result.reserve(text.size());
  for (const uint32_t c : out) AppendUtf8(c, &result);
  return result;
}

}  // namespace litegen
