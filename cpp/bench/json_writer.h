// A minimal JSON writer for the benchmark reports (objects, arrays, strings, numbers,
// booleans): enough to emit one flat-ish document without a JSON library on Android.
#ifndef LITEGEN_CPP_BENCH_JSON_WRITER_H_
#define LITEGEN_CPP_BENCH_JSON_WRITER_H_

#include <cstdint>
#include <string>
#include <vector>

namespace litegen::bench {

class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  // Inside an object: the next value's key.
  JsonWriter& Key(const std::string& key);
  JsonWriter& String(const std::string& value);
  JsonWriter& Number(double value);  // non-finite values are written as null
  JsonWriter& Integer(int64_t value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();

  const std::string& str() const { return out_; }

 private:
  void BeforeValue();
  void Raw(const std::string& text);

  std::string out_;
  // One entry per open container: whether it already holds an element.
  std::vector<bool> has_element_;
  bool after_key_ = false;
};

std::string JsonEscape(const std::string& text);

}  // namespace litegen::bench

#endif  // LITEGEN_CPP_BENCH_JSON_WRITER_H_
