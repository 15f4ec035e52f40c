// Each native folder registers its functions here; addon.cc calls them in order.
#pragma once
#include <napi.h>

namespace salvor {
void InitBoundary(Napi::Env env, Napi::Object exports);
void InitCrc(Napi::Env env, Napi::Object exports);
void InitVerify(Napi::Env env, Napi::Object exports);
void InitDevice(Napi::Env env, Napi::Object exports);
void InitProbe(Napi::Env env, Napi::Object exports);
void InitDelta(Napi::Env env, Napi::Object exports);
void InitHashScan(Napi::Env env, Napi::Object exports);
void InitRegion(Napi::Env env, Napi::Object exports);
void InitCalibrate(Napi::Env env, Napi::Object exports);
void InitWriteLoad(Napi::Env env, Napi::Object exports);
void InitNotify(Napi::Env env, Napi::Object exports);
void InitTee(Napi::Env env, Napi::Object exports);
}  // namespace salvor
