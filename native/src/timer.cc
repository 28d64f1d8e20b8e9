// A one-shot high-resolution timer: a timerfd on CLOCK_MONOTONIC armed at an absolute time
// (TFD_TIMER_ABSTIME) and watched with uv_poll, so it fires with the kernel's hrtimer accuracy
// instead of libuv's millisecond timer granularity.
//
// new HighResTimer(onFire); timer.armAt(monotonicMs); timer.disarm(); timer.close()
// monotonicNowMs(): CLOCK_MONOTONIC in milliseconds (what armAt expects; the clock of
// process.hrtime too).
//
// Only an armed timer is polled, so an idle timer does not keep the event loop alive (an armed
// one does, like setTimeout).
#include "timer.h"

#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdint>

#include "common.h"

namespace vipd {
namespace {

timespec FromMs(double ms) {
  timespec ts{};
  if (!(ms > 0)) {
    // A zero it_value would disarm the timerfd; the earliest instant fires at once instead.
    ts.tv_nsec = 1;
    return ts;
  }
  double seconds = std::floor(ms / 1000.0);
  double nanos = std::round((ms - seconds * 1000.0) * 1e6);
  if (nanos >= 1e9) {
    seconds += 1;
    nanos -= 1e9;
  }
  ts.tv_sec = static_cast<time_t>(seconds);
  ts.tv_nsec = static_cast<long>(nanos);
  if (ts.tv_sec == 0 && ts.tv_nsec == 0) ts.tv_nsec = 1;
  return ts;
}

class HighResTimer : public Napi::ObjectWrap<HighResTimer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "HighResTimer",
                       {InstanceMethod<&HighResTimer::ArmAt>("armAt"),
                        InstanceMethod<&HighResTimer::Disarm>("disarm"),
                        InstanceMethod<&HighResTimer::Close>("close")});
  }

  explicit HighResTimer(const Napi::CallbackInfo& info);
  ~HighResTimer() override {
    CloseInternal();
    delete async_context_;
  }

 private:
  Napi::Value ArmAt(const Napi::CallbackInfo& info);
  Napi::Value Disarm(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  static void OnReadable(void* owner, int status, int events);
  bool SetTime(const timespec& value);
  void StopPolling();
  void CloseInternal();

  int fd_ = -1;
  bool polling_ = false;
  // Set by armAt, cleared by a fire or disarm: after a fire's callback, polling stops only when
  // the callback did not arm again (a re-arm from the callback keeps the poll: no epoll_ctl pair).
  bool armed_ = false;
  Poller* poller_ = nullptr;
  Napi::FunctionReference on_fire_;
  Napi::AsyncContext* async_context_ = nullptr;
};

HighResTimer::HighResTimer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<HighResTimer>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) {
    MakeArgError(env, "HighResTimer(onFire): bad arguments").ThrowAsJavaScriptException();
    return;
  }
  fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (fd_ < 0) {
    MakeOsError(env, errno, "timerfd_create", "", ErrnoKind::kPlain).ThrowAsJavaScriptException();
    return;
  }
  int uv_err = 0;
  poller_ = Poller::Create(EventLoop(env), fd_, &HighResTimer::OnReadable, this, &uv_err);
  if (poller_ == nullptr) {
    CloseInternal();
    MakeOsError(env, -uv_err, "uv_poll_init", "timerfd", ErrnoKind::kPlain).ThrowAsJavaScriptException();
    return;
  }
  on_fire_ = Napi::Persistent(info[0].As<Napi::Function>());
  async_context_ = new Napi::AsyncContext(env, "vipd:HighResTimer", info.This().As<Napi::Object>());
}

bool HighResTimer::SetTime(const timespec& value) {
  itimerspec spec{};
  spec.it_value = value;
  // Re-arming also resets the expiry count, so a stale readiness reads EAGAIN and is ignored.
  return timerfd_settime(fd_, TFD_TIMER_ABSTIME, &spec, nullptr) == 0;
}

Napi::Value HighResTimer::ArmAt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber() || std::isnan(info[0].As<Napi::Number>().DoubleValue())) {
    MakeArgError(env, "armAt(monotonicMs: number): bad arguments").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (fd_ < 0) {
    MakeOsError(env, EBADF, "timerfd_settime", "timer is closed", ErrnoKind::kPlain).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  double ms = info[0].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(ms)) {
    MakeArgError(env, "armAt: the time must be finite").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!SetTime(FromMs(ms))) {
    MakeOsError(env, errno, "timerfd_settime", "", ErrnoKind::kPlain).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  armed_ = true;
  if (!polling_) {
    int rc = poller_->Resume(UV_READABLE);
    if (rc != 0) {
      MakeOsError(env, -rc, "uv_poll_start", "timerfd", ErrnoKind::kPlain).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    polling_ = true;
    Ref();  // an armed timer stays alive until it fires or is disarmed
  }
  return env.Undefined();
}

void HighResTimer::StopPolling() {
  if (!polling_) return;
  polling_ = false;
  if (poller_ != nullptr) poller_->Pause();
  Unref();
}

Napi::Value HighResTimer::Disarm(const Napi::CallbackInfo& info) {
  if (fd_ >= 0) {
    timespec zero{};
    SetTime(zero);  // it_value 0 disarms; cannot fail on a valid timerfd
  }
  armed_ = false;
  StopPolling();
  return info.Env().Undefined();
}

Napi::Value HighResTimer::Close(const Napi::CallbackInfo& info) {
  StopPolling();
  CloseInternal();
  return info.Env().Undefined();
}

void HighResTimer::OnReadable(void* owner, int status, int /*events*/) {
  HighResTimer* self = static_cast<HighResTimer*>(owner);
  Napi::Env env = self->Env();
  Napi::HandleScope scope(env);
  Napi::Object keep_alive = self->Value();
  if (status < 0) return;  // a timerfd has no error condition to report; the fd stays armed
  uint64_t expirations = 0;
  ssize_t n = read(self->fd_, &expirations, sizeof(expirations));
  if (n != static_cast<ssize_t>(sizeof(expirations))) return;  // EAGAIN: re-armed or disarmed meanwhile
  self->armed_ = false;
  self->on_fire_.MakeCallback(keep_alive, {}, *self->async_context_);
  ReportPendingException(env);
  if (!self->armed_) self->StopPolling();
}

void HighResTimer::CloseInternal() {
  if (poller_ != nullptr) {
    poller_->Release();
    poller_ = nullptr;
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

Napi::Value MonotonicNowMs(const Napi::CallbackInfo& info) {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return Napi::Number::New(info.Env(), static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6);
}

}  // namespace

void InitTimer(Napi::Env env, Napi::Object exports) {
  exports.Set("HighResTimer", HighResTimer::Define(env));
  exports.Set("monotonicNowMs", Napi::Function::New<MonotonicNowMs>(env, "monotonicNowMs"));
}

}  // namespace vipd
