#pragma once

#include <napi.h>

namespace vipd {
void InitPacketSocket(Napi::Env env, Napi::Object exports);
}
