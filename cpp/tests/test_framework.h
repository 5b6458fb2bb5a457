// A deliberately tiny unit-test framework: TEST registers a function, CHECK* record
// failures with file:line and keep going, main() runs everything and returns non-zero
// on any failure. Tests get their fixture directory from argv[1].
#ifndef LITEGEN_CPP_TESTS_TEST_FRAMEWORK_H_
#define LITEGEN_CPP_TESTS_TEST_FRAMEWORK_H_

#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace litegen::testing {

struct TestCase {
  const char* name;
  std::function<void()> body;
};

std::vector<TestCase>& Registry();
void RecordFailure(const char* file, int line, const std::string& message);
// Directory holding the model files the Python fixture script wrote.
const std::string& FixtureDir();

struct Registrar {
  Registrar(const char* name, std::function<void()> body) {
    Registry().push_back({name, std::move(body)});
  }
};

}  // namespace litegen::testing

#define LITEGEN_TEST_CONCAT_(a, b) a##b
#define TEST(name)                                                            \
  static void LITEGEN_TEST_CONCAT_(test_, name)();                           \
  static ::litegen::testing::Registrar LITEGEN_TEST_CONCAT_(registrar_, name)( \
      #name, &LITEGEN_TEST_CONCAT_(test_, name));                            \
  static void LITEGEN_TEST_CONCAT_(test_, name)()

#define CHECK(cond)                                                                 \
  do {                                                                              \
    if (!(cond)) ::litegen::testing::RecordFailure(__FILE__, __LINE__, "CHECK(" #cond ")"); \
  } while (0)

#define CHECK_EQ(a, b)                                                         \
  do {                                                                         \
    const auto lhs_ = (a);  /* copies: (a) may reference a temporary */                                                  \
    const auto rhs_ = (b);                                                    \
    if (!(lhs_ == rhs_)) {                                                     \
      std::ostringstream os_;                                                  \
      os_ << "CHECK_EQ(" #a ", " #b "): " << lhs_ << " vs " << rhs_;           \
      ::litegen::testing::RecordFailure(__FILE__, __LINE__, os_.str());        \
    }                                                                          \
  } while (0)

#define CHECK_NEAR(a, b, tol)                                                  \
  do {                                                                         \
    const double lhs_ = (a), rhs_ = (b);                                       \
    if (!(lhs_ - rhs_ <= (tol) && rhs_ - lhs_ <= (tol))) {                     \
      std::ostringstream os_;                                                  \
      os_ << "CHECK_NEAR(" #a ", " #b "): " << lhs_ << " vs " << rhs_;         \
      ::litegen::testing::RecordFailure(__FILE__, __LINE__, os_.str());        \
    }                                                                          \
  } while (0)

// Checks a Status / Expected is ok, printing its message otherwise.
#define CHECK_OK(expr)                                                            \
  do {                                                                            \
    const auto& result_ = (expr);                                                 \
    if (!result_.ok()) {                                                          \
      ::litegen::testing::RecordFailure(__FILE__, __LINE__,                       \
                                        "CHECK_OK(" #expr "): " + result_.status().ToString()); \
    }                                                                             \
  } while (0)

// Checks a Status / Expected failed with `code` and a message containing `text`.
#define CHECK_ERROR(expr, error_code, text)                                             \
  do {                                                                                  \
    const auto& result_ = (expr);                                                       \
    const ::litegen::Status& status_ = result_.status();                                \
    if (status_.ok() || status_.code() != (error_code) ||                               \
        status_.message().find(text) == std::string::npos) {                            \
      ::litegen::testing::RecordFailure(__FILE__, __LINE__,                             \
                                        "CHECK_ERROR(" #expr "): got " + status_.ToString()); \
    }                                                                                   \
  } while (0)

#endif  // LITEGEN_CPP_TESTS_TEST_FRAMEWORK_H_
