// Raw IP protocol 112 (VRRP) sockets, IPv4 and IPv6, bound to one interface.
//
// new VrrpSocket(family: 4 | 6, ifname, multicast, onDatagrams, onError)
//   onDatagrams(payloads: Buffer, meta: Int32Array, addresses: string[], receivedMs: Float64Array)
//                                      every datagram read in one readiness event, in one call:
//                                      datagram i is payloads[meta[4i] .. meta[4i] + meta[4i+1]),
//                                      TTL / hop limit meta[4i+2] (-1 unknown), arrival ifindex
//                                      meta[4i+3], source addresses[2i], destination addresses[2i+1].
//                                      `payloads` is a fresh buffer per call (never reused).
//                                      receivedMs[i]: CLOCK_MONOTONIC ms when the kernel received
//                                      datagram i (its SO_TIMESTAMPNS stamp on CLOCK_REALTIME, moved
//                                      to CLOCK_MONOTONIC; the read time when the stamp is missing,
//                                      from the future or over a second old: a stepped wall clock)
//   onError(error: Error)              a receive error other than EAGAIN / EINTR
// VrrpSocket.batchVersion              1: the onDatagrams form above (older builds: one call per
//                                      datagram, onDatagram(payload, src, dst, ttl, ifindex))
// socket.send(payload: Uint8Array, dst: string, src?: string)
// socket.drain()                       reads what is queued now and hands it to onDatagrams before
//                                      returning (a plain call: no new callback scope)
// socket.close()                       idempotent; safe from inside onDatagram
#include "vrrp_socket.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "common.h"

namespace vipd {
namespace {

constexpr int kVrrpProtocol = 112;
constexpr int kHopLimit = 255;
// keepalived marks VRRP as network control traffic (precedence 6 / CS6); so do we.
constexpr int kTosNetworkControl = 0xc0;
// Datagrams handled per readiness event; the rest wait for the next loop turn (the poll is
// level-triggered), so a flood cannot starve timers.
constexpr int kMaxDatagramsPerWakeup = 64;
// Largest IP datagram; VRRP messages are far smaller, so nothing is ever truncated.
constexpr size_t kReceiveBufferBytes = 65536;
// Address texts kept as JavaScript strings: a host hears the same few sources, so a datagram's
// source and destination are found here instead of formatted (inet_ntop) and allocated each time.
constexpr size_t kAddressCacheSize = 16;

struct CachedAddress {
  unsigned char bytes[16];
  unsigned char length = 0;  // 0: empty slot
};

class VrrpSocket : public Napi::ObjectWrap<VrrpSocket> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "VrrpSocket",
                       {InstanceMethod<&VrrpSocket::Send>("send"), InstanceMethod<&VrrpSocket::Close>("close"),
                        InstanceMethod<&VrrpSocket::Drain>("drain"),
                        InstanceAccessor<&VrrpSocket::Ifindex>("ifindex"),
                        StaticValue("batchVersion", Napi::Number::New(env, 1))});
  }

  explicit VrrpSocket(const Napi::CallbackInfo& info);
  ~VrrpSocket() override {
    CloseInternal();
    // Kept until here, not freed by close(): close() may run inside a callback using it.
    delete async_context_;
  }

 private:
  Napi::Value Send(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Ifindex(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), ifindex_); }

  bool Setup(Napi::Env env, bool multicast);
  static void OnReadable(void* owner, int status, int events);
  // sync: called from JavaScript (drain), so the callback is a plain call.
  void ReadAll(bool sync);
  Napi::Value Drain(const Napi::CallbackInfo& info);
  // Reads one datagram into the batch; false when the loop must stop (EAGAIN or error). A receive
  // error is stored in *err (an errno) for the caller to report after the batch.
  bool ReceiveOne(int* err);
  // The address as a JavaScript string, from the cache or formatted (and cached).
  Napi::String AddressText(Napi::Env env, const unsigned char* bytes, size_t length);
  void CloseInternal();

  int family_ = AF_INET;
  int fd_ = -1;
  unsigned ifindex_ = 0;
  std::string ifname_;
  Poller* poller_ = nullptr;
  std::vector<unsigned char> buffer_;
  // The batch being read: payload bytes back to back, and per datagram its offset, length, TTL,
  // ifindex, and the source and destination addresses as raw bytes (16 each, with their length).
  std::vector<unsigned char> batch_bytes_;
  std::vector<int32_t> batch_meta_;
  std::vector<double> batch_received_;
  std::vector<unsigned char> batch_addresses_;
  // The cached texts live in a JavaScript array (slot i at index i): Node-API of this version
  // cannot hold a reference to a string by itself.
  CachedAddress address_cache_[kAddressCacheSize];
  Napi::ObjectReference address_texts_;
  size_t address_cache_next_ = 0;
  Napi::FunctionReference on_datagram_;
  Napi::FunctionReference on_error_;
  Napi::AsyncContext* async_context_ = nullptr;
};

VrrpSocket::VrrpSocket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VrrpSocket>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5 || !info[0].IsNumber() || !info[1].IsString() || !info[2].IsBoolean() ||
      !info[3].IsFunction() || !info[4].IsFunction()) {
    MakeArgError(env, "VrrpSocket(family, ifname, multicast, onDatagram, onError): bad arguments")
        .ThrowAsJavaScriptException();
    return;
  }
  int family = info[0].As<Napi::Number>().Int32Value();
  if (family != 4 && family != 6) {
    MakeArgError(env, "VrrpSocket: family must be 4 or 6").ThrowAsJavaScriptException();
    return;
  }
  family_ = family == 4 ? AF_INET : AF_INET6;
  ifname_ = info[1].As<Napi::String>().Utf8Value();
  bool multicast = info[2].As<Napi::Boolean>().Value();

  ifindex_ = InterfaceIndex(ifname_);
  if (ifindex_ == 0) {
    MakeOsError(env, errno, "if_nametoindex", ifname_, ErrnoKind::kPlain).ThrowAsJavaScriptException();
    return;
  }
  if (!Setup(env, multicast)) {
    CloseInternal();
    return;
  }
  buffer_.resize(kReceiveBufferBytes);
  address_texts_ = Napi::Persistent(Napi::Array::New(env, kAddressCacheSize).As<Napi::Object>());
  on_datagram_ = Napi::Persistent(info[3].As<Napi::Function>());
  on_error_ = Napi::Persistent(info[4].As<Napi::Function>());
  async_context_ = new Napi::AsyncContext(env, "vipd:VrrpSocket", info.This().As<Napi::Object>());

  int uv_err = 0;
  poller_ = Poller::Start(EventLoop(env), fd_, UV_READABLE, &VrrpSocket::OnReadable, this, &uv_err);
  if (poller_ == nullptr) {
    CloseInternal();
    MakeOsError(env, -uv_err, "uv_poll_start", ifname_, ErrnoKind::kPlain).ThrowAsJavaScriptException();
    return;
  }
  // An open socket stays alive (and keeps the loop alive) until close(), like a Node handle.
  Ref();
}

bool VrrpSocket::Setup(Napi::Env env, bool multicast) {
  auto fail = [&](const char* syscall, ErrnoKind kind) {
    MakeOsError(env, errno, syscall, ifname_, kind).ThrowAsJavaScriptException();
    return false;
  };
  auto set_int = [&](int level, int name, int value) {
    return setsockopt(fd_, level, name, &value, sizeof(value)) == 0;
  };

  fd_ = socket(family_, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, kVrrpProtocol);
  if (fd_ < 0) return fail("socket", ErrnoKind::kPrivileged);
  if (setsockopt(fd_, SOL_SOCKET, SO_BINDTODEVICE, ifname_.c_str(), static_cast<socklen_t>(ifname_.size())) != 0)
    return fail("setsockopt(SO_BINDTODEVICE)", ErrnoKind::kPrivileged);

  // The kernel's receive time of each datagram (see ReceiveOne).
  if (!set_int(SOL_SOCKET, SO_TIMESTAMPNS, 1)) return fail("setsockopt(SO_TIMESTAMPNS)", ErrnoKind::kPlain);
  if (family_ == AF_INET) {
    if (!set_int(IPPROTO_IP, IP_PKTINFO, 1)) return fail("setsockopt(IP_PKTINFO)", ErrnoKind::kPlain);
    if (!set_int(IPPROTO_IP, IP_TTL, kHopLimit)) return fail("setsockopt(IP_TTL)", ErrnoKind::kPlain);
    if (!set_int(IPPROTO_IP, IP_TOS, kTosNetworkControl)) return fail("setsockopt(IP_TOS)", ErrnoKind::kPlain);
    // A byte-sized option on some kernels; Linux accepts an int.
    if (!set_int(IPPROTO_IP, IP_MULTICAST_TTL, kHopLimit))
      return fail("setsockopt(IP_MULTICAST_TTL)", ErrnoKind::kPlain);
    if (!set_int(IPPROTO_IP, IP_MULTICAST_LOOP, 0)) return fail("setsockopt(IP_MULTICAST_LOOP)", ErrnoKind::kPlain);
    ip_mreqn mreq{};
    mreq.imr_ifindex = static_cast<int>(ifindex_);
    if (setsockopt(fd_, IPPROTO_IP, IP_MULTICAST_IF, &mreq, sizeof(mreq)) != 0)
      return fail("setsockopt(IP_MULTICAST_IF)", ErrnoKind::kPlain);
    if (multicast) {
      inet_pton(AF_INET, "224.0.0.18", &mreq.imr_multiaddr);
      if (setsockopt(fd_, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof(mreq)) != 0)
        return fail("setsockopt(IP_ADD_MEMBERSHIP 224.0.0.18)", ErrnoKind::kPlain);
    }
  } else {
    if (!set_int(IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)) return fail("setsockopt(IPV6_RECVPKTINFO)", ErrnoKind::kPlain);
    if (!set_int(IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1))
      return fail("setsockopt(IPV6_RECVHOPLIMIT)", ErrnoKind::kPlain);
    if (!set_int(IPPROTO_IPV6, IPV6_UNICAST_HOPS, kHopLimit))
      return fail("setsockopt(IPV6_UNICAST_HOPS)", ErrnoKind::kPlain);
    if (!set_int(IPPROTO_IPV6, IPV6_MULTICAST_HOPS, kHopLimit))
      return fail("setsockopt(IPV6_MULTICAST_HOPS)", ErrnoKind::kPlain);
    if (!set_int(IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0))
      return fail("setsockopt(IPV6_MULTICAST_LOOP)", ErrnoKind::kPlain);
    if (!set_int(IPPROTO_IPV6, IPV6_MULTICAST_IF, static_cast<int>(ifindex_)))
      return fail("setsockopt(IPV6_MULTICAST_IF)", ErrnoKind::kPlain);
    if (!set_int(IPPROTO_IPV6, IPV6_TCLASS, kTosNetworkControl))
      return fail("setsockopt(IPV6_TCLASS)", ErrnoKind::kPlain);
    // The codec computes and checks the VRRPv3 checksum itself (and counts bad ones), so the
    // kernel must neither fill nor verify it: IPV6_CHECKSUM stays off (-1, the default).
    if (multicast) {
      ipv6_mreq mreq{};
      inet_pton(AF_INET6, "ff02::12", &mreq.ipv6mr_multiaddr);
      mreq.ipv6mr_interface = ifindex_;
      if (setsockopt(fd_, IPPROTO_IPV6, IPV6_JOIN_GROUP, &mreq, sizeof(mreq)) != 0)
        return fail("setsockopt(IPV6_JOIN_GROUP ff02::12)", ErrnoKind::kPlain);
    }
  }
  return true;
}

void VrrpSocket::OnReadable(void* owner, int status, int /*events*/) {
  VrrpSocket* self = static_cast<VrrpSocket*>(owner);
  Napi::Env env = self->Env();
  Napi::HandleScope scope(env);
  // Holds the JS object alive for this whole callback even if close() drops its reference.
  Napi::Object keep_alive = self->Value();
  if (status < 0) {
    Napi::Error error = MakeOsError(env, -status, "uv_poll", self->ifname_, ErrnoKind::kPlain);
    self->on_error_.MakeCallback(keep_alive, {error.Value()}, *self->async_context_);
    ReportPendingException(env);
    return;
  }
  self->ReadAll(false);
}

Napi::Value VrrpSocket::Drain(const Napi::CallbackInfo& info) {
  if (fd_ >= 0) ReadAll(true);
  return info.Env().Undefined();
}

void VrrpSocket::ReadAll(bool sync) {
  Napi::Env env = Env();
  batch_bytes_.clear();
  batch_meta_.clear();
  batch_received_.clear();
  batch_addresses_.clear();
  int err = 0;
  for (int i = 0; i < kMaxDatagramsPerWakeup && fd_ >= 0; i++) {
    if (!ReceiveOne(&err)) break;
  }
  size_t count = batch_meta_.size() / 4;
  if (count > 0) {
    Napi::HandleScope scope(env);
    Napi::Buffer<unsigned char> payloads =
        Napi::Buffer<unsigned char>::Copy(env, batch_bytes_.data(), batch_bytes_.size());
    Napi::Int32Array meta = Napi::Int32Array::New(env, batch_meta_.size());
    std::memcpy(meta.Data(), batch_meta_.data(), batch_meta_.size() * sizeof(int32_t));
    Napi::Array addresses = Napi::Array::New(env, 2 * count);
    for (size_t i = 0; i < 2 * count; i++) {
      const unsigned char* entry = &batch_addresses_[i * 17];
      addresses.Set(static_cast<uint32_t>(i), AddressText(env, entry + 1, entry[0]));
    }
    Napi::Float64Array received = Napi::Float64Array::New(env, batch_received_.size());
    std::memcpy(received.Data(), batch_received_.data(), batch_received_.size() * sizeof(double));
    if (sync) {
      // Inside a JavaScript call (drain): an exception propagates to drain()'s caller.
      on_datagram_.Call(Value(), {payloads, meta, addresses, received});
      if (env.IsExceptionPending()) return;
    } else {
      on_datagram_.MakeCallback(Value(), {payloads, meta, addresses, received}, *async_context_);
      ReportPendingException(env);
    }
  }
  if (err != 0 && fd_ >= 0) {
    Napi::HandleScope scope(env);
    Napi::Error error = MakeOsError(env, err, "recvmsg", ifname_, ErrnoKind::kPlain);
    if (sync) {
      on_error_.Call(Value(), {error.Value()});
      return;
    }
    on_error_.MakeCallback(Value(), {error.Value()}, *async_context_);
    ReportPendingException(env);
  }
}

Napi::String VrrpSocket::AddressText(Napi::Env env, const unsigned char* bytes, size_t length) {
  if (length == 0) return Napi::String::New(env, "");
  Napi::Object texts = address_texts_.Value();
  for (size_t i = 0; i < kAddressCacheSize; i++) {
    const CachedAddress& c = address_cache_[i];
    if (c.length == length && std::memcmp(c.bytes, bytes, length) == 0)
      return texts.Get(static_cast<uint32_t>(i)).As<Napi::String>();
  }
  char text[INET6_ADDRSTRLEN] = "";
  inet_ntop(length == 4 ? AF_INET : AF_INET6, bytes, text, sizeof(text));
  Napi::String value = Napi::String::New(env, text);
  size_t i = address_cache_next_;
  address_cache_next_ = (address_cache_next_ + 1) % kAddressCacheSize;
  std::memcpy(address_cache_[i].bytes, bytes, length);
  address_cache_[i].length = static_cast<unsigned char>(length);
  texts.Set(static_cast<uint32_t>(i), value);
  return value;
}

double ToMs(const timespec& t) { return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6; }

bool VrrpSocket::ReceiveOne(int* err) {
  sockaddr_storage from{};
  iovec iov{buffer_.data(), buffer_.size()};
  alignas(cmsghdr) unsigned char control[256];
  msghdr msg{};
  msg.msg_name = &from;
  msg.msg_namelen = sizeof(from);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);

  ssize_t n;
  do {
    n = recvmsg(fd_, &msg, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) *err = errno;
    return false;
  }
  // When the datagram reached this host: the protocol's timers start there, not when JavaScript
  // got round to it. The kernel's stamp is on CLOCK_REALTIME; its age on that clock is taken off
  // CLOCK_MONOTONIC now.
  timespec mono{};
  timespec real{};
  clock_gettime(CLOCK_MONOTONIC, &mono);
  clock_gettime(CLOCK_REALTIME, &real);
  double received_ms = ToMs(mono);
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS) continue;
    timespec stamp{};
    std::memcpy(&stamp, CMSG_DATA(c), sizeof(stamp));
    double age_ms = ToMs(real) - ToMs(stamp);
    if (age_ms >= 0 && age_ms < 1000) received_ms -= age_ms;
  }

  // Raw bytes of source and destination (4 or 16; 0 when unknown), formatted later from the cache.
  unsigned char src[16] = {};
  unsigned char dst[16] = {};
  size_t src_len = 0;
  size_t dst_len = 0;
  int ttl = -1;
  unsigned arrival = 0;
  const unsigned char* payload = buffer_.data();
  size_t length = static_cast<size_t>(n);

  if (family_ == AF_INET) {
    // The kernel hands raw IPv4 sockets the whole datagram; the VRRP message follows the header.
    if (length < 20) return true;  // cannot happen for a datagram the kernel accepted
    size_t header = static_cast<size_t>(buffer_[0] & 0x0f) * 4;
    if (header < 20 || header > length) return true;
    ttl = buffer_[8];
    std::memcpy(src, &buffer_[12], 4);
    std::memcpy(dst, &buffer_[16], 4);
    src_len = dst_len = 4;
    payload += header;
    length -= header;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
        in_pktinfo pi;
        std::memcpy(&pi, CMSG_DATA(c), sizeof(pi));
        arrival = static_cast<unsigned>(pi.ipi_ifindex);
      }
    }
  } else {
    const sockaddr_in6* sin6 = reinterpret_cast<const sockaddr_in6*>(&from);
    std::memcpy(src, &sin6->sin6_addr, 16);
    src_len = 16;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != IPPROTO_IPV6) continue;
      if (c->cmsg_type == IPV6_PKTINFO) {
        in6_pktinfo pi;
        std::memcpy(&pi, CMSG_DATA(c), sizeof(pi));
        arrival = pi.ipi6_ifindex;
        std::memcpy(dst, &pi.ipi6_addr, 16);
        dst_len = 16;
      } else if (c->cmsg_type == IPV6_HOPLIMIT) {
        int hops;
        std::memcpy(&hops, CMSG_DATA(c), sizeof(hops));
        ttl = hops;
      }
    }
  }

  // Copied out of the receive buffer: the batch's payload buffer is the caller's to keep.
  batch_meta_.push_back(static_cast<int32_t>(batch_bytes_.size()));
  batch_meta_.push_back(static_cast<int32_t>(length));
  batch_meta_.push_back(ttl);
  batch_meta_.push_back(static_cast<int32_t>(arrival));
  batch_received_.push_back(received_ms);
  batch_bytes_.insert(batch_bytes_.end(), payload, payload + length);
  for (auto [bytes, len] : {std::pair<const unsigned char*, size_t>{src, src_len}, {dst, dst_len}}) {
    batch_addresses_.push_back(static_cast<unsigned char>(len));
    batch_addresses_.insert(batch_addresses_.end(), bytes, bytes + 16);
  }
  return true;
}

Napi::Value VrrpSocket::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (fd_ < 0) {
    MakeOsError(env, EBADF, "sendmsg", ifname_ + ": socket is closed", ErrnoKind::kPlain)
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (info.Length() < 2 || !info[0].IsTypedArray() || !info[1].IsString() ||
      (info.Length() > 2 && !info[2].IsString() && !info[2].IsUndefined())) {
    MakeArgError(env, "send(payload: Uint8Array, dst: string, src?: string): bad arguments")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint8Array payload = info[0].As<Napi::Uint8Array>();
  std::string dst_text = info[1].As<Napi::String>().Utf8Value();
  bool has_src = info.Length() > 2 && info[2].IsString();
  std::string src_text = has_src ? info[2].As<Napi::String>().Utf8Value() : std::string();

  sockaddr_storage to{};
  socklen_t to_len;
  alignas(cmsghdr) unsigned char control[CMSG_SPACE(sizeof(in6_pktinfo))] = {};
  msghdr msg{};
  iovec iov{payload.Data(), payload.ByteLength()};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;

  if (family_ == AF_INET) {
    sockaddr_in* sin = reinterpret_cast<sockaddr_in*>(&to);
    sin->sin_family = AF_INET;
    if (inet_pton(AF_INET, dst_text.c_str(), &sin->sin_addr) != 1) {
      MakeArgError(env, "send: not an IPv4 destination: " + dst_text).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    to_len = sizeof(sockaddr_in);
    if (has_src) {
      in_pktinfo pi{};
      if (inet_pton(AF_INET, src_text.c_str(), &pi.ipi_spec_dst) != 1) {
        MakeArgError(env, "send: not an IPv4 source: " + src_text).ThrowAsJavaScriptException();
        return env.Undefined();
      }
      pi.ipi_ifindex = static_cast<int>(ifindex_);
      msg.msg_control = control;
      msg.msg_controllen = CMSG_SPACE(sizeof(pi));
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(pi));
      std::memcpy(CMSG_DATA(c), &pi, sizeof(pi));
    }
  } else {
    sockaddr_in6* sin6 = reinterpret_cast<sockaddr_in6*>(&to);
    sin6->sin6_family = AF_INET6;
    if (inet_pton(AF_INET6, dst_text.c_str(), &sin6->sin6_addr) != 1) {
      MakeArgError(env, "send: not an IPv6 destination: " + dst_text).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    // Link-local and multicast destinations need the interface as their scope.
    sin6->sin6_scope_id = ifindex_;
    to_len = sizeof(sockaddr_in6);
    if (has_src) {
      in6_pktinfo pi{};
      if (inet_pton(AF_INET6, src_text.c_str(), &pi.ipi6_addr) != 1) {
        MakeArgError(env, "send: not an IPv6 source: " + src_text).ThrowAsJavaScriptException();
        return env.Undefined();
      }
      pi.ipi6_ifindex = ifindex_;
      msg.msg_control = control;
      msg.msg_controllen = CMSG_SPACE(sizeof(pi));
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = IPPROTO_IPV6;
      c->cmsg_type = IPV6_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(pi));
      std::memcpy(CMSG_DATA(c), &pi, sizeof(pi));
    }
  }
  msg.msg_name = &to;
  msg.msg_namelen = to_len;

  ssize_t n;
  do {
    n = sendmsg(fd_, &msg, MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    MakeOsError(env, errno, "sendmsg", ifname_ + " to " + dst_text, ErrnoKind::kPlain)
        .ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

Napi::Value VrrpSocket::Close(const Napi::CallbackInfo& info) {
  bool was_open = fd_ >= 0;
  CloseInternal();
  if (was_open) Unref();
  return info.Env().Undefined();
}

void VrrpSocket::CloseInternal() {
  if (poller_ != nullptr) {
    poller_->Release();  // stops polling before the descriptor goes away
    poller_ = nullptr;
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

}  // namespace

void InitVrrpSocket(Napi::Env env, Napi::Object exports) {
  exports.Set("VrrpSocket", VrrpSocket::Define(env));
}

}  // namespace vipd
