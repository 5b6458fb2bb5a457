// Tokenizer (vs. ids the Python sentencepiece package computed) and bundle reader tests.
// Fixtures: python -m tests.tokenizer.cpp_fixtures FIXTURE_DIR (see the Makefile).
#include <cstdint>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/bundle.h"
#include "engine/tokenizer.h"
#include "litert/model_validator.h"
#include "test_framework.h"

namespace litegen {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

std::string FromHex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

std::string Fixture(const char* name) { return testing::FixtureDir() + "/" + name; }

std::unique_ptr<Tokenizer> LoadFixtureTokenizer() {
  auto tok = Tokenizer::FromFile(Fixture("tokenizer.model"));
  CHECK(tok.ok());
  if (!tok.ok()) {
    std::fprintf(stderr, "    %s\n", tok.status().ToString().c_str());
    return nullptr;
  }
  return std::move(tok).value();
}

TEST(TokenizerMatchesPythonSentencePiece) {
  auto tok = LoadFixtureTokenizer();
  if (!tok) return;
  CHECK_EQ(tok->bos_id(), 1);
  CHECK_EQ(tok->eos_id(), 2);
  CHECK_EQ(tok->unk_id(), 0);
  CHECK_EQ(tok->pad_id(), -1);
  std::istringstream lines(ReadFile(Fixture("tokenizer_expected.tsv")));
  std::string line;
  int samples = 0;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string text_hex, ids_text, decoded_hex;
    std::getline(fields, text_hex, '\t');
    std::getline(fields, ids_text, '\t');
    std::getline(fields, decoded_hex, '\t');
    std::vector<int> want;
    std::istringstream ids_stream(ids_text);
    for (int id; ids_stream >> id;) want.push_back(id);
    auto ids = tok->Encode(FromHex(text_hex));
    CHECK(ids.ok());
    if (!ids.ok()) continue;
    CHECK(*ids == want);
    auto text = tok->Decode(want);
    CHECK(text.ok() && *text == FromHex(decoded_hex));
    auto with_bos = tok->Encode(FromHex(text_hex), /*add_bos=*/true, /*add_eos=*/true);
    CHECK(with_bos.ok() && with_bos->size() == want.size() + 2 && with_bos->front() == 1 &&
          with_bos->back() == 2);
    ++samples;
  }
  CHECK(samples >= 5);
  auto piece = tok->IdToPiece(tok->eos_id());
  CHECK(piece.ok() && *piece == "</s>");
  CHECK_EQ(tok->PieceToId("</s>"), 2);
  CHECK_EQ(tok->PieceToId("no such piece"), -1);
  CHECK(tok->IsControl(1));
  CHECK(tok->IsByte(tok->PieceToId("<0x41>")));
}

TEST(TokenizerStreamDecodingMatchesFullDecode) {
  auto tok = LoadFixtureTokenizer();
  if (!tok) return;
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<int> ids(1 + rng() % 40);
    for (int& id : ids) id = static_cast<int>(rng() % static_cast<unsigned>(tok->vocab_size()));
    StreamDecoder decoder = tok->NewStreamDecoder();
    std::string streamed;
    for (int id : ids) {
      auto delta = decoder.Push(id);
      CHECK(delta.ok());
      if (delta.ok()) streamed += *delta;
    }
    streamed += decoder.Flush();
    auto full = tok->Decode(ids);
    CHECK(full.ok() && streamed == *full);
  }
  // A 4-byte character spelled with byte pieces appears only once complete.
  StreamDecoder decoder = tok->NewStreamDecoder();
  const unsigned char bytes[] = {0xF0, 0x9D, 0x94, 0x98};
  std::string out;
  for (int i = 0; i < 4; ++i) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", bytes[i]);
    auto delta = decoder.Push(tok->PieceToId(name));
    CHECK(delta.ok());
    if (i < 3) CHECK(delta.ok() && delta->empty());
    if (delta.ok()) out += *delta;
  }
  CHECK_EQ(out, std::string("\xF0\x9D\x94\x98"));
}

TEST(TokenizerRejectsBadInput) {
  auto tok = LoadFixtureTokenizer();
  if (!tok) return;
  auto bad_id = tok->Decode({0, tok->vocab_size()});
  CHECK(!bad_id.ok() && bad_id.status().code() == ErrorCode::kInput);
  CHECK(!tok->Decode({-5}).ok());
  CHECK(!tok->IdToPiece(-1).ok());
  CHECK(!tok->IsControl(1 << 30));
  StreamDecoder decoder = tok->NewStreamDecoder();
  CHECK(!decoder.Push(-1).ok());
  CHECK(decoder.ids().empty());

  for (const std::string& garbage :
       {std::string(), std::string("\0", 1), std::string("not a model at all")}) {
    auto t = Tokenizer::FromModelBytes(garbage, "garbage");
    CHECK(!t.ok() && t.status().code() == ErrorCode::kModelLoad &&
          t.status().message().find("tokenizer model 'garbage'") != std::string::npos);
  }
  auto missing = Tokenizer::FromFile("/nonexistent/tokenizer.model");
  CHECK(!missing.ok() && missing.status().code() == ErrorCode::kModelLoad);
}

// Corrupted model bytes (flips and truncation) load or fail with kModelLoad, and a loaded
// model encodes / decodes without reading out of bounds (this binary runs under ASan).
TEST(TokenizerSurvivesCorruptModels) {
  const std::string model = ReadFile(Fixture("tokenizer.model"));
  CHECK(!model.empty());
  if (model.empty()) return;
  std::mt19937 rng(99);
  int loaded = 0, rejected = 0;
  for (int trial = 0; trial < 300; ++trial) {
    std::string data = model;
    const int flips = 1 + static_cast<int>(rng() % 20);
    for (int i = 0; i < flips; ++i) data[rng() % data.size()] = static_cast<char>(rng() % 256);
    if (trial % 5 == 0) data.resize(rng() % data.size());
    auto tok = Tokenizer::FromModelBytes(data, "fuzz");
    if (!tok.ok()) {
      CHECK(tok.status().code() == ErrorCode::kModelLoad);
      ++rejected;
      continue;
    }
    ++loaded;
    auto ids = (*tok)->Encode("hello w\xC3\xB6rld \xE6\x9D\xB1 \xF0\x9F\x99\x82 x");
    if (ids.ok()) (void)(*tok)->Decode(*ids);
    std::vector<int> all;
    for (int id = 0; id < (*tok)->vocab_size() && id < 64; ++id) all.push_back(id);
    (void)(*tok)->Decode(all);
  }
  CHECK(rejected > 0);
  CHECK_EQ(loaded + rejected, 300);
}

TEST(BundleReaderReadsPythonWriterOutput) {
  const std::string path = Fixture("model.litegen");
  auto info = OpenBundle(path);
  CHECK(info.ok());
  if (!info.ok()) {
    std::fprintf(stderr, "    %s\n", info.status().ToString().c_str());
    return;
  }
  const std::string tflite = ReadFile(Fixture("bundle_model.tflite"));
  CHECK_EQ(info->model_offset, uint64_t{0});
  CHECK_EQ(info->model_size, uint64_t{tflite.size()});
  CHECK(ReadFile(path).compare(0, tflite.size(), tflite) == 0);
  CHECK(info->tokenizer_model == ReadFile(Fixture("tokenizer.model")));
  const BundleMetadata& m = info->metadata;
  CHECK_EQ(m.format_version, 1);
  CHECK_EQ(m.context_size, int64_t{32});
  CHECK(m.signatures == (std::vector<std::string>{"prefill", "decode"}));
  CHECK(m.eos_token_ids == (std::vector<int>{2, 7}));
  CHECK_EQ(m.bos_token_id, 1);
  CHECK_EQ(m.pad_token_id, -1);
  CHECK(m.add_bos_token);
  CHECK_EQ(m.chat_template, std::string("{{ messages }} \xC3\xA9\n\"q\""));
  CHECK_EQ(m.tokenizer_type, std::string("sentencepiece"));
  CHECK_EQ(m.model_type, std::string("llama"));
  auto is_bundle = IsBundleFile(path);
  CHECK(is_bundle.ok() && *is_bundle);
  auto is_plain = IsBundleFile(Fixture("bundle_model.tflite"));
  CHECK(is_plain.ok() && !*is_plain);
  // The bundle is a .tflite for the validator LiteRT's loader runs first.
  CHECK(ValidateTfliteModelFile(path).ok());
  // The tokenizer inside the bundle works.
  auto tok = LoadBundleTokenizer(*info);
  CHECK(tok.ok() && (*tok)->vocab_size() > 256 && (*tok)->source() == "bundle '" + path + "'");
}

TEST(BundleReaderRejectsDamagedFiles) {
  const std::string good = ReadFile(Fixture("model.litegen"));
  CHECK(good.size() > 64);
  if (good.size() <= 64) return;
  const std::string path = Fixture("damaged.litegen");
  auto expect_error = [&](const std::string& data, const char* what) {
    WriteFile(path, data);
    auto info = OpenBundle(path);
    const bool ok = !info.ok() && info.status().code() == ErrorCode::kModelLoad &&
                    info.status().message().find(path) != std::string::npos &&
                    info.status().message().find(what) != std::string::npos;
    if (!ok) {
      std::fprintf(stderr, "    expected '%s', got: %s\n", what,
                   info.ok() ? "success" : info.status().ToString().c_str());
    }
    CHECK(ok);
  };
  const size_t footer = good.size() - 64;
  for (size_t pos = 0; pos < 64; ++pos) {
    std::string data = good;
    data[footer + pos] = static_cast<char>(data[footer + pos] ^ 0x40);
    expect_error(data, "bundle");
  }
  std::string flipped = good;
  flipped[footer + 48] ^= 1;
  expect_error(flipped, "checksum mismatch");
  std::string body = good;
  body[footer - 70] ^= 1;
  expect_error(body, "checksum mismatch");
  expect_error(good.substr(0, good.size() - 1), "not a litegen bundle");
  expect_error(good.substr(0, 10), "truncated");
  expect_error(good + std::string(1, '\0'), "not a litegen bundle");
  auto missing = OpenBundle(Fixture("no_such.litegen"));
  CHECK(!missing.ok() && missing.status().code() == ErrorCode::kModelLoad);
  // Random damage anywhere after the model: an error, never a crash.
  auto info = OpenBundle(Fixture("model.litegen"));
  if (!info.ok()) return;
  std::mt19937 rng(5);
  for (int trial = 0; trial < 200; ++trial) {
    std::string data = good;
    const size_t span = good.size() - info->model_size;
    data[info->model_size + rng() % span] = static_cast<char>(rng() % 256);
    WriteFile(path, data);
    auto result = OpenBundle(path);
    CHECK(!result.ok() || data == good);
  }
}

TEST(Crc32MatchesZlib) {
  CHECK_EQ(Crc32("123456789", 9), uint32_t{0xCBF43926});
  CHECK_EQ(Crc32("6789", 4, Crc32("12345", 5)), uint32_t{0xCBF43926});
}

}  // namespace
}  // namespace litegen
