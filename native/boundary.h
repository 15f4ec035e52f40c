// What native code needs to know about the JS side of the boundary, handed over once per environment
// by bindings/addon.ts (configureBoundary): the largest Buffer this Node can create.
//
// Buffers an async call hands to a worker thread are pinned by bindings/addon.ts before the call
// (worker_threads.markAsUntransferable, so a transfer copies them instead of detaching them). That
// happens in JS, not here: a call into JS from inside a native call made while a worker_thread is
// being terminated comes back with the termination, which Node then rethrows and crashes on.
#pragma once
#include <napi.h>

#include <cstddef>

namespace salvor {

// False with a SALVOR_DETACHED error thrown when `view` (argument `argIndex`) is a view of a
// detached ArrayBuffer: there is no memory to hand a worker thread.
bool CheckAttached(Napi::Env env, Napi::Value view, size_t argIndex);

// Node's Buffer length limit (buffer.constants.MAX_LENGTH); 2^32 until configured.
size_t MaxBufferLength(Napi::Env env);

}  // namespace salvor
