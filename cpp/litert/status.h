// Status and Expected<T>: how every litegen C++ function reports failure.
//
// Nothing in litegen's C++ core throws or aborts on user input; errors travel back
// as values carrying a code (which the Python binding maps to a typed exception)
// and a message that names the file / signature / tensor at fault.
#ifndef LITEGEN_CPP_LITERT_STATUS_H_
#define LITEGEN_CPP_LITERT_STATUS_H_

#include <string>
#include <utility>
#include <variant>

namespace litegen {

enum class ErrorCode {
  kOk = 0,
  kModelLoad,        // missing, unreadable, corrupt or uncompilable model file
  kSignature,        // unknown signature name
  kInput,            // missing / unexpected input, wrong dtype or shape
  kExecution,        // a run failed (including errors reported by custom kernels)
  kInvalidArgument,  // bad option values (threads, paths, ...)
  kUnsupported,      // a valid request litegen does not implement
  kInternal,         // a LiteRT call failed where it should not
};

const char* ErrorCodeName(ErrorCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status Ok() { return Status(); }

  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;
  // Lets generic code treat a Status like an Expected<T> (both have ok() and status()).
  const Status& status() const { return *this; }

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

// A value or the Status explaining why there is none.
template <typename T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : data_(std::move(value)) {}  // NOLINT: implicit by design
  Expected(Status status) : data_(std::move(status)) {}  // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(data_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(data_);
  }
  T& value() & { return std::get<T>(data_); }
  const T& value() const& { return std::get<T>(data_); }
  // By value, so `MakeExpected().value()` cannot leave a dangling reference.
  T value() && { return std::get<T>(std::move(data_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

 private:
  std::variant<T, Status> data_;
};

}  // namespace litegen

#define LITEGEN_CONCAT_INNER_(a, b) a##b
#define LITEGEN_CONCAT_(a, b) LITEGEN_CONCAT_INNER_(a, b)

#define LITEGEN_RETURN_IF_ERROR(expr)            \
  do {                                           \
    ::litegen::Status litegen_status_ = (expr);  \
    if (!litegen_status_.ok()) return litegen_status_; \
  } while (0)

#define LITEGEN_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return tmp.status();                  \
  lhs = std::move(tmp).value()

#define LITEGEN_ASSIGN_OR_RETURN(lhs, expr) \
  LITEGEN_ASSIGN_OR_RETURN_IMPL_(LITEGEN_CONCAT_(litegen_expected_, __LINE__), lhs, expr)

#endif  // LITEGEN_CPP_LITERT_STATUS_H_
