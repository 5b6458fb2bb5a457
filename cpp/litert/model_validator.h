// Structural and semantic validation of a .tflite file before LiteRT sees it.
//
// LiteRtCreateModelFromFile does not fully verify the flatbuffer: a file with a few flipped
// bytes can crash the process. These functions check every table, vector and string the
// TFLite schema (third_party/litert/tflite_schema_table.h) defines, with explicit bounds,
// plus the cross references LiteRT trusts (tensor, buffer, operator-code and subgraph
// indices, external buffer ranges, constant sizes, ranks). Only the flatbuffer part of the
// file is read: external weight data (Buffer.offset/size) is range-checked, never touched.
//
// Errors are kModelLoad. A structurally or semantically broken file gets
// "model file '<path>' is corrupt: <reason>", e.g.
//   "tensor 3 of subgraph 0 ('w') uses buffer 17, but the model has 5 buffers".
#ifndef LITEGEN_CPP_LITERT_MODEL_VALIDATOR_H_
#define LITEGEN_CPP_LITERT_MODEL_VALIDATOR_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "litert/status.h"

namespace litegen {

// Checks that `data` (the whole file, `size` bytes) is a structurally valid TFLite model
// that LiteRT can read safely. `path` is only used in messages.
Status ValidateTfliteModel(const uint8_t* data, size_t size, const std::string& path);

// Maps the file read-only (it may be several GB; only the flatbuffer pages are touched)
// and validates it. Missing / unreadable / non-regular files are kModelLoad errors too.
Status ValidateTfliteModelFile(const std::string& path);

}  // namespace litegen

#endif  // LITEGEN_CPP_LITERT_MODEL_VALIDATOR_H_
