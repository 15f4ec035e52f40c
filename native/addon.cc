#include <napi.h>

#include "crc/crc.h"
#include "errors.h"
#include "modules.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // Refuse to load with a CRC that disagrees with the known answers: every integrity check depends on it.
  if (!salvor::CrcSelfTest()) {
    salvor::CodeError(env, "SALVOR_SELFTEST", "CRC self-test failed on this CPU").ThrowAsJavaScriptException();
    return exports;
  }
  salvor::InitBoundary(env, exports);
  salvor::InitCrc(env, exports);
  salvor::InitVerify(env, exports);
  salvor::InitDevice(env, exports);
  salvor::InitProbe(env, exports);
  salvor::InitDelta(env, exports);
  salvor::InitHashScan(env, exports);
  salvor::InitRegion(env, exports);
  salvor::InitCalibrate(env, exports);
  salvor::InitWriteLoad(env, exports);
  salvor::InitNotify(env, exports);
  salvor::InitTee(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(salvor, Init)
