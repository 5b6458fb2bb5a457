// pybind11 module litegen._litegen: the Python face of the C++ runtime.
//
// Each part of the API binds itself in its own file (see bindings/errors.h for the
// shared error translation). The GIL is released while LiteRT computes.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bindings/errors.h"
#include "litert/compiled_model.h"
#include "litert/weight_cache.h"
#include "ops/builtin_ops.h"

namespace py = pybind11;

namespace litegen {
namespace {

// numpy dtype <-> LiteRT element type, for the types a signature can carry.
struct DtypeEntry {
  ElementType type;
  const char* numpy_name;
};
constexpr DtypeEntry kDtypes[] = {
    {kLiteRtElementTypeFloat32, "float32"}, {kLiteRtElementTypeFloat16, "float16"},
    {kLiteRtElementTypeInt32, "int32"},     {kLiteRtElementTypeInt64, "int64"},
    {kLiteRtElementTypeInt16, "int16"},     {kLiteRtElementTypeInt8, "int8"},
    {kLiteRtElementTypeUInt8, "uint8"},     {kLiteRtElementTypeBool, "bool"},
};

std::string NumpyName(ElementType type) {
  for (const DtypeEntry& entry : kDtypes) {
    if (entry.type == type) return entry.numpy_name;
  }
  return ElementTypeName(type);
}

py::dict SpecToDict(const TensorSpec& spec) {
  py::dict out;
  out["name"] = spec.name;
  out["dtype"] = NumpyName(spec.type);
  out["shape"] = py::tuple(py::cast(spec.shape));
  return out;
}

// Output array that owns its HostTensor (zero copy from LiteRT's output buffer).
py::array ToArray(std::unique_ptr<HostTensor> tensor) {
  std::vector<py::ssize_t> shape(tensor->shape().begin(), tensor->shape().end());
  const py::dtype dtype(NumpyName(tensor->type()));
  void* data = tensor->data();
  py::capsule owner(tensor.release(),
                    [](void* p) { std::unique_ptr<HostTensor>(static_cast<HostTensor*>(p)); });
  return py::array(dtype, shape, data, owner);
}

class NativeModel {
 public:
  NativeModel(const std::string& path, int num_threads, const std::string& weight_cache_path) {
    std::shared_ptr<const Environment> env = Unwrap(Environment::Create());
    std::shared_ptr<const Model> model = Unwrap(Model::Load(std::move(env), path));
    CompileOptions options;
    options.num_threads = num_threads;
    options.weight_cache_path = weight_cache_path;
    // litegen's own kernels (LITEGEN_SDPA, LITEGEN_KV_CACHE_UPDATE) on a pool of the same size.
    options.custom_ops = BuiltinCustomOps(num_threads);
    compiled_ = Unwrap(CompiledModel::Create(std::move(model), options));
  }

  py::list Signatures() const {
    py::list out;
    for (const SignatureSpec& signature : compiled_->model().signatures()) {
      py::dict entry;
      py::list inputs, outputs;
      for (const TensorSpec& spec : signature.inputs) inputs.append(SpecToDict(spec));
      for (const TensorSpec& spec : signature.outputs) outputs.append(SpecToDict(spec));
      entry["name"] = signature.key;
      entry["inputs"] = inputs;
      entry["outputs"] = outputs;
      out.append(entry);
    }
    return out;
  }

  std::vector<std::string> CustomOps() const { return compiled_->model().custom_ops(); }
  bool FullyAccelerated() const { return compiled_->fully_accelerated(); }

  // Inputs are copied into aligned buffers, so the caller's arrays are never modified.
  py::dict Run(const std::string& signature_name, const py::dict& feeds) {
    const SignatureSpec* signature = Unwrap(compiled_->model().FindSignature(signature_name));
    const std::string where = "signature '" + signature->key + "'";
    for (const auto& item : feeds) {
      const std::string name = py::str(item.first);
      if (signature->FindInput(name) < 0) {
        std::string known;
        for (const TensorSpec& spec : signature->inputs) known += " '" + spec.name + "'";
        RaiseStatus(Status(ErrorCode::kInput,
                           where + " has no input '" + name + "' (inputs:" + known + ")"));
      }
    }

    std::vector<HostTensor> inputs;
    inputs.reserve(signature->inputs.size());
    for (const TensorSpec& spec : signature->inputs) {
      const std::string what = where + " input '" + spec.name + "'";
      if (!feeds.contains(spec.name)) {
        RaiseStatus(Status(ErrorCode::kInput, what + " is missing"));
      }
      py::array array = py::array::ensure(feeds[py::str(spec.name)]);
      if (!array) RaiseStatus(Status(ErrorCode::kInput, what + " is not an array"));
      const std::string dtype = py::str(array.dtype());
      if (dtype != NumpyName(spec.type)) {
        RaiseStatus(Status(ErrorCode::kInput, what + ": dtype " + dtype + ", expected " +
                                                  NumpyName(spec.type)));
      }
      Shape shape(array.shape(), array.shape() + array.ndim());
      if (!spec.Accepts(shape)) {
        RaiseStatus(Status(ErrorCode::kInput, what + ": shape " + ShapeToString(shape) +
                                                  " does not match " + ShapeToString(spec.shape) +
                                                  " (-1 marks a dynamic dimension)"));
      }
      HostTensor tensor = Unwrap(HostTensor::Allocate(spec.type, shape, spec.name));
      auto contiguous = py::array::ensure(array, py::array::c_style);
      std::memcpy(tensor.data(), contiguous.data(), tensor.bytes());
      inputs.push_back(std::move(tensor));
    }

    std::vector<Shape> input_shapes;
    std::vector<const HostTensor*> input_ptrs;
    for (const HostTensor& tensor : inputs) {
      input_shapes.push_back(tensor.shape());
      input_ptrs.push_back(&tensor);
    }
    std::vector<Shape> output_shapes = Unwrap(compiled_->PrepareShapes(*signature, input_shapes));
    std::vector<std::unique_ptr<HostTensor>> outputs;
    std::vector<const HostTensor*> output_ptrs;
    for (size_t i = 0; i < signature->outputs.size(); ++i) {
      const TensorSpec& spec = signature->outputs[i];
      outputs.push_back(std::make_unique<HostTensor>(
          Unwrap(HostTensor::Allocate(spec.type, output_shapes[i], spec.name))));
      output_ptrs.push_back(outputs.back().get());
    }

    Status status;
    {
      py::gil_scoped_release release;
      status = compiled_->Run(*signature, input_ptrs, output_ptrs);
    }
    Check(status);

    py::dict result;
    for (size_t i = 0; i < outputs.size(); ++i) {
      result[py::str(signature->outputs[i].name)] = ToArray(std::move(outputs[i]));
    }
    return result;
  }

 private:
  std::unique_ptr<CompiledModel> compiled_;
};

}  // namespace
}  // namespace litegen
namespace litegen { void BindEngine(pybind11::module_& m); }  // bindings/engine.cc

void BindTokenizer(pybind11::module_& m);  // bindings/tokenizer.cc

PYBIND11_MODULE(_litegen, m) {
  m.doc() = "litegen native runtime (LiteRT C API + XNNPack)";
  m.attr("LITERT_ABI_VERSION") = LITEGEN_LITERT_ABI_VERSION;
  m.attr("__version__") = LITEGEN_VERSION;
  BindTokenizer(m);

  py::class_<litegen::NativeModel>(m, "NativeModel")
      .def(py::init<const std::string&, int, const std::string&>(), py::arg("path"),
           py::arg("num_threads"), py::arg("weight_cache_path"))
      .def("signatures", &litegen::NativeModel::Signatures)
      .def("custom_ops", &litegen::NativeModel::CustomOps)
      .def("fully_accelerated", &litegen::NativeModel::FullyAccelerated)
      .def("run", &litegen::NativeModel::Run, py::arg("signature"), py::arg("inputs"));
  litegen::BindEngine(m);
  m.def("prune_stale_weight_caches", &litegen::WeightCacheGuard::PruneStale, py::arg("dir"),
        "Delete the weight caches in dir whose model is gone or changed; returns bytes freed.");
}
