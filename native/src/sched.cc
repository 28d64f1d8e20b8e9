// Process scheduling for the VRRP timers: realtime round-robin and nice value.
//
// setScheduling(realtimePriority: number, nice: number | null, rttimeUs: number)
//   -> { realtime: errno, nice: errno, threads: number }
//   Each field is 0 on success, -1 when not asked for, else the errno of the failed call.
//   realtimePriority 1..99: SCHED_RR for every thread of the process (V8's GC helpers and the libuv
//     pool too: the event loop waits for them), RLIMIT_RTTIME set to rttimeUs first so a thread that
//     spins that long without sleeping is killed (soft = hard limit: SIGKILL) instead of freezing
//     the machine; new children (hook scripts) start without it (SCHED_RESET_ON_FORK); 0: left alone.
//   nice -20..19: setpriority for every thread (Linux applies it per thread); null: left alone.
// Memory locking (keepalived's vrrp_no_swap) is deliberately absent: V8 returns unused heap pages
// with madvise, which fails on locked memory, and V8 aborts on that failure (seen with mlockall in
// a GC under load). The systemd unit keeps vipd out of swap with MemorySwapMax=0 instead.
#include "sched.h"

#include <dirent.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <vector>

namespace vipd {
namespace {

std::vector<pid_t> Threads() {
  std::vector<pid_t> out;
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) {
    out.push_back(static_cast<pid_t>(syscall(SYS_gettid)));
    return out;
  }
  while (dirent* e = readdir(dir)) {
    char* end = nullptr;
    long tid = std::strtol(e->d_name, &end, 10);
    if (end != e->d_name && *end == '\0' && tid > 0) out.push_back(static_cast<pid_t>(tid));
  }
  closedir(dir);
  return out;
}

Napi::Value SetScheduling(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !(info[1].IsNumber() || info[1].IsNull()) ||
      !info[2].IsNumber()) {
    Napi::TypeError::New(env, "setScheduling(realtimePriority, nice | null, rttimeUs): bad arguments")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int rt = info[0].As<Napi::Number>().Int32Value();
  bool set_nice = info[1].IsNumber();
  int nice = set_nice ? info[1].As<Napi::Number>().Int32Value() : 0;
  int64_t rttime = info[2].As<Napi::Number>().Int64Value();
  if (rt < 0 || rt > 99 || nice < -20 || nice > 19 || rttime < 0) {
    Napi::RangeError::New(env, "setScheduling: realtimePriority 0..99, nice -20..19, rttimeUs >= 0")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::vector<pid_t> threads = Threads();
  int rt_err = -1;
  int nice_err = -1;
  if (set_nice) {
    nice_err = 0;
    for (pid_t tid : threads) {
      if (setpriority(PRIO_PROCESS, static_cast<id_t>(tid), nice) != 0 && errno != ESRCH) nice_err = errno;
    }
  }
  if (rt > 0) {
    rt_err = 0;
    if (rttime > 0) {
      rlimit lim{static_cast<rlim_t>(rttime), static_cast<rlim_t>(rttime)};
      rlimit old{};
      // The hard limit is never raised (that needs privileges and is the operator's choice).
      if (getrlimit(RLIMIT_RTTIME, &old) == 0 && old.rlim_max != RLIM_INFINITY && old.rlim_max < lim.rlim_max)
        lim.rlim_cur = lim.rlim_max = old.rlim_max;
      if (setrlimit(RLIMIT_RTTIME, &lim) != 0) rt_err = errno;
    }
    if (rt_err == 0) {
      sched_param param{};
      param.sched_priority = rt;
      for (pid_t tid : threads) {
        if (sched_setscheduler(tid, SCHED_RR | SCHED_RESET_ON_FORK, &param) != 0 && errno != ESRCH) {
          rt_err = errno;
          break;
        }
      }
    }
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("realtime", Napi::Number::New(env, rt_err));
  out.Set("nice", Napi::Number::New(env, nice_err));
  out.Set("threads", Napi::Number::New(env, static_cast<double>(threads.size())));
  return out;
}

}  // namespace

void InitSched(Napi::Env env, Napi::Object exports) {
  exports.Set("setScheduling", Napi::Function::New<SetScheduling>(env, "setScheduling"));
}

}  // namespace vipd
