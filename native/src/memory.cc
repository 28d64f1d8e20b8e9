// reduceMemory(): starts a V8 collection that also gives free heap pages back to the OS.
//
// The start-up collection (src/runtime/startup-gc.ts) frees start-up's garbage, but after a plain
// collection V8 keeps the pages it emptied and returns them only when it shrinks the young
// generation, which it does once its allocation rate has been low for a few seconds: about 8 s
// after READY at 255 VRIDs, 1-4 MiB of a backup's RSS until then. A memory-pressure notification
// makes V8 collect with its "reduce memory footprint" flag, which returns them. The moderate level
// starts that collection as incremental marking (steps of about 0.2 ms, a final pause of 7-9 ms at
// 255 VRIDs, measured); the critical level would run it at once in one pause, which measured
// 15-167 ms on the 2-core lab VM. The level goes back to "none" right away, so V8 does not go on
// treating memory as short; the marking already started finishes. gc() from --expose-gc cannot do
// this: it never sets that flag.
//
// This is the one place where the addon calls V8's C++ API rather than Node-API, and V8's API is
// not stable across Node majors: `builtForModules` carries the NODE_MODULE_VERSION this file was
// compiled against, and the JavaScript side calls reduceMemory only when the running Node reports
// the same one (process.versions.modules).
#include "memory.h"

#include <v8.h>

// node_version.h defines NAPI_VERSION as the runtime's own; the build pins it (binding.gyp).
#pragma push_macro("NAPI_VERSION")
#undef NAPI_VERSION
#include <node_version.h>
#undef NAPI_VERSION
#pragma pop_macro("NAPI_VERSION")

namespace vipd {
namespace {

Napi::Value ReduceMemory(const Napi::CallbackInfo& info) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  // On the isolate's own thread this starts the incremental marking before it returns.
  isolate->MemoryPressureNotification(v8::MemoryPressureLevel::kModerate);
  isolate->MemoryPressureNotification(v8::MemoryPressureLevel::kNone);
  return info.Env().Undefined();
}

}  // namespace

void InitMemory(Napi::Env env, Napi::Object exports) {
  exports.Set("reduceMemory", Napi::Function::New<ReduceMemory>(env, "reduceMemory"));
  exports.Set("builtForModules", Napi::Number::New(env, NODE_MODULE_VERSION));
}

}  // namespace vipd
