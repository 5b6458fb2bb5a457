// The LiteRT environment: one per process is enough, shared by models and compiled models.
#ifndef LITEGEN_CPP_LITERT_ENVIRONMENT_H_
#define LITEGEN_CPP_LITERT_ENVIRONMENT_H_

#include <memory>

#include "litert/handles.h"

namespace litegen {

enum class LogSeverity { kVerbose = 0, kInfo = 1, kWarning = 2, kError = 3, kSilent = 4 };

class Environment {
 public:
  // CPU accelerator only (no GPU/NPU plugin probing); LiteRT messages below
  // `min_severity` are dropped. Errors reach the caller as Status values anyway.
  static Expected<std::shared_ptr<const Environment>> Create(
      LogSeverity min_severity = LogSeverity::kSilent);

  LiteRtEnvironment get() const { return handle_.get(); }

 private:
  struct Token {};  // only Create() constructs, yet make_shared needs a public constructor

 public:
  Environment(Token, EnvironmentHandle handle) : handle_(std::move(handle)) {}

 private:
  EnvironmentHandle handle_;
};

}  // namespace litegen

#endif  // LITEGEN_CPP_LITERT_ENVIRONMENT_H_
