#include "common.h"

#include <net/if.h>

#include <cerrno>
#include <cstring>

namespace vipd {

Napi::Error MakeOsError(Napi::Env env, int err, const char* syscall, const std::string& subject,
                        ErrnoKind kind) {
  const char* code = "OS_ERROR";
  std::string message;
  const std::string where = subject.empty() ? std::string(syscall) : std::string(syscall) + " (" + subject + ")";
  if (err == ENODEV || err == ENXIO) {
    code = "NO_SUCH_INTERFACE";
    message = "no such network interface: " + subject;
  } else if (kind == ErrnoKind::kPrivileged && (err == EPERM || err == EACCES)) {
    code = "NEEDS_CAP_NET_RAW";
    message = where + " failed: needs CAP_NET_RAW (" + std::strerror(err) + ")";
  } else {
    message = where + " failed: " + std::strerror(err);
  }
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("vipdCode", Napi::String::New(env, code));
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("syscall", Napi::String::New(env, syscall));
  return error;
}

Napi::Error MakeArgError(Napi::Env env, const std::string& message) {
  Napi::Error error = Napi::TypeError::New(env, message);
  error.Set("vipdCode", Napi::String::New(env, "INVALID_ARGUMENT"));
  return error;
}

uv_loop_t* EventLoop(Napi::Env env) {
  uv_loop_t* loop = nullptr;
  NAPI_FATAL_IF_FAILED(napi_get_uv_event_loop(env, &loop), "vipd::EventLoop", "napi_get_uv_event_loop");
  return loop;
}

unsigned InterfaceIndex(const std::string& ifname) {
  if (ifname.empty() || ifname.size() >= IF_NAMESIZE) {
    errno = ENODEV;
    return 0;
  }
  unsigned index = if_nametoindex(ifname.c_str());
  if (index == 0 && errno != ENODEV) errno = ENODEV;
  return index;
}

void ReportPendingException(Napi::Env env) {
  if (!env.IsExceptionPending()) return;
  Napi::Error error = env.GetAndClearPendingException();
  napi_fatal_exception(env, error.Value());
}

Poller* Poller::Create(uv_loop_t* loop, int fd, Callback cb, void* owner, int* err) {
  Poller* poller = new Poller();
  int rc = uv_poll_init(loop, &poller->handle_, fd);
  if (rc != 0) {
    delete poller;
    *err = rc;
    return nullptr;
  }
  poller->handle_.data = poller;
  poller->cb_ = cb;
  poller->owner_ = owner;
  return poller;
}

Poller* Poller::Start(uv_loop_t* loop, int fd, int events, Callback cb, void* owner, int* err) {
  Poller* poller = Create(loop, fd, cb, owner, err);
  if (poller == nullptr) return nullptr;
  int rc = poller->Resume(events);
  if (rc != 0) {
    poller->Release();
    *err = rc;
    return nullptr;
  }
  return poller;
}

int Poller::Resume(int events) { return uv_poll_start(&handle_, events, OnPoll); }

void Poller::Pause() { uv_poll_stop(&handle_); }

void Poller::Release() {
  owner_ = nullptr;
  cb_ = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&handle_),
           [](uv_handle_t* handle) { delete static_cast<Poller*>(handle->data); });
}

void Poller::OnPoll(uv_poll_t* handle, int status, int events) {
  Poller* self = static_cast<Poller*>(handle->data);
  if (self->cb_ != nullptr && self->owner_ != nullptr) self->cb_(self->owner_, status, events);
}

}  // namespace vipd
