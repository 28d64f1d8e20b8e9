#pragma once

#include <napi.h>

namespace vipd {
void InitPeerCred(Napi::Env env, Napi::Object exports);
}
