#pragma once

#include <napi.h>

namespace vipd {
void InitNotify(Napi::Env env, Napi::Object exports);
}
