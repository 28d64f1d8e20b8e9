#pragma once

#include <napi.h>

namespace vipd {
void InitVrrpSocket(Napi::Env env, Napi::Object exports);
}
