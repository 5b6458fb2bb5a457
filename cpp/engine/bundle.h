// Reader of .litegen bundles: one file that is itself a valid .tflite (the model bytes
// start at offset 0, so LiteRtCreateModelFromFile and the XNNPack weight cache take the
// bundle path unchanged) followed by 64-byte-aligned sections (SentencePiece or byte-level
// BPE tokenizer, metadata JSON), a section table and a fixed 64-byte footer. The format is
// specified in docs/bundle_format.md; python/litegen/bundle writes it.
//
// Every problem is a kModelLoad Status naming the file and the reason ("bundle 'x.litegen'
// is corrupt: checksum mismatch ..."); nothing aborts on a damaged file.
#ifndef LITEGEN_CPP_ENGINE_BUNDLE_H_
#define LITEGEN_CPP_ENGINE_BUNDLE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/tokenizer.h"
#include "litert/status.h"

namespace litegen {

inline constexpr char kBundleMagic[8] = {'L', 'I', 'T', 'E', 'G', 'E', 'N', '\0'};
inline constexpr uint32_t kBundleFormatVersion = 1;
inline constexpr uint64_t kBundleFooterSize = 64;
inline constexpr uint64_t kBundleAlignment = 64;
inline constexpr uint64_t kBundleSectionEntrySize = 32;

enum class BundleSectionKind : uint32_t {
  kTokenizerSentencePiece = 1,  // a serialized SentencePiece ModelProto
  kMetadataJson = 2,            // UTF-8 JSON object (see BundleMetadata)
  kTokenizerBpeByteLevel = 3,   // a serialized byte-level BPE tokenizer (bpe_tokenizer.h)
};

// The fields of the metadata JSON the engine uses (the raw JSON is kept too).
struct BundleMetadata {
  int format_version = 0;
  std::string litegen_version;
  std::string source_checkpoint;
  std::string model_type;
  std::string quant_recipe;
  std::string export_form;
  int64_t context_size = 0;           // KV-cache positions the model was exported with
  std::vector<std::string> signatures;  // e.g. {"prefill", "decode"}
  std::string tokenizer_type;         // "sentencepiece" or "bpe_bytelevel"
  int vocab_size = 0;
  int bos_token_id = -1;              // -1: none
  std::vector<int> eos_token_ids;     // stop tokens (generation_config + tokenizer EOS)
  int pad_token_id = -1;
  bool add_bos_token = false;         // prepend BOS to prompts
  std::string chat_template;          // Jinja source from tokenizer_config.json; may be empty
};

struct BundleInfo {
  std::string path;
  uint64_t file_size = 0;
  uint32_t format_version = 0;
  // The .tflite model: bytes [model_offset, model_offset + model_size) of the file. Load it
  // by passing `path` itself to LiteRT (model_offset is always 0).
  uint64_t model_offset = 0;
  uint64_t model_size = 0;
  // The tokenizer section (kind 1 or 3) and its bytes (Tokenizer::FromModelBytes).
  BundleSectionKind tokenizer_kind = BundleSectionKind::kTokenizerSentencePiece;
  std::string tokenizer_model;
  std::string metadata_json;
  BundleMetadata metadata;
};

// True when the file ends with a litegen bundle footer magic (cheap: reads 64 bytes).
// A missing/unreadable file is kModelLoad; a short or plain .tflite file is false.
Expected<bool> IsBundleFile(const std::string& path);

// Reads and validates the footer, the section table, the checksum of everything after the
// model, the sections' ranges and the metadata. Reads only the small sections into memory,
// never the model bytes.
Expected<BundleInfo> OpenBundle(const std::string& path);

// The bundle's tokenizer (named "bundle '<path>'" in messages).
Expected<std::unique_ptr<Tokenizer>> LoadBundleTokenizer(const BundleInfo& info);

// CRC-32 (IEEE 802.3, the zlib.crc32 of Python), continuing from `crc`.
uint32_t Crc32(const void* data, size_t size, uint32_t crc = 0);

}  // namespace litegen

#endif  // LITEGEN_CPP_ENGINE_BUNDLE_H_
