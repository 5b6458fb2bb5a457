#include <cstdio>

#include "test_framework.h"

namespace litegen::testing {
namespace {
int g_failures = 0;
std::string g_fixture_dir;
}  // namespace

std::vector<TestCase>& Registry() {
  static std::vector<TestCase> registry;
  return registry;
}

void RecordFailure(const char* file, int line, const std::string& message) {
  ++g_failures;
  std::fprintf(stderr, "  FAILED %s:%d: %s\n", file, line, message.c_str());
}

const std::string& FixtureDir() { return g_fixture_dir; }

}  // namespace litegen::testing

int main(int argc, char** argv) {
  using namespace litegen::testing;
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FIXTURE_DIR [TEST_NAME_SUBSTRING]\n", argv[0]);
    return 2;
  }
  g_fixture_dir = argv[1];
  const std::string filter = argc > 2 ? argv[2] : "";
  int ran = 0, failed_tests = 0;
  for (const TestCase& test : Registry()) {
    if (!filter.empty() && std::string(test.name).find(filter) == std::string::npos) continue;
    const int before = g_failures;
    std::fprintf(stderr, "[ RUN  ] %s\n", test.name);
    test.body();
    ++ran;
    if (g_failures != before) ++failed_tests;
    std::fprintf(stderr, "[ %s ] %s\n", g_failures == before ? " OK " : "FAIL", test.name);
  }
  std::fprintf(stderr, "%d tests, %d failed\n", ran, failed_tests);
  return failed_tests == 0 && ran > 0 ? 0 : 1;
}
