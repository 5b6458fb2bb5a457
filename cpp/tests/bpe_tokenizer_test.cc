// Byte-level BPE tokenizer, pre-tokenizer and NFC tests against references the Python
// fixture script computed (HF `tokenizers` ids, texts and regex splits; `unicodedata` NFC).
// Fixtures: python -m tests.tokenizer.cpp_fixtures FIXTURE_DIR (see the Makefile).
#include <cstdint>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/bpe_normalizer.h"
#include "engine/bpe_tokenizer.h"
#include "engine/bundle.h"
#include "engine/pretokenizer.h"
#include "engine/tokenizer.h"
#include "test_framework.h"

namespace litegen {
namespace {

const char* const kStyles[] = {"gpt2", "llama3", "qwen2"};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string FromHex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

std::vector<std::string> SplitOn(const std::string& line, char sep) {
  std::vector<std::string> out;
  std::string field;
  std::istringstream in(line);
  while (std::getline(in, field, sep)) out.push_back(field);
  if (!line.empty() && line.back() == sep) out.emplace_back();
  return out;
}

std::string Fixture(const std::string& name) { return testing::FixtureDir() + "/" + name; }

std::unique_ptr<Tokenizer> Load(const std::string& style) {
  auto tok = Tokenizer::FromFile(Fixture("bpe_" + style + ".bin"));
  CHECK(tok.ok());
  if (!tok.ok()) {
    std::fprintf(stderr, "    %s\n", tok.status().ToString().c_str());
    return nullptr;
  }
  return std::move(tok).value();
}

std::string Join(const std::vector<int>& ids) {
  std::string out;
  for (int id : ids) out += (out.empty() ? "" : " ") + std::to_string(id);
  return out;
}

TEST(BpeTokenizerMatchesHfTokenizers) {
  for (const char* style : kStyles) {
    auto tok = Load(style);
    if (!tok) continue;
    CHECK_EQ(std::string(tok->kind()), std::string("bpe_bytelevel"));
    std::istringstream lines(ReadFile(Fixture(std::string("bpe_") + style + "_expected.tsv")));
    std::string line;
    int samples = 0;
    while (std::getline(lines, line)) {
      const auto fields = SplitOn(line, '\t');
      CHECK_EQ(fields.size(), size_t{3});
      if (fields.size() != 3) continue;
      const std::string text = FromHex(fields[0]);
      auto ids = tok->Encode(text);
      CHECK_OK(ids);
      if (!ids.ok()) continue;
      if (Join(*ids) != fields[1]) {
        std::fprintf(stderr, "    %s: '%s'\n      ours %s\n      hf   %s\n", style, text.c_str(),
                     Join(*ids).c_str(), fields[1].c_str());
      }
      CHECK_EQ(Join(*ids), fields[1]);
      auto decoded = tok->Decode(*ids);
      CHECK_OK(decoded);
      if (decoded.ok()) CHECK_EQ(*decoded, FromHex(fields[2]));
      ++samples;
    }
    CHECK(samples > 100);
  }
}

TEST(PreTokenizerSplitsLikeTheRegex) {
  const PreTokenizerPattern patterns[] = {PreTokenizerPattern::kGpt2, PreTokenizerPattern::kLlama3,
                                          PreTokenizerPattern::kQwen2};
  for (size_t s = 0; s < 3; ++s) {
    std::istringstream lines(ReadFile(Fixture(std::string("pretok_") + kStyles[s] + ".tsv")));
    std::string line;
    int samples = 0;
    while (std::getline(lines, line)) {
      const auto fields = SplitOn(line, '\t');
      if (fields.size() != 2) continue;
      const std::string text = FromHex(fields[0]);
      std::string got;
      for (std::string_view piece : PreTokenize(text, patterns[s])) {
        std::string hex;
        for (unsigned char c : piece) {
          static const char* digits = "0123456789abcdef";
          hex.push_back(digits[c >> 4]);
          hex.push_back(digits[c & 15]);
        }
        got += (got.empty() ? "" : ",") + hex;
      }
      CHECK_EQ(got, fields[1]);
      ++samples;
    }
    CHECK(samples > 100);
  }
  // Hand-checked Llama 3 split: contractions, 3-digit groups, the space before a word, the
  // punctuation run taking its line breaks, and trailing whitespace.
  std::vector<std::string> pieces;
  for (auto p : PreTokenize("Hello world's  123456 !!\n\n  x", PreTokenizerPattern::kLlama3)) {
    pieces.emplace_back(p);
  }
  CHECK((pieces == std::vector<std::string>{"Hello", " world", "'s", " ", " ", "123", "456",
                                            " !!\n\n", " ", " x"}));
}

TEST(NfcMatchesUnicodedata) {
  std::istringstream lines(ReadFile(Fixture("nfc.tsv")));
  std::string line;
  int samples = 0;
  while (std::getline(lines, line)) {
    const auto fields = SplitOn(line, '\t');
    if (fields.size() != 2) continue;
    CHECK_EQ(NfcNormalize(FromHex(fields[0])), FromHex(fields[1]));
    ++samples;
  }
  CHECK(samples > 100);
  CHECK_EQ(NfcNormalize("e\xCC\x81"), std::string("\xC3\xA9"));  // e + acute -> é
}

TEST(Utf8LossyReplacesMaximalSubparts) {
  // Python: b"a\xe2\x82b\xff\xf0\x9f\x99".decode("utf-8", "replace")
  CHECK_EQ(Utf8Lossy("a\xE2\x82" "b\xFF\xF0\x9F\x99"),
           std::string("a\xEF\xBF\xBD" "b\xEF\xBF\xBD\xEF\xBF\xBD"));
  CHECK_EQ(Utf8Lossy("\xED\xA0\x80"), std::string("\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"));
  CHECK(!IsValidUtf8("\xC0\x80"));
  CHECK(IsValidUtf8("\xF4\x8F\xBF\xBF"));
}

TEST(BpeStreamDecodingMatchesFullDecode) {
  std::mt19937 rng(7);
  for (const char* style : kStyles) {
    auto tok = Load(style);
    if (!tok) continue;
    std::uniform_int_distribution<int> any_id(0, tok->vocab_size() - 1);
    for (int trial = 0; trial < 200; ++trial) {
      std::vector<int> ids(static_cast<size_t>(1 + trial % 25));
      for (int& id : ids) id = any_id(rng);
      StreamDecoder decoder = tok->NewStreamDecoder();
      std::string streamed;
      for (int id : ids) {
        auto piece = decoder.Push(id);
        CHECK_OK(piece);
        if (piece.ok()) streamed += *piece;
      }
      streamed += decoder.Flush();
      auto full = tok->Decode(ids);
      CHECK_OK(full);
      if (full.ok()) CHECK_EQ(streamed, *full);
    }
  }
}

TEST(BpeTokenizerRejectsBadInput) {
  auto tok = Load("qwen2");
  if (!tok) return;
  CHECK_ERROR(tok->Encode("bad \xFF utf-8"), ErrorCode::kInput, "not valid UTF-8");
  CHECK_ERROR(tok->Decode({tok->vocab_size()}), ErrorCode::kInput, "outside the vocabulary");
  CHECK_ERROR(tok->Decode({-1}), ErrorCode::kInput, "outside the vocabulary");
  CHECK_ERROR(tok->IdToPiece(-5), ErrorCode::kInput, "outside");
  CHECK_EQ(tok->PieceToId("<|im_end|>") >= 0, true);
  CHECK_EQ(tok->PieceToId("no such piece"), -1);
  CHECK(tok->IsControl(tok->PieceToId("<|im_end|>")));
  CHECK(!tok->IsControl(tok->PieceToId("<tool_call>")));
  CHECK(!tok->IsControl(-1) && !tok->IsControl(tok->vocab_size()));
}

TEST(BpeTokenizerSurvivesCorruptData) {
  const std::string data = ReadFile(Fixture("bpe_gpt2.bin"));
  CHECK(data.size() > 1000);
  // Every truncation point over the header, then a spread over the rest.
  for (size_t n = 0; n < data.size(); n += (n < 256 ? 1 : data.size() / 300)) {
    auto tok = Tokenizer::FromModelBytes(data.substr(0, n), "cut");
    CHECK(!tok.ok());
    if (!tok.ok()) CHECK(tok.status().code() == ErrorCode::kModelLoad);
  }
  std::mt19937 rng(3);
  int loaded = 0;
  for (int trial = 0; trial < 300; ++trial) {
    std::string bad = data;
    for (int k = 0; k < 1 + trial % 4; ++k) {
      bad[8 + rng() % (bad.size() - 8)] = static_cast<char>(rng() & 0xFF);
    }
    auto tok = Tokenizer::FromModelBytes(bad, "fuzz");
    if (!tok.ok()) {
      CHECK(tok.status().code() == ErrorCode::kModelLoad);
      continue;
    }
    ++loaded;  // damage the checks cannot see (token text): must still be safe to use
    auto ids = (*tok)->Encode("Hello world's 123 \xE6\x9D\xB1 \xF0\x9F\x99\x82 <|endoftext|>");
    CHECK_OK(ids);
    if (!ids.ok()) continue;
    for (int id : *ids) CHECK(id >= 0 && id < (*tok)->vocab_size());
    ids->push_back(static_cast<int>(rng() % static_cast<unsigned>((*tok)->vocab_size())));
    CHECK_OK((*tok)->Decode(*ids));
  }
  CHECK(loaded < 300);
}

TEST(BundleWithBpeTokenizer) {
  auto info = OpenBundle(Fixture("bpe_model.litegen"));
  CHECK_OK(info);
  if (!info.ok()) return;
  CHECK(info->tokenizer_kind == BundleSectionKind::kTokenizerBpeByteLevel);
  CHECK_EQ(info->metadata.tokenizer_type, std::string("bpe_bytelevel"));
  CHECK(info->tokenizer_model == ReadFile(Fixture("bpe_llama3.bin")));
  auto tok = LoadBundleTokenizer(*info);
  CHECK_OK(tok);
  if (tok.ok()) CHECK_EQ(std::string((*tok)->kind()), std::string("bpe_bytelevel"));
  // A section whose kind and bytes disagree is refused, whichever way round.
  BundleInfo wrong = *info;
  wrong.tokenizer_kind = BundleSectionKind::kTokenizerSentencePiece;
  CHECK_ERROR(LoadBundleTokenizer(wrong), ErrorCode::kModelLoad, "is corrupt");
  wrong = *info;
  wrong.tokenizer_model = ReadFile(Fixture("tokenizer.model"));
  CHECK_ERROR(LoadBundleTokenizer(wrong), ErrorCode::kModelLoad, "is corrupt");
}

}  // namespace
}  // namespace litegen
