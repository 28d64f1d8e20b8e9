// AF_PACKET socket that only sends whole Ethernet frames (gratuitous ARP, unsolicited NA)
// on one interface. Protocol 0: the kernel delivers nothing to it, so it never needs reading.
//
// new PacketSocket(ifname); socket.send(frame: Uint8Array); socket.close()
#include "packet_socket.h"

#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "common.h"

namespace vipd {
namespace {

constexpr size_t kEthernetHeaderBytes = 14;

class PacketSocket : public Napi::ObjectWrap<PacketSocket> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "PacketSocket",
                       {InstanceMethod<&PacketSocket::Send>("send"), InstanceMethod<&PacketSocket::Close>("close"),
                        InstanceAccessor<&PacketSocket::Ifindex>("ifindex")});
  }

  explicit PacketSocket(const Napi::CallbackInfo& info);
  ~PacketSocket() override { CloseInternal(); }

 private:
  Napi::Value Send(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info) {
    CloseInternal();
    return info.Env().Undefined();
  }
  Napi::Value Ifindex(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), ifindex_); }
  void CloseInternal() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

  int fd_ = -1;
  unsigned ifindex_ = 0;
  std::string ifname_;
};

PacketSocket::PacketSocket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PacketSocket>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    MakeArgError(env, "PacketSocket(ifname): bad arguments").ThrowAsJavaScriptException();
    return;
  }
  ifname_ = info[0].As<Napi::String>().Utf8Value();
  ifindex_ = InterfaceIndex(ifname_);
  if (ifindex_ == 0) {
    MakeOsError(env, errno, "if_nametoindex", ifname_, ErrnoKind::kPlain).ThrowAsJavaScriptException();
    return;
  }
  fd_ = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    MakeOsError(env, errno, "socket(AF_PACKET)", ifname_, ErrnoKind::kPrivileged).ThrowAsJavaScriptException();
    return;
  }
  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = 0;
  addr.sll_ifindex = static_cast<int>(ifindex_);
  if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    CloseInternal();
    MakeOsError(env, err, "bind(AF_PACKET)", ifname_, ErrnoKind::kPrivileged).ThrowAsJavaScriptException();
    return;
  }
}

Napi::Value PacketSocket::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (fd_ < 0) {
    MakeOsError(env, EBADF, "sendto(AF_PACKET)", ifname_ + ": socket is closed", ErrnoKind::kPlain)
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (info.Length() < 1 || !info[0].IsTypedArray()) {
    MakeArgError(env, "send(frame: Uint8Array): bad arguments").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint8Array frame = info[0].As<Napi::Uint8Array>();
  if (frame.ByteLength() < kEthernetHeaderBytes) {
    MakeArgError(env, "send: an Ethernet frame has at least 14 bytes").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const uint8_t* bytes = frame.Data();
  sockaddr_ll to{};
  to.sll_family = AF_PACKET;
  to.sll_ifindex = static_cast<int>(ifindex_);
  std::memcpy(&to.sll_protocol, bytes + 12, 2);  // EtherType, already in network order
  to.sll_halen = ETH_ALEN;
  std::memcpy(to.sll_addr, bytes, ETH_ALEN);  // destination MAC
  ssize_t n;
  do {
    n = sendto(fd_, bytes, frame.ByteLength(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&to), sizeof(to));
  } while (n < 0 && errno == EINTR);
  if (n < 0) MakeOsError(env, errno, "sendto(AF_PACKET)", ifname_, ErrnoKind::kPlain).ThrowAsJavaScriptException();
  return env.Undefined();
}

}  // namespace

void InitPacketSocket(Napi::Env env, Napi::Object exports) {
  exports.Set("PacketSocket", PacketSocket::Define(env));
}

}  // namespace vipd
