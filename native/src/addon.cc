// vipd_native: the small amount of Linux I/O that Node.js cannot do by itself.
#include <napi.h>

#include "memory.h"
#include "packet_socket.h"
#include "notify.h"
#include "peercred.h"
#include "sched.h"
#include "timer.h"
#include "vrrp_socket.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  vipd::InitVrrpSocket(env, exports);
  vipd::InitPacketSocket(env, exports);
  vipd::InitTimer(env, exports);
  vipd::InitNotify(env, exports);
  vipd::InitPeerCred(env, exports);
  vipd::InitSched(env, exports);
  vipd::InitMemory(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(vipd_native, Init)
