#include "litert/model_validator.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <string_view>
#include <vector>

#include "litert/tflite_schema_table.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "model_validator.cc reads little-endian flatbuffer scalars with memcpy"
#endif

namespace litegen {
namespace {

namespace fb = tflite_schema;

// Flatbuffers' FLATBUFFERS_MAX_BUFFER_SIZE: offsets are 32-bit and must fit an soffset_t,
// so the flatbuffer part of a file lies in its first 2 GiB (weights may follow it).
constexpr size_t kMaxFlatbufferSize = 0x7FFFFFFF;
constexpr int kMaxDepth = 64;            // flatbuffers::Verifier::Options defaults
constexpr size_t kMaxTables = 1000000;
constexpr uint32_t kMaxRank = 8;         // LITERT_TENSOR_MAX_RANK
constexpr uint32_t kSchemaVersion = 3;

// Bits per element by TensorType; 0 for types without a fixed size.
constexpr int kTensorTypeBits[] = {
    32, 16, 32, 8,  64, 0,    // FLOAT32 FLOAT16 INT32 UINT8 INT64 STRING
    8,  16, 64, 8,  64, 128,  // BOOL INT16 COMPLEX64 INT8 FLOAT64 COMPLEX128
    64, 0,  0,  32, 16, 4,    // UINT64 RESOURCE VARIANT UINT32 UINT16 INT4
    16, 2,  4,  8,  8,        // BFLOAT16 INT2 UINT4 FLOAT8_E4M3FN FLOAT8_E5M2
};
static_assert(sizeof(kTensorTypeBits) / sizeof(kTensorTypeBits[0]) == fb::kNumTensorTypes,
              "the schema has a new TensorType: give it a size in kTensorTypeBits");

// Operators whose inputs are all required except maybe trailing optional ones: an omitted
// input (-1) among the first `required` makes LiteRT's kernels / XNNPack read tensor -1.
// (-1: every input is required.) Operators not listed (LSTM/RNN families, custom ops,
// StableHLO, ...) may omit any input.
using Op = fb::BuiltinOperator;
struct RequiredInputs {
  Op op;
  int8_t required;
};
constexpr RequiredInputs kRequiredInputs[] = {
    {Op::ABS, 1}, {Op::ADD, 2}, {Op::ADD_N, -1}, {Op::ARG_MAX, 2}, {Op::ARG_MIN, 2},
    {Op::AVERAGE_POOL_2D, 1}, {Op::BATCH_MATMUL, 2}, {Op::BATCH_TO_SPACE_ND, 3},
    {Op::BROADCAST_TO, 2}, {Op::CAST, 1}, {Op::CEIL, 1}, {Op::CONCATENATION, -1}, {Op::CONV_2D, 2},
    {Op::COS, 1}, {Op::CUMSUM, 2}, {Op::DEPTH_TO_SPACE, 1}, {Op::DEPTHWISE_CONV_2D, 2},
    {Op::DEQUANTIZE, 1}, {Op::DIV, 2}, {Op::DYNAMIC_UPDATE_SLICE, 3}, {Op::ELU, 1},
    {Op::EMBEDDING_LOOKUP, 2}, {Op::EQUAL, 2}, {Op::EXP, 1}, {Op::EXPAND_DIMS, 2}, {Op::FILL, 2},
    {Op::FLOOR, 1}, {Op::FLOOR_DIV, 2}, {Op::FLOOR_MOD, 2}, {Op::FULLY_CONNECTED, 2},
    {Op::GATHER, 2}, {Op::GATHER_ND, 2}, {Op::GELU, 1}, {Op::GREATER, 2}, {Op::GREATER_EQUAL, 2},
    {Op::HARD_SWISH, 1}, {Op::L2_NORMALIZATION, 1}, {Op::LEAKY_RELU, 1}, {Op::LESS, 2},
    {Op::LESS_EQUAL, 2}, {Op::LOG, 1}, {Op::LOG_SOFTMAX, 1}, {Op::LOGICAL_AND, 2},
    {Op::LOGICAL_NOT, 1}, {Op::LOGICAL_OR, 2}, {Op::LOGISTIC, 1}, {Op::MAX_POOL_2D, 1},
    {Op::MAXIMUM, 2}, {Op::MEAN, 2}, {Op::MINIMUM, 2}, {Op::MIRROR_PAD, 2}, {Op::MUL, 2},
    {Op::NEG, 1}, {Op::NOT_EQUAL, 2}, {Op::PACK, -1}, {Op::PAD, 2}, {Op::PADV2, 2}, {Op::POW, 2},
    {Op::PRELU, 2}, {Op::QUANTIZE, 1}, {Op::RANGE, 3}, {Op::REDUCE_ANY, 2}, {Op::REDUCE_MAX, 2},
    {Op::REDUCE_MIN, 2}, {Op::REDUCE_PROD, 2}, {Op::RELU, 1}, {Op::RELU6, 1}, {Op::RELU_N1_TO_1, 1},
    {Op::RESHAPE, 1}, {Op::RESIZE_BILINEAR, 2}, {Op::RESIZE_NEAREST_NEIGHBOR, 2},
    {Op::REVERSE_V2, 2}, {Op::ROUND, 1}, {Op::RSQRT, 1}, {Op::SCATTER_ND, 3}, {Op::SELECT, 3},
    {Op::SELECT_V2, 3}, {Op::SHAPE, 1}, {Op::SIGN, 1}, {Op::SIN, 1}, {Op::SLICE, 3},
    {Op::SOFTMAX, 1}, {Op::SPACE_TO_BATCH_ND, 3}, {Op::SPACE_TO_DEPTH, 1}, {Op::SPLIT, 2},
    {Op::SPLIT_V, 3}, {Op::SQRT, 1}, {Op::SQUARE, 1}, {Op::SQUARED_DIFFERENCE, 2}, {Op::SQUEEZE, 1},
    {Op::STRIDED_SLICE, 4}, {Op::SUB, 2}, {Op::SUM, 2}, {Op::TANH, 1}, {Op::TILE, 2},
    {Op::TOPK_V2, 2}, {Op::TRANSPOSE, 2}, {Op::TRANSPOSE_CONV, 3}, {Op::UNPACK, 1}, {Op::WHERE, 1},
    {Op::ZEROS_LIKE, 1},
};

// Number of leading inputs operator `code` requires: -1 all, 0 none known.
int RequiredInputCount(int32_t code) {
  for (const RequiredInputs& entry : kRequiredInputs) {
    if (static_cast<int32_t>(entry.op) == code) return entry.required;
  }
  return 0;
}

// Whether `text` is well-formed UTF-8 (no overlong forms, surrogates or code points
// above U+10FFFF). Flatbuffer strings must be UTF-8; Python decodes the ones litegen shows.
bool IsUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<uint8_t>(text[i]);
    size_t continuation = 0;  // bytes after the lead byte
    uint32_t code_point = 0, smallest = 0;
    if (lead < 0x80) {
      ++i;
      continue;
    } else if (lead >= 0xC2 && lead <= 0xDF) {
      continuation = 1, code_point = lead & 0x1F, smallest = 0x80;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      continuation = 2, code_point = lead & 0x0F, smallest = 0x800;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      continuation = 3, code_point = lead & 0x07, smallest = 0x10000;
    } else {
      return false;
    }
    if (text.size() - i <= continuation) return false;
    for (size_t k = 1; k <= continuation; ++k) {
      const auto byte = static_cast<uint8_t>(text[i + k]);
      if ((byte & 0xC0) != 0x80) return false;
      code_point = (code_point << 6) | (byte & 0x3F);
    }
    if (code_point < smallest || code_point > 0x10FFFF ||
        (code_point >= 0xD800 && code_point <= 0xDFFF)) {
      return false;
    }
    i += continuation + 1;
  }
  return true;
}

// A name from the file, quoted for a message: at most 64 bytes, control characters and
// (in malformed UTF-8) non-ASCII bytes escaped, so messages stay printable.
std::string Quote(std::string_view text) {
  constexpr size_t kMaxShown = 64;
  const bool utf8 = IsUtf8(text);
  std::string out = "'";
  for (size_t i = 0; i < text.size() && i < kMaxShown; ++i) {
    const auto c = static_cast<uint8_t>(text[i]);
    if (c < 0x20 || c == 0x7F || (c >= 0x80 && !utf8)) {
      static const char kHex[] = "0123456789abcdef";
      out += {'\\', 'x', kHex[c >> 4], kHex[c & 15]};
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > kMaxShown) {
    while (!out.empty() && (static_cast<uint8_t>(out.back()) & 0xC0) == 0x80) out.pop_back();
    if (!out.empty() && static_cast<uint8_t>(out.back()) >= 0xC0) out.pop_back();
    out += "...";
  }
  return out + "'";
}

// ---- Bounds-checked flatbuffer access -------------------------------------------------

// Reads little-endian scalars at byte positions of the flatbuffer (the first `size` bytes
// of the file). Every read is bounds-checked; an out-of-range read yields 0.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  size_t size() const { return size_; }
  bool InBounds(size_t pos, size_t len) const { return len <= size_ && pos <= size_ - len; }

  template <typename T>
  T Read(size_t pos) const {
    T value{};
    if (InBounds(pos, sizeof(T))) std::memcpy(&value, data_ + pos, sizeof(T));
    return value;
  }

  std::string_view Bytes(size_t pos, size_t len) const {
    if (!InBounds(pos, len)) return {};
    return std::string_view(reinterpret_cast<const char*>(data_ + pos), len);
  }

 private:
  const uint8_t* data_;
  size_t size_;
};

// A table: its position and its vtable. pos == 0 means "absent" (byte 0 holds the root
// offset, so no table starts there).
struct Table {
  size_t pos = 0;
  size_t vtable = 0;
  uint16_t vsize = 0;  // vtable size in bytes: 4 + 2 * number of slots
  explicit operator bool() const { return pos != 0; }
};

// Position of field `id` of `t`, or 0 when the field is absent.
size_t FieldPos(const Reader& r, Table t, uint16_t id) {
  const size_t entry = 4 + 2 * size_t{id};
  if (!t || entry + 2 > t.vsize) return 0;
  const uint16_t offset = r.Read<uint16_t>(t.vtable + entry);
  return offset == 0 ? 0 : t.pos + offset;
}

// The union's member table index for type value `type`, or -1.
int UnionMember(int union_index, uint8_t type) {
  const fb::UnionDesc& u = fb::kUnions[union_index];
  return type < u.num_members ? fb::kUnionMembers[u.first_member + type] : -1;
}

// The descriptor of field `id` of table `table_index` (nullptr if the schema has none).
const fb::FieldDesc* FindField(int table_index, uint16_t id) {
  const fb::TableDesc& table = fb::kTables[table_index];
  for (int i = 0; i < table.num_fields; ++i) {
    if (fb::kFields[table.first_field + i].id == id) return &fb::kFields[table.first_field + i];
  }
  return nullptr;
}

// ---- Structural verification, driven by tflite_schema_table.h ---------------------------

// Checks what flatbuffers::Verifier checks for every table, vector and string of the
// schema (offsets, vtables, sizes, alignment, NUL terminators, depth and table count),
// and additionally that each field lies inside its table's inline size.
class StructureVerifier {
 public:
  explicit StructureVerifier(const Reader& r) : r_(r) {}

  bool VerifyRoot() {
    size_t root = 0;
    return FollowOffset(0, &root) && VerifyTable(root, fb::Model::kTable, 1);
  }
  const std::string& error() const { return error_; }

 private:
  // Path of the field being verified, e.g. subgraphs[0].tensors[3].name.
  struct PathEntry {
    const char* name;  // nullptr for a vector element
    uint32_t index;
  };
  class PathScope {
   public:
    PathScope(std::vector<PathEntry>& path, const char* name, uint32_t index = 0)
        : path_(path) {
      path_.push_back({name, index});
    }
    ~PathScope() { path_.pop_back(); }

   private:
    std::vector<PathEntry>& path_;
  };

  bool Fail(const std::string& reason) {
    std::string where;
    for (const PathEntry& e : path_) {
      if (e.name == nullptr) {
        where += "[" + std::to_string(e.index) + "]";
      } else {
        where += (where.empty() ? "" : ".") + std::string(e.name);
      }
    }
    error_ = (where.empty() ? "root table" : where) + ": " + reason;
    return false;
  }
  std::string At(size_t pos) const { return "at byte " + std::to_string(pos); }
  std::string End() const {
    return "the flatbuffer (" + std::to_string(r_.size()) + " bytes)";
  }

  // The uoffset_t at `pos` leads to *target.
  bool FollowOffset(size_t pos, size_t* target) {
    if (pos % 4 != 0 || !r_.InBounds(pos, 4)) {
      return Fail("offset " + At(pos) + " is misaligned or outside " + End());
    }
    const uint32_t offset = r_.Read<uint32_t>(pos);
    if (offset == 0 || offset > static_cast<uint32_t>(std::numeric_limits<int32_t>::max()) ||
        !r_.InBounds(pos + offset, 1)) {
      return Fail("offset " + At(pos) + " points to byte " + std::to_string(pos + offset) +
                  ", outside " + End());
    }
    *target = pos + offset;
    return true;
  }

  bool VerifyTableHeader(size_t pos, Table* table, uint16_t* object_size) {
    if (++num_tables_ > kMaxTables) {
      return Fail("more than " + std::to_string(kMaxTables) + " tables");
    }
    if (pos % 4 != 0 || !r_.InBounds(pos, 4)) {
      return Fail("table " + At(pos) + " is misaligned or outside " + End());
    }
    const int64_t vtable = static_cast<int64_t>(pos) - r_.Read<int32_t>(pos);
    if (vtable < 0 || vtable % 2 != 0 || !r_.InBounds(static_cast<size_t>(vtable), 4)) {
      return Fail("the vtable of the table " + At(pos) + " is at byte " +
                  std::to_string(vtable) + ", misaligned or outside " + End());
    }
    const uint16_t vsize = r_.Read<uint16_t>(static_cast<size_t>(vtable));
    *object_size = r_.Read<uint16_t>(static_cast<size_t>(vtable) + 2);
    if (vsize < 4 || vsize % 2 != 0 || !r_.InBounds(static_cast<size_t>(vtable), vsize)) {
      return Fail("the vtable " + At(static_cast<size_t>(vtable)) + " has an invalid size (" +
                  std::to_string(vsize) + " bytes)");
    }
    if (*object_size < 4 || !r_.InBounds(pos, *object_size)) {
      return Fail("the table " + At(pos) + " has an invalid inline size (" +
                  std::to_string(*object_size) + " bytes)");
    }
    *table = Table{pos, static_cast<size_t>(vtable), vsize};
    return true;
  }

  bool VerifyTable(size_t pos, int table_index, int depth) {
    if (depth > kMaxDepth) {
      return Fail("tables are nested more than " + std::to_string(kMaxDepth) + " deep");
    }
    Table table;
    uint16_t object_size = 0;
    if (!VerifyTableHeader(pos, &table, &object_size)) return false;
    const fb::TableDesc& desc = fb::kTables[table_index];
    for (int i = 0; i < desc.num_fields; ++i) {
      if (!VerifyField(table, object_size, fb::kFields[desc.first_field + i], depth)) {
        return false;
      }
    }
    return true;
  }

  // A vector of `count` elements of `elem_size` bytes starting at `pos`.
  bool VerifyVector(size_t pos, size_t elem_size, uint32_t* count) {
    if (pos % 4 != 0 || !r_.InBounds(pos, 4)) {
      return Fail("vector " + At(pos) + " is misaligned or outside " + End());
    }
    *count = r_.Read<uint32_t>(pos);
    if (*count >= kMaxFlatbufferSize / elem_size || !r_.InBounds(pos + 4, *count * elem_size)) {
      return Fail("vector " + At(pos) + " of " + std::to_string(*count) + " elements of " +
                  std::to_string(elem_size) + " bytes runs past the end of " + End());
    }
    return true;
  }

  bool VerifyString(size_t pos) {
    uint32_t length = 0;
    if (!VerifyVector(pos, 1, &length)) return false;
    const size_t end = pos + 4 + length;
    if (!r_.InBounds(end, 1) || r_.Read<uint8_t>(end) != 0) {
      return Fail("string " + At(pos) + " is not NUL-terminated inside " + End());
    }
    return true;
  }

  bool VerifyField(Table table, uint16_t object_size, const fb::FieldDesc& field, int depth) {
    const size_t entry = 4 + 2 * size_t{field.id};
    if (entry + 2 > table.vsize) return true;  // written by an older schema: absent
    const uint16_t offset = r_.Read<uint16_t>(table.vtable + entry);
    if (offset == 0) return true;
    PathScope scope(path_, field.name);
    const size_t width = field.kind == fb::Kind::kScalar ? field.size : 4;
    if (offset < 4 || offset + width > object_size) {
      return Fail("the field lies at bytes " + std::to_string(offset) + ".." +
                  std::to_string(offset + width) + " of a table of " +
                  std::to_string(object_size) + " bytes " + At(table.pos));
    }
    const size_t pos = table.pos + offset;
    if (pos % width != 0) {
      return Fail("the " + std::to_string(width) + "-byte field " + At(pos) + " is misaligned");
    }
    size_t target = 0;
    uint32_t count = 0;
    switch (field.kind) {
      case fb::Kind::kScalar:
        return true;
      case fb::Kind::kString:
        return FollowOffset(pos, &target) && VerifyString(target);
      case fb::Kind::kTable:
        return FollowOffset(pos, &target) && VerifyTable(target, field.ref, depth + 1);
      case fb::Kind::kScalarVector:
        return FollowOffset(pos, &target) && VerifyVector(target, field.size, &count);
      case fb::Kind::kTableVector: {
        if (!FollowOffset(pos, &target) || !VerifyVector(target, 4, &count)) return false;
        for (uint32_t i = 0; i < count; ++i) {
          PathScope element(path_, nullptr, i);
          size_t element_table = 0;
          if (!FollowOffset(target + 4 + 4 * size_t{i}, &element_table) ||
              !VerifyTable(element_table, field.ref, depth + 1)) {
            return false;
          }
        }
        return true;
      }
      case fb::Kind::kUnion: {
        // The union's type is the uint8 field just before it; NONE means "not set", and
        // like flatbuffers we only check the header of a table of an unknown type.
        const uint8_t type = r_.Read<uint8_t>(FieldPos(r_, table, field.id - 1));
        if (type == 0) return true;
        if (!FollowOffset(pos, &target)) return false;
        const int member = UnionMember(field.ref, type);
        if (member < 0) {
          Table unknown;
          uint16_t unknown_size = 0;
          return VerifyTableHeader(target, &unknown, &unknown_size);
        }
        return VerifyTable(target, member, depth + 1);
      }
    }
    return Fail("unknown field kind");
  }

  const Reader& r_;
  std::vector<PathEntry> path_;
  size_t num_tables_ = 0;
  std::string error_;
};

// ---- Semantic checks on a structurally valid model ------------------------------------

// Typed access to a verified flatbuffer (still bounds-checked: a bad read yields 0 / empty).
class View {
 public:
  explicit View(const Reader& r) : r_(r) {}

  Table TableAt(size_t pos) const {
    const int64_t vtable = static_cast<int64_t>(pos) - r_.Read<int32_t>(pos);
    if (pos == 0 || vtable < 0 || !r_.InBounds(static_cast<size_t>(vtable), 4)) return {};
    return Table{pos, static_cast<size_t>(vtable), r_.Read<uint16_t>(static_cast<size_t>(vtable))};
  }
  Table Root() const { return TableAt(r_.Read<uint32_t>(0)); }

  template <typename T>
  T Scalar(Table t, uint16_t id, T default_value = T{}) const {
    const size_t pos = FieldPos(r_, t, id);
    return pos == 0 ? default_value : r_.Read<T>(pos);
  }
  Table SubTable(Table t, uint16_t id) const {
    const size_t pos = FieldPos(r_, t, id);
    return pos == 0 ? Table{} : TableAt(pos + r_.Read<uint32_t>(pos));
  }
  std::string_view String(Table t, uint16_t id) const {
    const size_t pos = FieldPos(r_, t, id);
    if (pos == 0) return {};
    const size_t str = pos + r_.Read<uint32_t>(pos);
    return r_.Bytes(str + 4, r_.Read<uint32_t>(str));
  }
  bool Has(Table t, uint16_t id) const { return FieldPos(r_, t, id) != 0; }

  struct Vec {
    size_t data = 0;  // position of element 0
    uint32_t size = 0;
  };
  Vec Vector(Table t, uint16_t id) const {
    const size_t pos = FieldPos(r_, t, id);
    if (pos == 0) return {};
    const size_t vec = pos + r_.Read<uint32_t>(pos);
    return Vec{vec + 4, r_.Read<uint32_t>(vec)};
  }
  template <typename T>
  T At(Vec v, uint32_t i) const {
    return r_.Read<T>(v.data + sizeof(T) * size_t{i});
  }
  Table TableAt(Vec v, uint32_t i) const {
    const size_t pos = v.data + 4 * size_t{i};
    return TableAt(pos + r_.Read<uint32_t>(pos));
  }

 private:
  const Reader& r_;
};

std::string Dims(const View& view, View::Vec shape) {
  std::string out = "[";
  for (uint32_t i = 0; i < shape.size; ++i) {
    out += (i ? ", " : "") + std::to_string(view.At<int32_t>(shape, i));
  }
  return out + "]";
}

// Checks the cross references and values LiteRT trusts. Each check returns false after
// storing the reason in error_.
class SemanticChecker {
 public:
  SemanticChecker(const Reader& r, uint64_t file_size) : view_(r), file_size_(file_size) {}

  bool Run() {
    model_ = view_.Root();
    const uint32_t version = view_.Scalar<uint32_t>(model_, fb::Model::version);
    if (version != kSchemaVersion) {
      return Fail("the model has schema version " + std::to_string(version) + ", expected " +
                  std::to_string(kSchemaVersion));
    }
    return CheckOperatorCodes() && CheckBuffers() && CheckMetadata() && CheckSubgraphs() &&
           CheckSignatures();
  }
  const std::string& error() const { return error_; }

 private:
  bool Fail(std::string reason) {
    error_ = std::move(reason);
    return false;
  }

  // Whether `index` names a tensor of a subgraph with `num_tensors` tensors.
  static bool ValidTensor(int64_t index, uint32_t num_tensors) {
    return index >= 0 && index < num_tensors;
  }

  bool CheckOperatorCodes() {
    const View::Vec codes = view_.Vector(model_, fb::Model::operator_codes);
    for (uint32_t i = 0; i < codes.size; ++i) {
      const Table code = view_.TableAt(codes, i);
      // TFLite reads max(builtin_code, deprecated_builtin_code) (int8, 127 = "see builtin_code").
      const int32_t builtin = std::max<int32_t>(
          view_.Scalar<int32_t>(code, fb::OperatorCode::builtin_code),
          view_.Scalar<int8_t>(code, fb::OperatorCode::deprecated_builtin_code));
      if (builtin < 0 || builtin >= fb::kNumBuiltinOperators ||
          fb::kBuiltinOperatorNames[builtin][0] == '\0') {
        return Fail("operator code " + std::to_string(i) + " has builtin code " +
                    std::to_string(builtin) + ", which is not a TFLite operator");
      }
      std::string label = fb::kBuiltinOperatorNames[builtin];
      if (builtin == fb::kBuiltinOperatorCustom) {
        const std::string_view custom = view_.String(code, fb::OperatorCode::custom_code);
        if (custom.empty()) {
          return Fail("operator code " + std::to_string(i) + " is CUSTOM without a custom_code");
        }
        if (!IsUtf8(custom)) {
          return Fail("operator code " + std::to_string(i) + " has a custom_code that is not "
                      "UTF-8: " + Quote(custom));
        }
        label = "custom " + Quote(custom);
      }
      op_labels_.push_back(std::move(label));
      op_required_inputs_.push_back(RequiredInputCount(builtin));
    }
    return true;
  }

  bool CheckBuffers() {
    const View::Vec buffers = view_.Vector(model_, fb::Model::buffers);
    buffer_bytes_.assign(buffers.size, 0);
    for (uint32_t i = 0; i < buffers.size; ++i) {
      const Table buffer = view_.TableAt(buffers, i);
      const uint64_t offset = view_.Scalar<uint64_t>(buffer, fb::Buffer::offset);
      const uint64_t size = view_.Scalar<uint64_t>(buffer, fb::Buffer::size);
      if (offset > 1) {  // external data, counted from the start of the file
        if (offset > file_size_ || size > file_size_ - offset) {
          return Fail("buffer " + std::to_string(i) + " spans bytes " + std::to_string(offset) +
                      "..+" + std::to_string(size) + ", past the end of the file (" +
                      std::to_string(file_size_) + " bytes)");
        }
        buffer_bytes_[i] = size;
      } else {  // inline data: structurally verified to lie inside the flatbuffer
        buffer_bytes_[i] = view_.Vector(buffer, fb::Buffer::data).size;
      }
    }
    return true;
  }

  bool CheckBufferIndex(int64_t index, const std::string& what) {
    if (index < 0 || index >= static_cast<int64_t>(buffer_bytes_.size())) {
      return Fail(what + " uses buffer " + std::to_string(index) + ", but the model has " +
                  std::to_string(buffer_bytes_.size()) + " buffers");
    }
    return true;
  }

  bool CheckMetadata() {
    const View::Vec ids = view_.Vector(model_, fb::Model::metadata_buffer);
    for (uint32_t i = 0; i < ids.size; ++i) {
      if (!CheckBufferIndex(view_.At<int32_t>(ids, i), "metadata_buffer " + std::to_string(i))) {
        return false;
      }
    }
    const View::Vec metadata = view_.Vector(model_, fb::Model::metadata);
    for (uint32_t i = 0; i < metadata.size; ++i) {
      const Table entry = view_.TableAt(metadata, i);
      const std::string what = "metadata " + std::to_string(i) + " (" +
                               Quote(view_.String(entry, fb::Metadata::name)) + ")";
      if (!CheckBufferIndex(view_.Scalar<uint32_t>(entry, fb::Metadata::buffer), what)) {
        return false;
      }
    }
    return true;
  }

  bool CheckSubgraphs() {
    const View::Vec subgraphs = view_.Vector(model_, fb::Model::subgraphs);
    if (subgraphs.size == 0) return Fail("the model has no subgraphs");
    num_subgraphs_ = subgraphs.size;
    for (uint32_t g = 0; g < subgraphs.size; ++g) {
      const Table subgraph = view_.TableAt(subgraphs, g);
      num_tensors_.push_back(view_.Vector(subgraph, fb::SubGraph::tensors).size);
    }
    for (uint32_t g = 0; g < subgraphs.size; ++g) {
      if (!CheckSubgraph(g, view_.TableAt(subgraphs, g))) return false;
    }
    return true;
  }

  bool CheckSubgraph(uint32_t g, Table subgraph) {
    const std::string where = " of subgraph " + std::to_string(g);
    const View::Vec tensors = view_.Vector(subgraph, fb::SubGraph::tensors);
    constant_.assign(tensors.size, false);
    for (uint32_t t = 0; t < tensors.size; ++t) {
      if (!CheckTensor(g, t, view_.TableAt(tensors, t))) return false;
    }
    const struct {
      uint16_t field;
      const char* role;
    } io[] = {{fb::SubGraph::inputs, "input "}, {fb::SubGraph::outputs, "output "}};
    for (const auto& [field, role] : io) {
      const View::Vec indices = view_.Vector(subgraph, field);
      for (uint32_t i = 0; i < indices.size; ++i) {
        const int32_t index = view_.At<int32_t>(indices, i);
        const std::string what = role + std::to_string(i) + where;
        if (!ValidTensor(index, tensors.size)) {
          return Fail(what + " is tensor " + std::to_string(index) + ", but the subgraph has " +
                      std::to_string(tensors.size) + " tensors");
        }
        if (field == fb::SubGraph::inputs && constant_[index]) {
          return Fail(what + " is tensor " + std::to_string(index) + " (" +
                      Quote(TensorName(tensors, index)) + "), a constant");
        }
      }
    }
    const View::Vec operators = view_.Vector(subgraph, fb::SubGraph::operators);
    for (uint32_t o = 0; o < operators.size; ++o) {
      if (!CheckOperator(g, o, view_.TableAt(operators, o), tensors)) return false;
    }
    return true;
  }

  std::string_view TensorName(View::Vec tensors, uint32_t t) const {
    return view_.String(view_.TableAt(tensors, t), fb::Tensor::name);
  }

  bool CheckShape(View::Vec shape, int32_t min_dim, const std::string& what) {
    if (shape.size > kMaxRank) {
      return Fail(what + " has rank " + std::to_string(shape.size) + "; LiteRT supports at most " +
                  std::to_string(kMaxRank) + " dimensions");
    }
    for (uint32_t i = 0; i < shape.size; ++i) {
      if (view_.At<int32_t>(shape, i) < min_dim) {
        return Fail(what + " has an invalid dimension " +
                    std::to_string(view_.At<int32_t>(shape, i)) + " in " + Dims(view_, shape));
      }
    }
    return true;
  }

  bool CheckTensorType(int type, const std::string& what) {
    if (type < 0 || type >= fb::kNumTensorTypes) {
      return Fail(what + " has type " + std::to_string(type) +
                  ", which is not a TFLite tensor type (0.." +
                  std::to_string(fb::kNumTensorTypes - 1) + ")");
    }
    return true;
  }

  bool CheckTensor(uint32_t g, uint32_t t, Table tensor) {
    const std::string what = "tensor " + std::to_string(t) + " of subgraph " + std::to_string(g) +
                             " (" + Quote(view_.String(tensor, fb::Tensor::name)) + ")";
    if (!IsUtf8(view_.String(tensor, fb::Tensor::name))) {
      return Fail(what + " has a name that is not UTF-8");
    }
    const int type = view_.Scalar<int8_t>(tensor, fb::Tensor::type);
    const uint32_t buffer = view_.Scalar<uint32_t>(tensor, fb::Tensor::buffer);
    const View::Vec shape = view_.Vector(tensor, fb::Tensor::shape);
    const View::Vec signature = view_.Vector(tensor, fb::Tensor::shape_signature);
    if (!CheckTensorType(type, what) || !CheckBufferIndex(buffer, what) ||
        !CheckShape(shape, 0, what) || !CheckShape(signature, -1, what + "'s shape_signature")) {
      return false;
    }
    if (signature.size != 0 && signature.size != shape.size) {
      return Fail(what + " has shape " + Dims(view_, shape) + " but shape_signature " +
                  Dims(view_, signature));
    }
    const Table quantization = view_.SubTable(tensor, fb::Tensor::quantization);
    if (quantization && !CheckQuantization(quantization, shape, g, what)) return false;
    const Table sparsity = view_.SubTable(tensor, fb::Tensor::sparsity);
    if (sparsity && !CheckSparsity(sparsity, shape.size, what)) return false;
    const View::Vec variants = view_.Vector(tensor, fb::Tensor::variant_tensors);
    for (uint32_t i = 0; i < variants.size; ++i) {
      const Table variant = view_.TableAt(variants, i);
      const std::string sub = what + "'s variant subtype " + std::to_string(i);
      if (!CheckTensorType(view_.Scalar<int8_t>(variant, fb::VariantSubType::type), sub) ||
          !CheckShape(view_.Vector(variant, fb::VariantSubType::shape), -1, sub)) {
        return false;
      }
    }

    // A constant of a fixed-size type holds exactly the bytes its shape needs (sparse
    // tensors store compressed data).
    const uint64_t bytes = buffer_bytes_[buffer];
    const int bits = kTensorTypeBits[type];
    if (bytes != 0 && bits != 0 && !sparsity) {
      constexpr uint64_t kMaxElements = uint64_t{1} << 56;  // keeps elements * bits exact
      uint64_t elements = 1;
      bool too_large = false;
      for (uint32_t i = 0; i < shape.size; ++i) {
        const uint64_t dim = static_cast<uint64_t>(view_.At<int32_t>(shape, i));
        if (dim != 0 && elements > kMaxElements / dim) too_large = true;
        elements = too_large ? kMaxElements : elements * dim;
      }
      const uint64_t expected = (elements * bits + 7) / 8;
      if (too_large || expected != bytes) {
        return Fail(what + " is " + fb::kTensorTypeNames[type] + " " + Dims(view_, shape) +
                    " (" + (too_large ? "too large" : std::to_string(expected) + " bytes") +
                    ") but buffer " + std::to_string(buffer) + " holds " + std::to_string(bytes) +
                    " bytes");
      }
    }
    constant_[t] = bytes != 0 && !view_.Scalar<uint8_t>(tensor, fb::Tensor::is_variable);
    return true;
  }

  bool CheckQuantization(Table q, View::Vec shape, uint32_t g, const std::string& what) {
    namespace qp = fb::QuantizationParameters;
    const uint32_t scales = view_.Vector(q, qp::scale).size;
    const uint32_t zero_points = view_.Vector(q, qp::zero_point).size;
    if (scales != 0) {
      if (zero_points != scales) {
        return Fail(what + " has " + std::to_string(scales) + " quantization scales but " +
                    std::to_string(zero_points) + " zero points");
      }
      const int32_t dim = view_.Scalar<int32_t>(q, qp::quantized_dimension);
      if (dim < 0 || (shape.size != 0 && static_cast<uint32_t>(dim) >= shape.size)) {
        return Fail(what + " has quantized_dimension " + std::to_string(dim) + " for shape " +
                    Dims(view_, shape));
      }
      if (scales > 1 && shape.size != 0 &&
          static_cast<int64_t>(scales) != view_.At<int32_t>(shape, dim)) {
        return Fail(what + " has " + std::to_string(scales) + " per-channel scales but dimension " +
                    std::to_string(dim) + " of " + Dims(view_, shape) + " is not that size");
      }
    }
    // Blockwise / multi-axis details name their scale and zero-point tensors by index.
    const fb::FieldDesc* details = FindField(qp::kTable, qp::details);
    const int member = UnionMember(details->ref, view_.Scalar<uint8_t>(q, qp::details_type));
    const Table d = view_.SubTable(q, qp::details);
    int32_t scale_tensor = 0, zero_point_tensor = -1;
    if (member == fb::BlockwiseQuantization::kTable) {
      scale_tensor = view_.Scalar<int32_t>(d, fb::BlockwiseQuantization::scales);
      zero_point_tensor = view_.Scalar<int32_t>(d, fb::BlockwiseQuantization::zero_points);
    } else if (member == fb::MultiAxisQuantization::kTable) {
      scale_tensor = view_.Scalar<int32_t>(d, fb::MultiAxisQuantization::scales);
      zero_point_tensor = view_.Scalar<int32_t>(d, fb::MultiAxisQuantization::zero_points);
    } else {
      return true;
    }
    if (!d) return Fail(what + " has quantization details of type " + fb::kTables[member].name +
                        " without the details table");
    if (!ValidTensor(scale_tensor, num_tensors_[g]) ||
        (zero_point_tensor != -1 && !ValidTensor(zero_point_tensor, num_tensors_[g]))) {
      return Fail(what + " has " + fb::kTables[member].name + " scales tensor " +
                  std::to_string(scale_tensor) + " and zero_points tensor " +
                  std::to_string(zero_point_tensor) + ", but the subgraph has " +
                  std::to_string(num_tensors_[g]) + " tensors");
    }
    return true;
  }

  bool CheckSparsity(Table s, uint32_t rank, const std::string& what) {
    namespace sp = fb::SparsityParameters;
    const View::Vec order = view_.Vector(s, sp::traversal_order);
    const View::Vec block_map = view_.Vector(s, sp::block_map);
    const uint32_t dims = view_.Vector(s, sp::dim_metadata).size;
    if (order.size != dims || static_cast<uint64_t>(rank) + block_map.size != dims) {
      return Fail(what + " has sparsity with " + std::to_string(order.size) +
                  " traversal_order entries, " + std::to_string(dims) + " dim_metadata and " +
                  std::to_string(block_map.size) + " block_map entries for rank " +
                  std::to_string(rank));
    }
    for (uint32_t i = 0; i < order.size; ++i) {
      const int32_t d = view_.At<int32_t>(order, i);
      if (d < 0 || static_cast<uint32_t>(d) >= dims) {
        return Fail(what + " has sparsity traversal_order entry " + std::to_string(d));
      }
    }
    for (uint32_t i = 0; i < block_map.size; ++i) {
      const int32_t d = view_.At<int32_t>(block_map, i);
      if (d < 0 || static_cast<uint32_t>(d) >= rank) {
        return Fail(what + " has sparsity block_map entry " + std::to_string(d));
      }
    }
    return true;
  }

  bool CheckOperator(uint32_t g, uint32_t o, Table op, View::Vec tensors) {
    namespace fo = fb::Operator;
    const uint32_t opcode = view_.Scalar<uint32_t>(op, fo::opcode_index);
    std::string what = "operator " + std::to_string(o);
    if (opcode >= op_labels_.size()) {
      return Fail(what + " of subgraph " + std::to_string(g) + " uses operator code " +
                  std::to_string(opcode) + ", but the model has " +
                  std::to_string(op_labels_.size()) + " operator codes");
    }
    what += " (" + op_labels_[opcode] + ") of subgraph " + std::to_string(g);

    const struct {
      uint16_t field;
      const char* role;
    } lists[] = {{fo::inputs, "input "}, {fo::outputs, "output "},
                 {fo::intermediates, "intermediate "}};
    for (const auto& [field, role] : lists) {
      const View::Vec indices = view_.Vector(op, field);
      for (uint32_t i = 0; i < indices.size; ++i) {
        const int32_t index = view_.At<int32_t>(indices, i);
        const std::string item = role + std::to_string(i) + " of " + what;
        if (field == fo::inputs && index == -1) {  // an omitted optional input
          const int required = op_required_inputs_[opcode];
          if (required < 0 || i < static_cast<uint32_t>(required)) {
            return Fail(item + " is omitted (-1), but the operator requires it");
          }
          continue;
        }
        if (!ValidTensor(index, tensors.size)) {
          return Fail(item + " is tensor " + std::to_string(index) + ", but the subgraph has " +
                      std::to_string(tensors.size) + " tensors");
        }
        if (field == fo::outputs && constant_[index]) {
          return Fail(item + " is tensor " + std::to_string(index) + " (" +
                      Quote(TensorName(tensors, index)) + "), a constant");
        }
      }
    }

    const uint64_t offset = view_.Scalar<uint64_t>(op, fo::large_custom_options_offset);
    const uint64_t size = view_.Scalar<uint64_t>(op, fo::large_custom_options_size);
    if (offset > 1 && (offset > file_size_ || size > file_size_ - offset)) {
      return Fail(what + " has large custom options at bytes " + std::to_string(offset) + "..+" +
                  std::to_string(size) + ", past the end of the file (" +
                  std::to_string(file_size_) + " bytes)");
    }

    // Control-flow options (WHILE, IF, CALL_ONCE, StableHLO regions) name subgraphs.
    const uint16_t unions[] = {fo::builtin_options, fo::builtin_options_2};
    for (uint16_t field : unions) {
      const Table options = view_.SubTable(op, field);
      const int member = UnionMember(FindField(fo::kTable, field)->ref,
                                     view_.Scalar<uint8_t>(op, static_cast<uint16_t>(field - 1)));
      if (!options || member < 0) continue;
      const fb::TableDesc& desc = fb::kTables[member];
      for (int i = 0; i < desc.num_fields; ++i) {
        const fb::FieldDesc& f = fb::kFields[desc.first_field + i];
        if (!f.subgraph_ref || f.size != 4) continue;
        const int32_t index = view_.Scalar<int32_t>(options, f.id);
        if (index < 0 || static_cast<uint32_t>(index) >= num_subgraphs_) {
          return Fail(what + " has " + desc.name + "." + f.name + " = " + std::to_string(index) +
                      ", but the model has " + std::to_string(num_subgraphs_) + " subgraphs");
        }
      }
    }
    return true;
  }

  bool CheckSignatures() {
    const View::Vec signatures = view_.Vector(model_, fb::Model::signature_defs);
    for (uint32_t s = 0; s < signatures.size; ++s) {
      const Table signature = view_.TableAt(signatures, s);
      std::string what = "signature " + std::to_string(s);
      if (!view_.Has(signature, fb::SignatureDef::signature_key)) {
        return Fail(what + " has no signature_key");
      }
      const std::string_view key = view_.String(signature, fb::SignatureDef::signature_key);
      what += " (" + Quote(key) + ")";
      if (!IsUtf8(key)) return Fail(what + " has a signature_key that is not UTF-8");
      const uint32_t g = view_.Scalar<uint32_t>(signature, fb::SignatureDef::subgraph_index);
      if (g >= num_subgraphs_) {
        return Fail(what + " refers to subgraph " + std::to_string(g) + ", but the model has " +
                    std::to_string(num_subgraphs_) + " subgraphs");
      }
      const struct {
        uint16_t field;
        const char* role;
      } maps[] = {{fb::SignatureDef::inputs, " input "}, {fb::SignatureDef::outputs, " output "}};
      for (const auto& [field, role] : maps) {
        const View::Vec entries = view_.Vector(signature, field);
        for (uint32_t i = 0; i < entries.size; ++i) {
          const Table entry = view_.TableAt(entries, i);
          if (!view_.Has(entry, fb::TensorMap::name)) {
            return Fail(what + role + std::to_string(i) + " has no name");
          }
          if (!IsUtf8(view_.String(entry, fb::TensorMap::name))) {
            return Fail(what + role + std::to_string(i) + " has a name that is not UTF-8: " +
                        Quote(view_.String(entry, fb::TensorMap::name)));
          }
          const uint32_t index = view_.Scalar<uint32_t>(entry, fb::TensorMap::tensor_index);
          if (index >= num_tensors_[g]) {
            return Fail(what + role + Quote(view_.String(entry, fb::TensorMap::name)) +
                        " is tensor " + std::to_string(index) + ", but subgraph " +
                        std::to_string(g) + " has " + std::to_string(num_tensors_[g]) +
                        " tensors");
          }
        }
      }
    }
    return true;
  }

  View view_;
  uint64_t file_size_;
  Table model_;
  std::string error_;
  std::vector<std::string> op_labels_;   // per operator code, for messages
  std::vector<int> op_required_inputs_;  // per operator code: see RequiredInputCount
  std::vector<uint64_t> buffer_bytes_;   // per buffer: bytes of constant data (0: none)
  uint32_t num_subgraphs_ = 0;
  std::vector<uint32_t> num_tensors_;    // per subgraph
  std::vector<bool> constant_;           // per tensor of the subgraph being checked
};

// `data` holds at least the first min(file_size, kMaxFlatbufferSize) bytes of the file
// (it is not read when the file is shorter than the 8-byte header).
Status Validate(const uint8_t* data, uint64_t file_size, const std::string& path) {
  const std::string corrupt = "model file '" + path + "' is corrupt: ";
  if (file_size < 8) {
    return Status(ErrorCode::kModelLoad, corrupt + "the file is truncated (" +
                                             std::to_string(file_size) + " bytes)");
  }
  if (std::memcmp(data + 4, "TFL3", 4) != 0) {
    return Status(ErrorCode::kModelLoad, "model file '" + path +
                                             "' is not a TFLite model (missing the TFL3 "
                                             "file identifier)");
  }
  const Reader reader(data, static_cast<size_t>(std::min<uint64_t>(file_size, kMaxFlatbufferSize)));
  StructureVerifier structure(reader);
  if (!structure.VerifyRoot()) return Status(ErrorCode::kModelLoad, corrupt + structure.error());
  SemanticChecker semantics(reader, file_size);
  if (!semantics.Run()) return Status(ErrorCode::kModelLoad, corrupt + semantics.error());
  return Status::Ok();
}

}  // namespace

Status ValidateTfliteModel(const uint8_t* data, size_t size, const std::string& path) {
  if (data == nullptr && size != 0) {
    return Status(ErrorCode::kInvalidArgument, "ValidateTfliteModel: null data");
  }
  return Validate(data, size, path);
}

Status ValidateTfliteModelFile(const std::string& path) {
  struct stat info = {};
  if (stat(path.c_str(), &info) != 0) {
    return Status(ErrorCode::kModelLoad,
                  "cannot open model file '" + path + "': " + std::strerror(errno));
  }
  if (!S_ISREG(info.st_mode)) {  // also keeps us from blocking on a FIFO
    return Status(ErrorCode::kModelLoad, "model path '" + path + "' is not a regular file");
  }
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Status(ErrorCode::kModelLoad,
                  "cannot open model file '" + path + "': " + std::strerror(errno));
  }
  if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    const int error = errno;
    close(fd);
    return Status(ErrorCode::kModelLoad,
                  "cannot read model file '" + path + "': " + std::strerror(error));
  }
  const uint64_t file_size = static_cast<uint64_t>(info.st_size);
  if (file_size < 8) {
    close(fd);
    return Validate(nullptr, file_size, path);  // reports the truncation without reading
  }
  // Only the flatbuffer can be referenced by offsets: map at most its maximum size.
  const size_t length = static_cast<size_t>(std::min<uint64_t>(file_size, kMaxFlatbufferSize));
  void* mapping = mmap(nullptr, length, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_error = errno;
  close(fd);
  if (mapping == MAP_FAILED) {
    return Status(ErrorCode::kModelLoad,
                  "cannot map model file '" + path + "': " + std::strerror(map_error));
  }
  Status status = Validate(static_cast<const uint8_t*>(mapping), file_size, path);
  munmap(mapping, length);
  return status;
}

}  // namespace litegen
