// Minimal declarations of the LiteRT C API exported by libLiteRt.so in the
// ai-edge-litert==2.3.0 wheel (symbol version VERS_1.0).
//
// The wheel ships no headers, so litegen declares exactly the subset it calls.
// Every type here must match the library's ABI bit for bit: the struct sizes and
// offsets are asserted below, and the Python package refuses to load against any
// other ai-edge-litert version (see python/litegen/runtime/_native.py). When the
// pin moves, re-check every declaration against the public LiteRT sources
// (litert/c/*.h at the matching release) before changing the version.
#ifndef LITEGEN_THIRD_PARTY_LITERT_C_ABI_H_
#define LITEGEN_THIRD_PARTY_LITERT_C_ABI_H_

#include <cstddef>
#include <cstdint>

#define LITEGEN_LITERT_ABI_VERSION "2.3.0"

extern "C" {

// ---- Opaque handles -------------------------------------------------------
typedef struct LiteRtEnvironmentT* LiteRtEnvironment;
typedef struct LiteRtModelT* LiteRtModel;
typedef struct LiteRtSignatureT* LiteRtSignature;
typedef struct LiteRtSubgraphT* LiteRtSubgraph;
typedef struct LiteRtOpT* LiteRtOp;
typedef struct LiteRtTensorT* LiteRtTensor;
typedef struct LiteRtOptionsT* LiteRtOptions;
typedef struct LiteRtOpaqueOptionsT* LiteRtOpaqueOptions;
typedef struct LiteRtCompiledModelT* LiteRtCompiledModel;
typedef struct LiteRtTensorBufferT* LiteRtTensorBuffer;

typedef size_t LiteRtParamIndex;

// ---- Status ---------------------------------------------------------------
// Only the values litegen reports by name; any other value is printed as a number.
typedef enum {
  kLiteRtStatusOk = 0,
  kLiteRtStatusErrorInvalidArgument = 1,
  kLiteRtStatusErrorMemoryAllocationFailure = 2,
  kLiteRtStatusErrorRuntimeFailure = 3,
  kLiteRtStatusErrorMissingInputTensor = 4,
  kLiteRtStatusErrorUnsupported = 5,
  kLiteRtStatusErrorNotFound = 6,
  kLiteRtStatusErrorFileIO = 500,
  kLiteRtStatusErrorInvalidFlatbuffer = 501,
  kLiteRtStatusErrorCompilation = 504,
  kLiteRtStatusErrorIndexOOB = 1000,
} LiteRtStatus;

// ---- Environment ----------------------------------------------------------
typedef enum {
  kLiteRtAnyTypeNone = 0,
  kLiteRtAnyTypeBool = 1,
  kLiteRtAnyTypeInt = 2,
  kLiteRtAnyTypeReal = 3,
  kLiteRtAnyTypeString = 8,
  kLiteRtAnyTypeVoidPtr = 9,
} LiteRtAnyType;

typedef struct {
  LiteRtAnyType type;
  union {
    bool bool_value;
    int64_t int_value;
    double real_value;
    const char* str_value;
    const void* ptr_value;
  };
} LiteRtAny;

typedef enum {
  // Bitmask of accelerators registered automatically; 1 = CPU only, which
  // avoids probing for GPU/NPU plugins at start-up.
  kLiteRtEnvOptionTagAutoRegisterAccelerators = 24,
  // Minimum log severity: 0 verbose, 1 info, 2 warning, 3 error, 4 silent.
  kLiteRtEnvOptionTagMinLoggerSeverity = 25,
} LiteRtEnvOptionTag;

typedef struct {
  LiteRtEnvOptionTag tag;
  LiteRtAny value;
} LiteRtEnvOption;

LiteRtStatus LiteRtCreateEnvironment(int num_options, const LiteRtEnvOption* options,
                                     LiteRtEnvironment* environment);
void LiteRtDestroyEnvironment(LiteRtEnvironment environment);

// ---- Tensor types -----------------------------------------------------------
// Values follow TFLite's TfLiteType.
typedef enum {
  kLiteRtElementTypeNone = 0,
  kLiteRtElementTypeFloat32 = 1,
  kLiteRtElementTypeInt32 = 2,
  kLiteRtElementTypeUInt8 = 3,
  kLiteRtElementTypeInt64 = 4,
  kLiteRtElementTypeBool = 6,
  kLiteRtElementTypeInt16 = 7,
  kLiteRtElementTypeInt8 = 9,
  kLiteRtElementTypeFloat16 = 10,
  kLiteRtElementTypeInt4 = 18,
  kLiteRtElementTypeBFloat16 = 19,
} LiteRtElementType;

#define LITERT_TENSOR_MAX_RANK 8

typedef struct {
  unsigned int rank : 7;
  unsigned int has_strides : 1;
  int32_t dimensions[LITERT_TENSOR_MAX_RANK];
  uint32_t strides[LITERT_TENSOR_MAX_RANK];
} LiteRtLayout;

typedef struct {
  LiteRtElementType element_type;
  LiteRtLayout layout;
} LiteRtRankedTensorType;

typedef enum {
  kLiteRtRankedTensorType = 0,
  kLiteRtUnrankedTensorType = 1,
} LiteRtTensorTypeId;

// ---- Model and signatures ---------------------------------------------------
LiteRtStatus LiteRtCreateModelFromFile(LiteRtEnvironment environment, const char* filename,
                                       LiteRtModel* model);
void LiteRtDestroyModel(LiteRtModel model);
LiteRtStatus LiteRtGetNumModelSignatures(LiteRtModel model, LiteRtParamIndex* num_signatures);
LiteRtStatus LiteRtGetModelSignature(LiteRtModel model, LiteRtParamIndex signature_index,
                                     LiteRtSignature* signature);
LiteRtStatus LiteRtGetSignatureKey(LiteRtSignature signature, const char** signature_key);
LiteRtStatus LiteRtGetSignatureSubgraph(LiteRtSignature signature, LiteRtSubgraph* subgraph);
LiteRtStatus LiteRtGetNumSignatureInputs(LiteRtSignature signature,
                                         LiteRtParamIndex* num_inputs);
LiteRtStatus LiteRtGetSignatureInputName(LiteRtSignature signature, LiteRtParamIndex input_idx,
                                         const char** input_name);
LiteRtStatus LiteRtGetSignatureInputTensorByIndex(LiteRtSignature signature,
                                                  LiteRtParamIndex input_idx,
                                                  LiteRtTensor* tensor);
LiteRtStatus LiteRtGetNumSignatureOutputs(LiteRtSignature signature,
                                          LiteRtParamIndex* num_outputs);
LiteRtStatus LiteRtGetSignatureOutputName(LiteRtSignature signature,
                                          LiteRtParamIndex output_idx,
                                          const char** output_name);
LiteRtStatus LiteRtGetSignatureOutputTensorByIndex(LiteRtSignature signature,
                                                   LiteRtParamIndex output_idx,
                                                   LiteRtTensor* tensor);
LiteRtStatus LiteRtGetTensorTypeId(LiteRtTensor tensor, LiteRtTensorTypeId* type_id);
LiteRtStatus LiteRtGetRankedTensorType(LiteRtTensor tensor,
                                       LiteRtRankedTensorType* ranked_tensor_type);

// Graph walk, used to list the custom ops a model needs before compiling it.
LiteRtStatus LiteRtGetNumModelSubgraphs(LiteRtModel model, LiteRtParamIndex* num_subgraphs);
LiteRtStatus LiteRtGetModelSubgraph(LiteRtModel model, LiteRtParamIndex subgraph_index,
                                    LiteRtSubgraph* subgraph);
LiteRtStatus LiteRtGetNumSubgraphOps(LiteRtSubgraph subgraph, LiteRtParamIndex* num_ops);
LiteRtStatus LiteRtGetSubgraphOp(LiteRtSubgraph subgraph, LiteRtParamIndex op_index,
                                 LiteRtOp* op);
// Returns the LiteRtOpCode (TFLite builtin operator value); 32 is CUSTOM.
LiteRtStatus LiteRtGetOpCode(LiteRtOp op, int* code);  // LiteRtOpCode is an int-sized enum
LiteRtStatus LiteRtGetCustomCode(LiteRtOp op, const char** code);

// ---- Compilation options ----------------------------------------------------
typedef enum {
  kLiteRtHwAcceleratorNone = 0,
  kLiteRtHwAcceleratorCpu = 1 << 0,
} LiteRtHwAccelerators;
typedef int LiteRtHwAcceleratorSet;

LiteRtStatus LiteRtCreateOptions(LiteRtOptions* options);
void LiteRtDestroyOptions(LiteRtOptions options);
LiteRtStatus LiteRtSetOptionsHardwareAccelerators(LiteRtOptions options,
                                                  LiteRtHwAcceleratorSet accelerators);
// Takes ownership of `opaque_options` on success.
LiteRtStatus LiteRtAddOpaqueOptions(LiteRtOptions options, LiteRtOpaqueOptions opaque_options);
LiteRtStatus LiteRtCreateOpaqueOptions(const char* payload_identifier, void* payload_data,
                                       void (*payload_destructor)(void* payload_data),
                                       LiteRtOpaqueOptions* options);
void LiteRtDestroyOpaqueOptions(LiteRtOpaqueOptions options);

// A custom kernel. LiteRT calls Init once per op node (with that node's
// custom_options bytes), GetOutputLayouts at every prepare, Run at every invoke
// and Destroy once per node. The same user_data is passed to all nodes of the op;
// the status returned by GetOutputLayouts and Run is ignored by LiteRT.
typedef struct {
  LiteRtStatus (*Init)(void* user_data, const void* init_data, size_t init_data_size);
  LiteRtStatus (*GetOutputLayouts)(void* user_data, size_t num_inputs,
                                   const LiteRtLayout* input_layouts, size_t num_outputs,
                                   LiteRtLayout* output_layouts);
  LiteRtStatus (*Run)(void* user_data, size_t num_inputs, const LiteRtTensorBuffer* inputs,
                      size_t num_outputs, LiteRtTensorBuffer* outputs);
  LiteRtStatus (*Destroy)(void* user_data);
} LiteRtCustomOpKernel;

LiteRtStatus LiteRtAddCustomOpKernelOption(LiteRtOptions options, const char* custom_op_name,
                                           int custom_op_version,
                                           const LiteRtCustomOpKernel* custom_op_kernel,
                                           void* custom_op_kernel_user_data);

// ---- Compiled model ---------------------------------------------------------
LiteRtStatus LiteRtCreateCompiledModel(LiteRtEnvironment environment, LiteRtModel model,
                                       LiteRtOptions compilation_options,
                                       LiteRtCompiledModel* compiled_model);
void LiteRtDestroyCompiledModel(LiteRtCompiledModel compiled_model);
LiteRtStatus LiteRtRunCompiledModel(LiteRtCompiledModel compiled_model,
                                    LiteRtParamIndex signature_index, size_t num_input_buffers,
                                    LiteRtTensorBuffer* input_buffers, size_t num_output_buffers,
                                    LiteRtTensorBuffer* output_buffers);
// Sets the shape of a dynamic (-1) input; static dimensions must match.
LiteRtStatus LiteRtCompiledModelResizeInputTensor(LiteRtCompiledModel compiled_model,
                                                  LiteRtParamIndex signature_index,
                                                  LiteRtParamIndex input_index, const int* dims,
                                                  size_t dims_size);
// Output shapes after input resizes; update_allocation=true re-plans memory.
LiteRtStatus LiteRtGetCompiledModelOutputTensorLayouts(LiteRtCompiledModel compiled_model,
                                                       LiteRtParamIndex signature_index,
                                                       size_t num_layouts, LiteRtLayout* layouts,
                                                       bool update_allocation);
LiteRtStatus LiteRtCompiledModelIsFullyAccelerated(LiteRtCompiledModel compiled_model,
                                                   bool* fully_accelerated);

// ---- Tensor buffers -----------------------------------------------------------
typedef enum {
  kLiteRtTensorBufferLockModeRead = 0,
  kLiteRtTensorBufferLockModeWrite = 1,
  kLiteRtTensorBufferLockModeReadWrite = 2,
} LiteRtTensorBufferLockMode;

typedef void (*LiteRtHostMemoryDeallocator)(void* addr);

// Wraps caller-owned memory (zero copy). The address must be 64-byte aligned.
LiteRtStatus LiteRtCreateTensorBufferFromHostMemory(const LiteRtRankedTensorType* tensor_type,
                                                    void* host_buffer_addr,
                                                    size_t host_buffer_size,
                                                    LiteRtHostMemoryDeallocator deallocator,
                                                    LiteRtTensorBuffer* buffer);
void LiteRtDestroyTensorBuffer(LiteRtTensorBuffer buffer);
LiteRtStatus LiteRtGetTensorBufferTensorType(LiteRtTensorBuffer tensor_buffer,
                                             LiteRtRankedTensorType* tensor_type);
LiteRtStatus LiteRtGetTensorBufferSize(LiteRtTensorBuffer tensor_buffer, size_t* size);
LiteRtStatus LiteRtLockTensorBuffer(LiteRtTensorBuffer tensor_buffer, void** host_mem_addr,
                                    LiteRtTensorBufferLockMode lock_mode);
LiteRtStatus LiteRtUnlockTensorBuffer(LiteRtTensorBuffer buffer);

}  // extern "C"

// ---- ABI checks (x86_64 and arm64 alike) ---------------------------------------
static_assert(sizeof(void*) == 8, "litegen supports 64-bit targets only");
static_assert(sizeof(LiteRtAny) == 16, "LiteRtAny size mismatch");
static_assert(sizeof(LiteRtEnvOption) == 24, "LiteRtEnvOption size mismatch");
static_assert(offsetof(LiteRtEnvOption, value) == 8, "LiteRtEnvOption value offset mismatch");
static_assert(sizeof(LiteRtLayout) == 68, "LiteRtLayout size mismatch");
static_assert(offsetof(LiteRtLayout, dimensions) == 4, "LiteRtLayout dimensions offset");
static_assert(offsetof(LiteRtLayout, strides) == 36, "LiteRtLayout strides offset");
static_assert(sizeof(LiteRtRankedTensorType) == 72, "LiteRtRankedTensorType size mismatch");
static_assert(offsetof(LiteRtRankedTensorType, layout) == 4, "LiteRtRankedTensorType layout");
static_assert(sizeof(LiteRtCustomOpKernel) == 4 * sizeof(void*), "LiteRtCustomOpKernel size");
static_assert(sizeof(LiteRtStatus) == 4, "LiteRtStatus must be an int-sized enum");

#endif  // LITEGEN_THIRD_PARTY_LITERT_C_ABI_H_
