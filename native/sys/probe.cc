// Kernel and CPU feature probes for `salvor doctor`.
#include "../errors.h"
#include "../modules.h"

namespace salvor {
void InitProbe(Napi::Env, Napi::Object) {}
}  // namespace salvor
