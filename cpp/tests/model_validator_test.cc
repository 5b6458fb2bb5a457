// Tests of the .tflite validator on the fixture models (see tests/fixtures/cpp_models.py):
// valid files pass, every truncation and targeted corruption is rejected with a precise
// message, and no single-byte change makes the reader misbehave (run this binary with
// LITEGEN_SANITIZE=ON to have ASan/UBSan prove the bounds checks).
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "litert/model_validator.h"
#include "litert/tflite_schema_table.h"
#include "test_framework.h"

namespace litegen {
namespace {

namespace fb = tflite_schema;
using Bytes = std::vector<uint8_t>;

std::string Fixture(const std::string& name) { return testing::FixtureDir() + "/" + name; }

Bytes ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Validates a copy of exactly `size` bytes, so that ASan sees any read past the end.
Status ValidatePrefix(const Bytes& data, size_t size) {
  const Bytes copy(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(size));
  return ValidateTfliteModel(copy.data(), copy.size(), "mem.tflite");
}

// Minimal navigation of a *valid* model, to aim corruptions at known fields.
uint32_t U32(const Bytes& d, size_t pos) {
  uint32_t v = 0;
  std::memcpy(&v, d.data() + pos, 4);
  return v;
}
size_t Deref(const Bytes& d, size_t pos) { return pos + U32(d, pos); }
size_t FieldPos(const Bytes& d, size_t table, uint16_t id) {
  int32_t soffset = 0;
  std::memcpy(&soffset, d.data() + table, 4);
  const size_t vtable = table - soffset;
  uint16_t vsize = 0, offset = 0;
  std::memcpy(&vsize, d.data() + vtable, 2);
  if (4 + 2 * id + 2 > vsize) return 0;
  std::memcpy(&offset, d.data() + vtable + 4 + 2 * id, 2);
  return offset == 0 ? 0 : table + offset;
}
// Element i of the vector held by field `id` of `table` (position of the element).
size_t Element(const Bytes& d, size_t table, uint16_t id, uint32_t i) {
  return Deref(d, FieldPos(d, table, id)) + 4 + 4 * size_t{i};
}
size_t Root(const Bytes& d) { return Deref(d, 0); }
size_t Subgraph(const Bytes& d, uint32_t g) {
  return Deref(d, Element(d, Root(d), fb::Model::subgraphs, g));
}
size_t TensorTable(const Bytes& d, uint32_t g, uint32_t t) {
  return Deref(d, Element(d, Subgraph(d, g), fb::SubGraph::tensors, t));
}
template <typename T>
Bytes Patched(Bytes d, size_t pos, T value) {
  std::memcpy(d.data() + pos, &value, sizeof(T));
  return d;
}

Status Validate(const Bytes& d) { return ValidateTfliteModel(d.data(), d.size(), "mem.tflite"); }

constexpr const char* kCorrupt = "model file 'mem.tflite' is corrupt: ";

TEST(ValidatorAcceptsFixtureModels) {
  for (const char* name : {"two_signature_fc.tflite", "accumulate.tflite",
                           "accumulate_mixed_options.tflite", "unregistered_op.tflite"}) {
    CHECK_OK(ValidateTfliteModelFile(Fixture(name)));
    const Bytes data = ReadFile(Fixture(name));
    CHECK_OK(ValidatePrefix(data, data.size()));
  }
}

TEST(ValidatorReportsFileProblems) {
  CHECK_ERROR(ValidateTfliteModelFile(Fixture("does_not_exist.tflite")), ErrorCode::kModelLoad,
              "No such file");
  CHECK_ERROR(ValidateTfliteModelFile(testing::FixtureDir()), ErrorCode::kModelLoad,
              "not a regular file");
  CHECK_ERROR(ValidateTfliteModelFile(Fixture("not_a_model.tflite")), ErrorCode::kModelLoad,
              "is not a TFLite model");
  CHECK_ERROR(ValidateTfliteModel(nullptr, 0, "empty.tflite"), ErrorCode::kModelLoad,
              "model file 'empty.tflite' is corrupt: the file is truncated (0 bytes)");
}

TEST(ValidatorRejectsEveryTruncation) {
  // Weights are stored after the flatbuffer, the last one ending at the end of the file,
  // so every proper prefix is missing something.
  const Bytes data = ReadFile(Fixture("two_signature_fc.tflite"));
  CHECK(data.size() > 1000);
  for (size_t size = 0; size < data.size(); ++size) {
    const Status status = ValidatePrefix(data, size);
    if (status.ok() || status.code() != ErrorCode::kModelLoad ||
        status.message().rfind(kCorrupt, 0) != 0) {
      testing::RecordFailure(__FILE__, __LINE__,
                             "prefix of " + std::to_string(size) + " bytes: " + status.ToString());
      return;
    }
  }
}

TEST(ValidatorSurvivesEverySingleByteChange) {
  const Bytes data = ReadFile(Fixture("accumulate_mixed_options.tflite"));
  int accepted = 0, rejected = 0;
  for (size_t pos = 0; pos < data.size(); ++pos) {
    const uint8_t flipped = static_cast<uint8_t>(data[pos] ^ 0x80);
    for (const uint8_t value : {uint8_t{0x00}, uint8_t{0xFF}, flipped}) {
      const Status status = Validate(Patched(data, pos, value));
      if (status.ok()) {
        ++accepted;
      } else if (status.message().rfind("model file 'mem.tflite' is ", 0) == 0) {
        ++rejected;
      } else {
        testing::RecordFailure(__FILE__, __LINE__, "unexpected message: " + status.message());
      }
    }
  }
  CHECK(accepted > 0);
  CHECK(rejected > 0);
}

TEST(ValidatorNamesTheBrokenReference) {
  // two_signature_fc: buffers [empty, weight, bias]; per subgraph tensors x, w, b, y and
  // one FULLY_CONNECTED operator.
  const Bytes d = ReadFile(Fixture("two_signature_fc.tflite"));
  CHECK_OK(Validate(d));
  const size_t w = TensorTable(d, 0, 1);
  CHECK_ERROR(Validate(Patched<uint32_t>(d, FieldPos(d, w, fb::Tensor::buffer), 17)),
              ErrorCode::kModelLoad,
              std::string(kCorrupt) +
                  "tensor 1 of subgraph 0 ('w') uses buffer 17, but the model has 3 buffers");

  const size_t bias = Deref(d, Element(d, Root(d), fb::Model::buffers, 2));
  CHECK_ERROR(Validate(Patched<uint64_t>(d, FieldPos(d, bias, fb::Buffer::size), 28)),
              ErrorCode::kModelLoad,
              "tensor 2 of subgraph 0 ('b') is FLOAT32 [8] (32 bytes) but buffer 2 holds 28 bytes");
  CHECK_ERROR(Validate(Patched<uint64_t>(d, FieldPos(d, bias, fb::Buffer::offset), d.size())),
              ErrorCode::kModelLoad, "buffer 2 spans bytes");

  const size_t op = Deref(d, Element(d, Subgraph(d, 1), fb::SubGraph::operators, 0));
  CHECK_ERROR(Validate(Patched<int32_t>(d, Element(d, op, fb::Operator::inputs, 0), 40)),
              ErrorCode::kModelLoad,
              "input 0 of operator 0 (FULLY_CONNECTED) of subgraph 1 is tensor 40, but the "
              "subgraph has 4 tensors");
  CHECK_ERROR(Validate(Patched<int32_t>(d, Element(d, op, fb::Operator::inputs, 1), -1)),
              ErrorCode::kModelLoad,
              "input 1 of operator 0 (FULLY_CONNECTED) of subgraph 1 is omitted (-1), but the "
              "operator requires it");
  CHECK_OK(Validate(Patched<int32_t>(d, Element(d, op, fb::Operator::inputs, 2), -1)));  // bias
  CHECK_ERROR(Validate(Patched<int32_t>(d, Element(d, op, fb::Operator::outputs, 0), 2)),
              ErrorCode::kModelLoad, "is tensor 2 ('b'), a constant");

  const size_t signature = Deref(d, Element(d, Root(d), fb::Model::signature_defs, 1));
  CHECK_ERROR(
      Validate(Patched<uint32_t>(d, FieldPos(d, signature, fb::SignatureDef::subgraph_index), 9)),
      ErrorCode::kModelLoad, "signature 1 ('decode') refers to subgraph 9, but the model has 2");

  const size_t shape = Deref(d, FieldPos(d, TensorTable(d, 0, 3), fb::Tensor::shape));
  CHECK_ERROR(Validate(Patched<int32_t>(d, shape + 8, -5)), ErrorCode::kModelLoad,
              "tensor 3 of subgraph 0 ('y') has an invalid dimension -5 in [1, -5]");
  CHECK_ERROR(Validate(Patched<uint32_t>(d, shape, 9)), ErrorCode::kModelLoad,
              "has rank 9; LiteRT supports at most 8 dimensions");

  CHECK_ERROR(Validate(Patched<uint32_t>(d, 0, static_cast<uint32_t>(d.size()) + 8)),
              ErrorCode::kModelLoad, "root table: offset at byte 0 points to byte");
  const size_t name = Deref(d, FieldPos(d, w, fb::Tensor::name));
  CHECK_ERROR(Validate(Patched<uint32_t>(d, name, 0x7FFFFFF0)), ErrorCode::kModelLoad,
              "subgraphs[0].tensors[1].name: vector at byte");
  CHECK_ERROR(Validate(Patched<uint8_t>(d, name + 4, 0xFF)), ErrorCode::kModelLoad,
              "tensor 1 of subgraph 0 ('\\xff') has a name that is not UTF-8");
}

}  // namespace
}  // namespace litegen
