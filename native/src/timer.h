#pragma once

#include <napi.h>

namespace vipd {
void InitTimer(Napi::Env env, Napi::Object exports);
}
