// sd_notify: one datagram to the unix socket systemd names in $NOTIFY_SOCKET.
//
// sdNotify(address: string, state: string): address is a filesystem path, or an abstract
// socket name when it starts with '@' (the '@' stands for the leading NUL byte).
#include "notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>

#include "common.h"

namespace vipd {
namespace {

Napi::Value SdNotify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString()) {
    MakeArgError(env, "sdNotify(address, state): bad arguments").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string address = info[0].As<Napi::String>().Utf8Value();
  std::string state = info[1].As<Napi::String>().Utf8Value();
  sockaddr_un to{};
  to.sun_family = AF_UNIX;
  if (address.size() < 2 || address.size() > sizeof(to.sun_path) || (address[0] != '/' && address[0] != '@')) {
    MakeArgError(env, "NOTIFY_SOCKET is neither an absolute path nor an abstract '@name': " + address)
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::memcpy(to.sun_path, address.data(), address.size());
  socklen_t length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size());
  if (address[0] == '@') {
    to.sun_path[0] = '\0';
  } else if (address.size() < sizeof(to.sun_path)) {
    length += 1;  // count the terminating NUL of a path, as systemd's own client does
  }
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    MakeOsError(env, errno, "socket(AF_UNIX)", address, ErrnoKind::kPlain).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  ssize_t n;
  do {
    n = sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&to), length);
  } while (n < 0 && errno == EINTR);
  int err = errno;
  ::close(fd);
  if (n < 0) {
    MakeOsError(env, err, "sendto(NOTIFY_SOCKET)", address, ErrnoKind::kPlain).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Boolean::New(env, true);
}

}  // namespace

void InitNotify(Napi::Env env, Napi::Object exports) {
  exports.Set("sdNotify", Napi::Function::New<SdNotify>(env, "sdNotify"));
}

}  // namespace vipd
