#include "litert/environment.h"

namespace litegen {

Expected<std::shared_ptr<const Environment>> Environment::Create(LogSeverity min_severity) {
  LiteRtEnvOption options[2] = {};
  options[0].tag = kLiteRtEnvOptionTagAutoRegisterAccelerators;
  options[0].value.type = kLiteRtAnyTypeInt;
  options[0].value.int_value = kLiteRtHwAcceleratorCpu;
  options[1].tag = kLiteRtEnvOptionTagMinLoggerSeverity;
  options[1].value.type = kLiteRtAnyTypeInt;
  options[1].value.int_value = static_cast<int64_t>(min_severity);

  LiteRtEnvironment raw = nullptr;
  LITEGEN_RETURN_IF_ERROR(CheckLiteRt(LiteRtCreateEnvironment(2, options, &raw),
                                      ErrorCode::kInternal, "creating the LiteRT environment"));
  return std::make_shared<const Environment>(Token{}, EnvironmentHandle(raw));
}

}  // namespace litegen
