#pragma once

#include <napi.h>

namespace vipd {
void InitMemory(Napi::Env env, Napi::Object exports);
}
