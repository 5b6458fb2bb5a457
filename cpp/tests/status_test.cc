#include "litert/status.h"
#include "test_framework.h"

namespace litegen {
namespace {

Expected<int> Half(int x) {
  if (x % 2 != 0) return Status(ErrorCode::kInput, "odd: " + std::to_string(x));
  return x / 2;
}

Expected<int> Quarter(int x) {
  LITEGEN_ASSIGN_OR_RETURN(int half, Half(x));
  LITEGEN_ASSIGN_OR_RETURN(int quarter, Half(half));
  return quarter;
}

Status CheckPositive(int x) {
  LITEGEN_RETURN_IF_ERROR(x > 0 ? Status::Ok() : Status(ErrorCode::kInput, "not positive"));
  return Status::Ok();
}

TEST(StatusOkAndError) {
  CHECK(Status::Ok().ok());
  Status error(ErrorCode::kModelLoad, "bad file");
  CHECK(!error.ok());
  CHECK_EQ(error.ToString(), std::string("model load error: bad file"));
}

TEST(ExpectedPropagatesThroughMacros) {
  CHECK_EQ(Quarter(8).value(), 2);
  CHECK_ERROR(Quarter(6), ErrorCode::kInput, "odd: 3");
  CHECK(CheckPositive(1).ok());
  CHECK_EQ(CheckPositive(-1).message(), std::string("not positive"));
}

}  // namespace
}  // namespace litegen
