#pragma once

#include <napi.h>

namespace vipd {
void InitSched(Napi::Env env, Napi::Object exports);
}
