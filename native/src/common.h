// Shared helpers of the vipd native addon: typed OS errors, the uv loop, a poll handle
// whose memory outlives the object that owns it, and safe calls back into JavaScript.
#pragma once

#include <napi.h>
#include <uv.h>

#include <string>

namespace vipd {

// How an errno is classified for JavaScript (the `vipdCode` property of the thrown Error).
// Privileged call sites (socket creation, SO_BINDTODEVICE) map EPERM/EACCES to
// NEEDS_CAP_NET_RAW; elsewhere those stay OS_ERROR. ENODEV is always NO_SUCH_INTERFACE.
enum class ErrnoKind { kPlain, kPrivileged };

// Builds an Error with properties vipdCode, errno (number), syscall. The caller throws it.
Napi::Error MakeOsError(Napi::Env env, int err, const char* syscall, const std::string& subject,
                        ErrnoKind kind);

// An Error for a caller mistake (bad argument); vipdCode is 'INVALID_ARGUMENT'.
Napi::Error MakeArgError(Napi::Env env, const std::string& message);

uv_loop_t* EventLoop(Napi::Env env);

// Resolves an interface name to its index; 0 with errno set when there is none.
unsigned InterfaceIndex(const std::string& ifname);

// After a callback into JavaScript: when it threw, hand the exception to Node's
// uncaught-exception machinery (as an exception in a timer callback would be).
void ReportPendingException(Napi::Env env);

// A uv_poll_t that is freed in its close callback, so closing it from inside its own
// callback, or from the owner's destructor, never frees memory libuv still uses.
class Poller {
 public:
  using Callback = void (*)(void* owner, int status, int events);

  // Returns nullptr and sets *err (a negative uv error) on failure.
  static Poller* Start(uv_loop_t* loop, int fd, int events, Callback cb, void* owner, int* err);
  static Poller* Create(uv_loop_t* loop, int fd, Callback cb, void* owner, int* err);

  int Resume(int events);  // uv_poll_start
  void Pause();            // uv_poll_stop
  // Stops polling and frees this object once libuv is done with it. Never use it afterwards.
  void Release();

 private:
  Poller() = default;
  static void OnPoll(uv_poll_t* handle, int status, int events);
  uv_poll_t handle_{};
  Callback cb_ = nullptr;
  void* owner_ = nullptr;
};

}  // namespace vipd
