// Python face of the C++ tokenizer and bundle reader: litegen._litegen.Tokenizer,
// .StreamDecoder and .open_bundle(). The typed wrapper is python/litegen/tokenizer.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <vector>

#include "bindings/errors.h"
#include "engine/bundle.h"
#include "engine/tokenizer.h"

namespace py = pybind11;

namespace litegen {
namespace {

// Decoded text is UTF-8 (both tokenizer kinds replace broken byte sequences with U+FFFD); decode
// with "replace" anyway so a str can always be built.
py::str ToStr(const std::string& text) {
  PyObject* obj = PyUnicode_DecodeUTF8(text.data(), static_cast<Py_ssize_t>(text.size()),
                                       "replace");
  if (!obj) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(obj);
}

// Keeps the Tokenizer alive for as long as a StreamDecoder uses it.
struct PyStreamDecoder {
  std::shared_ptr<const Tokenizer> tokenizer;
  StreamDecoder decoder;
};

py::dict BundleToDict(const BundleInfo& info) {
  const BundleMetadata& m = info.metadata;
  py::dict meta;
  meta["format_version"] = m.format_version;
  meta["litegen_version"] = m.litegen_version;
  meta["source_checkpoint"] = m.source_checkpoint;
  meta["model_type"] = m.model_type;
  meta["quant_recipe"] = m.quant_recipe;
  meta["export_form"] = m.export_form;
  meta["context_size"] = m.context_size;
  meta["signatures"] = m.signatures;
  meta["tokenizer_type"] = m.tokenizer_type;
  meta["vocab_size"] = m.vocab_size;
  meta["bos_token_id"] = m.bos_token_id;
  meta["eos_token_ids"] = m.eos_token_ids;
  meta["pad_token_id"] = m.pad_token_id;
  meta["add_bos_token"] = m.add_bos_token;
  meta["chat_template"] = ToStr(m.chat_template);
  py::dict out;
  out["path"] = info.path;
  out["file_size"] = info.file_size;
  out["format_version"] = info.format_version;
  out["model_offset"] = info.model_offset;
  out["model_size"] = info.model_size;
  out["tokenizer_model"] = py::bytes(info.tokenizer_model);
  out["tokenizer_section_kind"] = static_cast<uint32_t>(info.tokenizer_kind);
  out["metadata_json"] = ToStr(info.metadata_json);
  out["metadata"] = meta;
  return out;
}

}  // namespace
}  // namespace litegen

void BindTokenizer(py::module_& m) {
  using litegen::Tokenizer;
  using litegen::Unwrap;
  py::class_<Tokenizer, std::shared_ptr<Tokenizer>>(m, "Tokenizer")
      .def_static(
          "from_bytes",
          [](const py::bytes& data, const std::string& source) {
            const std::string bytes = data;
            return std::shared_ptr<Tokenizer>(Unwrap(Tokenizer::FromModelBytes(bytes, source)));
          },
          py::arg("data"), py::arg("source") = "<memory>")
      .def_static(
          "from_file",
          [](const std::string& path) {
            return std::shared_ptr<Tokenizer>(Unwrap(Tokenizer::FromFile(path)));
          },
          py::arg("path"))
      .def(
          "encode",
          [](const Tokenizer& t, const std::string& text, bool add_bos, bool add_eos) {
            return Unwrap(t.Encode(text, add_bos, add_eos));
          },
          py::arg("text"), py::arg("add_bos") = false, py::arg("add_eos") = false)
      .def(
          "decode",
          [](const Tokenizer& t, const std::vector<int>& ids) {
            return litegen::ToStr(Unwrap(t.Decode(ids)));
          },
          py::arg("ids"))
      .def("id_to_piece",
           [](const Tokenizer& t, int id) { return litegen::ToStr(Unwrap(t.IdToPiece(id))); })
      .def("piece_to_id", [](const Tokenizer& t, const std::string& piece) {
        return t.PieceToId(piece);
      })
      .def("is_control", &Tokenizer::IsControl)
      .def("is_byte", &Tokenizer::IsByte)
      .def_property_readonly("vocab_size", &Tokenizer::vocab_size)
      .def_property_readonly("bos_id", &Tokenizer::bos_id)
      .def_property_readonly("eos_id", &Tokenizer::eos_id)
      .def_property_readonly("unk_id", &Tokenizer::unk_id)
      .def_property_readonly("pad_id", &Tokenizer::pad_id)
      .def_property_readonly("source", &Tokenizer::source)
      .def_property_readonly("kind", &Tokenizer::kind)
      .def("stream_decoder", [](std::shared_ptr<Tokenizer> t) {
        litegen::StreamDecoder decoder(t.get());
        return litegen::PyStreamDecoder{std::move(t), std::move(decoder)};
      });

  py::class_<litegen::PyStreamDecoder>(m, "StreamDecoder")
      .def("push",
           [](litegen::PyStreamDecoder& s, int id) {
             return litegen::ToStr(Unwrap(s.decoder.Push(id)));
           },
           py::arg("id"))
      .def("flush", [](litegen::PyStreamDecoder& s) { return litegen::ToStr(s.decoder.Flush()); })
      .def("reset", [](litegen::PyStreamDecoder& s) { s.decoder.Reset(); })
      .def_property_readonly("ids",
                             [](const litegen::PyStreamDecoder& s) { return s.decoder.ids(); });

  m.def(
      "open_bundle",
      [](const std::string& path) {
        return litegen::BundleToDict(Unwrap(litegen::OpenBundle(path)));
      },
      py::arg("path"));
  m.def(
      "is_bundle_file", [](const std::string& path) { return Unwrap(litegen::IsBundleFile(path)); },
      py::arg("path"));
}
