// The benchmark helpers behind litegen-run --bench / --measure-bandwidth: the JSON
// writer, the statistics and the bandwidth reader's argument checks and self-check.
#include <limits>
#include <string>
#include <vector>

#include "bench/bandwidth.h"
#include "bench/json_writer.h"
#include "bench/llm_bench.h"
#include "test_framework.h"

namespace litegen::bench {
namespace {

TEST(JsonWriterNestsAndEscapes) {
  JsonWriter w;
  w.BeginObject();
  w.Key("name").String("a\"b\\c\n\x01");
  w.Key("n").Integer(-3);
  w.Key("list").BeginArray().Number(0.5).Bool(true).Null().EndArray();
  w.Key("empty").BeginObject().EndObject();
  w.EndObject();
  CHECK_EQ(w.str(), std::string("{\"name\": \"a\\\"b\\\\c\\n\\u0001\", \"n\": -3, "
                                "\"list\": [0.5, true, null], \"empty\": {}}"));
}

TEST(JsonWriterWritesNonFiniteAsNull) {
  JsonWriter w;
  w.BeginArray().Number(std::numeric_limits<double>::quiet_NaN()).EndArray();
  CHECK_EQ(w.str(), std::string("[null]"));
}

TEST(MedianOddEvenEmpty) {
  CHECK_NEAR(Median({3, 1, 2}), 2.0, 0);
  CHECK_NEAR(Median({4, 1, 3, 2}), 2.5, 0);
  CHECK_NEAR(Median({}), 0.0, 0);
}

TEST(SyntheticTokensAreDeterministicAndInVocabulary) {
  const std::vector<int> a = SyntheticTokens(200, 17), b = SyntheticTokens(200, 17);
  CHECK(a == b);
  CHECK_EQ(a.size(), size_t{200});
  bool varied = false;
  for (int id : a) {
    CHECK(id >= 0 && id < 17);
    varied |= id != a[0];
  }
  CHECK(varied);
}

TEST(BandwidthRejectsBadOptions) {
  BandwidthOptions small;
  small.buffer_bytes = 1000;
  CHECK(MeasureReadBandwidth(small).status().code() == ErrorCode::kInvalidArgument);
  BandwidthOptions no_threads;
  no_threads.buffer_bytes = size_t{1} << 20;
  no_threads.threads = 0;
  CHECK(MeasureReadBandwidth(no_threads).status().code() == ErrorCode::kInvalidArgument);
}

TEST(BandwidthMeasuresEveryPass) {
  BandwidthOptions options;
  options.buffer_bytes = size_t{4} << 20;
  options.threads = 2;
  options.repeat = 3;
  auto result = MeasureReadBandwidth(options);  // also checks its own read sums
  CHECK(result.ok());
  if (!result.ok()) return;
  CHECK_EQ(result->pass_gb_per_s.size(), size_t{3});
  for (double v : result->pass_gb_per_s) CHECK(v > 0 && v <= result->best_gb_per_s);
  const std::string json = BandwidthJson(result.value());
  CHECK(json.find("\"schema\": \"litegen.bench.bandwidth/2\"") != std::string::npos);
  CHECK(json.find("\"threads\": 2") != std::string::npos);
  CHECK(json.find(result->huge_pages ? "\"huge_pages\": true" : "\"huge_pages\": false") !=
        std::string::npos);
}

}  // namespace
}  // namespace litegen::bench
