// What native code needs to know about the JS side of the boundary, handed over once per environment
// by bindings/addon.ts (configureBoundary): how to pin a buffer a worker thread reads or writes, and
// the largest Buffer this Node can create.
#pragma once
#include <napi.h>

#include <cstddef>

namespace salvor {

// Keeps `view`'s memory where it is for as long as the caller references the view: its ArrayBuffer is
// marked untransferable (worker_threads.markAsUntransferable), so postMessage or structuredClone
// copies it instead of detaching it under a worker thread. False with a JS exception pending when
// the view cannot be pinned (the addon was not configured, or the buffer is detached already).
bool PinForWorker(Napi::Env env, Napi::Value view, size_t argIndex);

// Node's Buffer length limit (buffer.constants.MAX_LENGTH); 2^32 until configured.
size_t MaxBufferLength(Napi::Env env);

}  // namespace salvor
