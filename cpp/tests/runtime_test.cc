// Tests of the LiteRT wrapper layer on the models written by tests/fixtures/cpp_models.py.
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>

#include "litert/compiled_model.h"
#include "litert/huge_page_advice.h"
#include "test_framework.h"

namespace litegen {
namespace {

using testing::FixtureDir;

constexpr int kIn = 16, kOut = 8, kAccumulateSize = 6;

std::string Fixture(const std::string& name) { return FixtureDir() + "/" + name; }

float Weight(int n, int k) { return static_cast<float>((7 * n + 3 * k) % 11 - 5) / 8.0f; }
float Bias(int n) { return static_cast<float>(n % 3 - 1); }

std::shared_ptr<const Environment> Env() {
  auto env = Environment::Create();
  return env.ok() ? env.value() : nullptr;
}

Expected<std::unique_ptr<CompiledModel>> Compile(const std::string& name,
                                                 CompileOptions options = {}) {
  auto env = Environment::Create();
  if (!env.ok()) return env.status();
  LITEGEN_ASSIGN_OR_RETURN(auto model, Model::Load(env.value(), Fixture(name)));
  return CompiledModel::Create(std::move(model), options);
}

// Runs the FC signature on `rows` rows of x[r][k] = (r + 1) * 0.1 - k * 0.05 and checks y.
void CheckFullyConnected(CompiledModel& compiled, const std::string& signature_name, int rows) {
  auto signature = compiled.model().FindSignature(signature_name);
  CHECK_OK(signature);
  if (!signature.ok()) return;
  auto x = HostTensor::Allocate(kLiteRtElementTypeFloat32, {rows, kIn}, "x");
  CHECK_OK(x);
  float* xs = static_cast<float*>(x->data());
  for (int r = 0; r < rows; ++r) {
    for (int k = 0; k < kIn; ++k) xs[r * kIn + k] = (r + 1) * 0.1f - k * 0.05f;
  }
  auto shapes = compiled.PrepareShapes(**signature, {x->shape()});
  CHECK_OK(shapes);
  if (!shapes.ok()) return;
  CHECK(shapes.value()[0] == (Shape{rows, kOut}));
  auto y = HostTensor::Allocate(kLiteRtElementTypeFloat32, shapes.value()[0], "y");
  CHECK_OK(y);
  CHECK_OK(compiled.Run(**signature, {&x.value()}, {&y.value()}));
  const float* ys = static_cast<const float*>(y->data());
  for (int r = 0; r < rows; ++r) {
    for (int n = 0; n < kOut; ++n) {
      double expected = Bias(n);
      for (int k = 0; k < kIn; ++k) expected += double(Weight(n, k)) * xs[r * kIn + k];
      CHECK_NEAR(ys[r * kOut + n], expected, 1e-4);
    }
  }
}

TEST(EnvironmentAndModelSignatures) {
  auto env = Environment::Create();
  CHECK_OK(env);
  auto model = Model::Load(env.value(), Fixture("two_signature_fc.tflite"));
  CHECK_OK(model);
  if (!model.ok()) return;
  const auto& signatures = model.value()->signatures();
  CHECK_EQ(signatures.size(), size_t{2});
  auto prefill = model.value()->FindSignature("prefill");
  CHECK_OK(prefill);
  CHECK_EQ((*prefill)->inputs.size(), size_t{1});
  CHECK_EQ((*prefill)->inputs[0].name, std::string("x"));
  CHECK_EQ((*prefill)->inputs[0].type, kLiteRtElementTypeFloat32);
  CHECK((*prefill)->inputs[0].shape == (Shape{-1, kIn}));
  CHECK((*prefill)->outputs[0].shape == (Shape{-1, kOut}));
  auto decode = model.value()->FindSignature("decode");
  CHECK_OK(decode);
  CHECK((*decode)->inputs[0].shape == (Shape{1, kIn}));
  CHECK(model.value()->custom_ops().empty());
  CHECK_ERROR(model.value()->FindSignature("generate"), ErrorCode::kSignature,
              "available: 'prefill', 'decode'");
}

TEST(RunsBothSignaturesWithDynamicRows) {
  auto compiled = Compile("two_signature_fc.tflite");
  CHECK_OK(compiled);
  if (!compiled.ok()) return;
  CHECK(compiled.value()->fully_accelerated());
  for (int rows : {3, 7, 1, 3}) CheckFullyConnected(**compiled, "prefill", rows);
  CheckFullyConnected(**compiled, "decode", 1);
}

TEST(WeightCacheFileIsCreatedAndReused) {
  const std::string cache = Fixture("two_signature_fc.weight_cache");
  std::remove(cache.c_str());
  CompileOptions options;
  options.weight_cache_path = cache;
  {
    auto compiled = Compile("two_signature_fc.tflite", options);
    CHECK_OK(compiled);
    if (compiled.ok()) CheckFullyConnected(**compiled, "prefill", 4);
  }
  struct stat first = {};
  CHECK(stat(cache.c_str(), &first) == 0);
  CHECK(first.st_size > 0);
  {
    auto compiled = Compile("two_signature_fc.tflite", options);
    CHECK_OK(compiled);
    if (compiled.ok()) CheckFullyConnected(**compiled, "decode", 1);
  }
  struct stat second = {};
  CHECK(stat(cache.c_str(), &second) == 0);
  CHECK_EQ(second.st_size, first.st_size);
}

TEST(RejectsBadInputs) {
  auto compiled = Compile("two_signature_fc.tflite");
  CHECK_OK(compiled);
  if (!compiled.ok()) return;
  const SignatureSpec* decode = compiled.value()->model().FindSignature("decode").value();
  auto x_int = HostTensor::Allocate(kLiteRtElementTypeInt32, {1, kIn}, "x");
  auto x_wide = HostTensor::Allocate(kLiteRtElementTypeFloat32, {2, kIn}, "x");
  auto y = HostTensor::Allocate(kLiteRtElementTypeFloat32, {1, kOut}, "y");
  auto y_wrong = HostTensor::Allocate(kLiteRtElementTypeFloat32, {1, kOut + 1}, "y");
  auto x = HostTensor::Allocate(kLiteRtElementTypeFloat32, {1, kIn}, "x");
  CHECK_ERROR(compiled.value()->Run(*decode, {&x_int.value()}, {&y.value()}), ErrorCode::kInput,
              "dtype int32, expected float32");
  CHECK_ERROR(compiled.value()->Run(*decode, {&x_wide.value()}, {&y.value()}), ErrorCode::kInput,
              "shape [2, 16] does not match [1, 16]");
  CHECK_ERROR(compiled.value()->Run(*decode, {nullptr}, {&y.value()}), ErrorCode::kInput,
              "'x' is missing");
  CHECK_ERROR(compiled.value()->Run(*decode, {}, {&y.value()}), ErrorCode::kInput, "takes 1 inputs");
  CHECK_ERROR(compiled.value()->Run(*decode, {&x.value()}, {&y_wrong.value()}), ErrorCode::kInput,
              "buffer of shape [1, 8]");
  // After all the rejected calls the model still runs.
  CheckFullyConnected(**compiled, "decode", 1);
}

TEST(RejectsBadFiles) {
  auto env = Env();
  CHECK(env != nullptr);
  CHECK_ERROR(Model::Load(env, Fixture("does_not_exist.tflite")), ErrorCode::kModelLoad,
              "No such file");
  CHECK_ERROR(Model::Load(env, FixtureDir()), ErrorCode::kModelLoad, "not a regular file");
  CHECK_ERROR(Model::Load(env, Fixture("not_a_model.tflite")), ErrorCode::kModelLoad,
              "not a TFLite model");
  CompileOptions bad_threads;
  bad_threads.num_threads = 0;
  CHECK_ERROR(Compile("two_signature_fc.tflite", bad_threads), ErrorCode::kInvalidArgument,
              "num_threads");
}

// y = state after `state += scale * delta`, done in place in the state input buffer.
class AccumulateOp : public CustomOp {
 public:
  explicit AccumulateOp(bool fail_on_negative_delta) : fail_(fail_on_negative_delta) {}

  Status Init(const uint8_t* options, size_t size) override {
    if (size != sizeof(float)) {
      return Status(ErrorCode::kModelLoad, "expected 4 option bytes, got " + std::to_string(size));
    }
    std::memcpy(&scale_, options, sizeof(float));
    return Status::Ok();
  }
  Status ComputeOutputShapes(const std::vector<Shape>& inputs,
                             std::vector<Shape>& outputs) override {
    if (inputs.size() != 2 || outputs.size() != 1) {
      return Status(ErrorCode::kModelLoad, "expects 2 inputs and 1 output");
    }
    outputs[0] = inputs[0];
    return Status::Ok();
  }
  Status Run(const std::vector<TensorView>& inputs,
             const std::vector<TensorView>& outputs) override {
    float* state = inputs[0].as<float>();
    const float* delta = inputs[1].as<float>();
    for (int64_t i = 0; i < inputs[0].num_elements(); ++i) {
      if (fail_ && delta[i] < 0) {
        return Status(ErrorCode::kExecution, "negative delta at index " + std::to_string(i));
      }
      state[i] += scale_ * delta[i];
    }
    std::memcpy(outputs[0].data, state, outputs[0].bytes);
    return Status::Ok();
  }

 private:
  bool fail_;
  float scale_ = 0;
};

CompileOptions WithAccumulate(bool fail_on_negative_delta = false) {
  CompileOptions options;
  options.custom_ops.push_back({"LITEGEN_TEST_ACCUMULATE", 1, [fail_on_negative_delta] {
                                  return std::make_unique<AccumulateOp>(fail_on_negative_delta);
                                }});
  return options;
}

TEST(CustomOpReadsOptionsAndUpdatesInputInPlace) {
  auto compiled = Compile("accumulate.tflite", WithAccumulate());
  CHECK_OK(compiled);
  if (!compiled.ok()) return;
  CHECK(!compiled.value()->fully_accelerated());
  const SignatureSpec* step = compiled.value()->model().FindSignature("step").value();
  auto state = HostTensor::Allocate(kLiteRtElementTypeFloat32, {kAccumulateSize}, "state");
  auto delta = HostTensor::Allocate(kLiteRtElementTypeFloat32, {kAccumulateSize}, "delta");
  auto out = HostTensor::Allocate(kLiteRtElementTypeFloat32, {kAccumulateSize}, "out");
  float* deltas = static_cast<float*>(delta->data());
  for (int i = 0; i < kAccumulateSize; ++i) deltas[i] = static_cast<float>(i + 1);
  for (int run = 1; run <= 3; ++run) {
    CHECK_OK(compiled.value()->Run(*step, {&state.value(), &delta.value()}, {&out.value()}));
    const float* states = static_cast<const float*>(state->data());
    const float* outs = static_cast<const float*>(out->data());
    for (int i = 0; i < kAccumulateSize; ++i) {
      CHECK_NEAR(states[i], 0.5 * (i + 1) * run, 1e-6);  // scale 0.5 from custom_options
      CHECK_NEAR(outs[i], states[i], 0.0);
    }
  }
}

TEST(CustomOpErrorsReachTheCaller) {
  auto compiled = Compile("accumulate.tflite", WithAccumulate(/*fail_on_negative_delta=*/true));
  CHECK_OK(compiled);
  if (!compiled.ok()) return;
  const SignatureSpec* step = compiled.value()->model().FindSignature("step").value();
  auto state = HostTensor::Allocate(kLiteRtElementTypeFloat32, {kAccumulateSize}, "state");
  auto delta = HostTensor::Allocate(kLiteRtElementTypeFloat32, {kAccumulateSize}, "delta");
  auto out = HostTensor::Allocate(kLiteRtElementTypeFloat32, {kAccumulateSize}, "out");
  static_cast<float*>(delta->data())[4] = -1.0f;
  CHECK_ERROR(compiled.value()->Run(*step, {&state.value(), &delta.value()}, {&out.value()}),
              ErrorCode::kExecution, "custom op 'LITEGEN_TEST_ACCUMULATE': negative delta at index 4");
  // The error is reported once; a good input runs again.
  static_cast<float*>(delta->data())[4] = 1.0f;
  CHECK_OK(compiled.value()->Run(*step, {&state.value(), &delta.value()}, {&out.value()}));
}

TEST(CustomOpRegistrationProblemsAreErrors) {
  CHECK_ERROR(Compile("unregistered_op.tflite", WithAccumulate()), ErrorCode::kModelLoad,
              "uses custom op 'LITEGEN_NOT_REGISTERED', which is not registered "
              "(registered: LITEGEN_TEST_ACCUMULATE)");
  CHECK_ERROR(Compile("unregistered_op.tflite"), ErrorCode::kModelLoad,
              "no custom ops registered");
  CHECK_ERROR(Compile("accumulate_mixed_options.tflite", WithAccumulate()),
              ErrorCode::kUnsupported, "different custom options");
}

// The VmFlags line of the /proc/self/smaps entry that contains `address`.
std::string VmFlagsAt(const void* address) {
  std::ifstream smaps("/proc/self/smaps");
  const auto target = reinterpret_cast<uintptr_t>(address);
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    unsigned long start = 0, end = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &start, &end) == 2 && line.find(' ') < 40) {
      inside = start <= target && target < end;
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      return line;
    }
  }
  return "";
}

TEST(HugePageAdviceCoversTheFilesMappings) {
#if defined(__linux__)
  char path[] = "/tmp/litegen_huge_advice_XXXXXX";
  const int fd = mkstemp(path);
  CHECK(fd >= 0);
  if (fd < 0) return;
  constexpr size_t kBytes = size_t{6} << 20;  // holds at least one aligned 2 MiB span
  CHECK(ftruncate(fd, kBytes) == 0);
  CHECK_EQ(AdviseHugePagesForFile(path), size_t{0});  // not mapped yet
  void* mapping = mmap(nullptr, kBytes, PROT_READ, MAP_SHARED, fd, 0);
  CHECK(mapping != MAP_FAILED);
  if (mapping != MAP_FAILED) {
    const size_t advised = AdviseHugePagesForFile(path);
    CHECK(advised >= (size_t{2} << 20) && advised <= kBytes);
    // The aligned middle of the mapping now carries the flag ("hg").
    const uintptr_t middle =
        (reinterpret_cast<uintptr_t>(mapping) + (size_t{4} << 20) - 1) & ~((uintptr_t{2} << 20) - 1);
    CHECK(VmFlagsAt(reinterpret_cast<const void*>(middle)).find(" hg") != std::string::npos);
    CHECK(FileHugePageBytes(path) <= kBytes);
    munmap(mapping, kBytes);
  }
  CHECK_EQ(FileHugePageBytes(path), uint64_t{0});  // no longer mapped
  close(fd);
  unlink(path);
  CHECK_EQ(AdviseHugePagesForFile(path), size_t{0});  // gone
#endif
}

}  // namespace
}  // namespace litegen
