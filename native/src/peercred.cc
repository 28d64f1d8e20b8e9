// peerCredentials(fd): SO_PEERCRED of a connected Unix stream socket, so the control socket can
// log who asked and allow admin commands to root only. Node exposes the fd of a net.Socket's
// handle but has no getsockopt of its own.
#include "peercred.h"

#include <sys/socket.h>

#include <cerrno>

#include "common.h"

namespace vipd {
namespace {

Napi::Value PeerCredentials(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    MakeArgError(env, "peerCredentials(fd): fd must be a number").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  if (fd < 0) {
    MakeArgError(env, "peerCredentials(fd): fd must not be negative").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    MakeOsError(env, errno, "getsockopt(SO_PEERCRED)", "control socket", ErrnoKind::kPlain)
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, cred.pid));
  out.Set("uid", Napi::Number::New(env, cred.uid));
  out.Set("gid", Napi::Number::New(env, cred.gid));
  return out;
}

}  // namespace

void InitPeerCred(Napi::Env env, Napi::Object exports) {
  exports.Set("peerCredentials", Napi::Function::New<PeerCredentials>(env, "peerCredentials"));
}

}  // namespace vipd
