// Raw IP protocol 112 (VRRP) sockets, IPv4 and IPv6, bound to one interface.
//
// new VrrpSocket(family: 4 | 6, ifname, multicast, onBatch, onError, options?)
//   options.kernelAbsorb               false: no kernel filter (see socket.kernelAbsorbError)
//   onBatch(count: number)             the datagrams read in one readiness event (count >= 1), in
//                                      one call, left in memory shared with JavaScript and valid
//                                      until onBatch returns (the next read overwrites it):
//                                      datagram i is payloads[meta[6i] .. meta[6i] + meta[6i+1]),
//                                      TTL / hop limit meta[6i+2] (-1 unknown), arrival ifindex
//                                      meta[6i+3], source addressTexts[meta[6i+4]] and destination
//                                      addressTexts[meta[6i+5]] (index -1: unknown, ""), and
//                                      receivedMs[i]: CLOCK_MONOTONIC ms when the kernel received
//                                      it (its SO_TIMESTAMPNS stamp on CLOCK_REALTIME, moved to
//                                      CLOCK_MONOTONIC; the read time when the stamp is missing,
//                                      from the future or over a second old: a stepped wall clock).
//                                      A readiness event with more payload than payloads.length, or
//                                      more addresses than addressTexts holds, is handed over in
//                                      several calls.
//   onError(error: Error)              a receive error other than EAGAIN / EINTR
// socket.meta: Int32Array, socket.receivedMs: Float64Array, socket.payloads: Uint8Array,
// socket.addressTexts: string[]        the shared memory above, made once per socket (no
//                                      allocation per readiness event); addressTexts is a small
//                                      cache of address texts, slots filled by the addon on a miss.
// VrrpSocket.batchVersion              2: the onBatch form above (1: onDatagrams(payloads, meta,
//                                      addresses, receivedMs) with fresh objects per call; older:
//                                      one call per datagram)
// socket.send(payload: Uint8Array, dst: string, src?: string)
// socket.drain()                       reads what is queued now and hands it to onBatch before
//                                      returning (a plain call: no new callback scope); a no-op
//                                      when called from inside onBatch (the read in progress goes
//                                      on and hands over the rest itself)
// socket.close()                       idempotent; safe from inside onBatch
// socket.absorb(vrid, payload, src, dst, ttl, ifindex): boolean
//                                      from now on, a datagram for this VRID equal to this one in
//                                      every byte and IP fact is absorbed here: counted in
//                                      absorbed[vrid], its receive time in absorbed[256 + vrid]
//                                      (the latest), and not handed to onBatch. Any other datagram
//                                      for the VRID ends it (it and all after it are handed over,
//                                      in order), as does release(vrid). false (nothing armed) when
//                                      the payload is longer than 256 bytes.
// socket.release(vrid)                 ends absorb(vrid); a no-op when not armed
// socket.absorbed: Float64Array(512)   the counts and receive times above, per VRID (shared memory,
//                                      never reset: a reader keeps the count it last saw). Reading
//                                      the property first adds what the kernel absorbed.
// socket.datagramsRead: number         datagrams read from the socket so far (absorbed in the addon
//                                      or handed over; not those the kernel absorbed)
// socket.kernelAbsorbError: string      "" when repeats of up to 128 bytes are absorbed in the
//                                      kernel, by an eBPF filter (kernel_absorb.h), so they do not
//                                      even wake the process; otherwise why not (they are absorbed
//                                      here as above)
#include "vrrp_socket.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "common.h"
#include "kernel_absorb.h"

namespace vipd {
namespace {

constexpr int kVrrpProtocol = 112;
constexpr int kHopLimit = 255;
// keepalived marks VRRP as network control traffic (precedence 6 / CS6); so do we.
constexpr int kTosNetworkControl = 0xc0;
// Datagrams handled per readiness event; the rest wait for the next loop turn (the poll is
// level-triggered), so a flood cannot starve timers.
constexpr int kMaxDatagramsPerWakeup = 64;
// Datagrams read by one recvmmsg. A call that returns fewer has emptied the queue, so no further
// call (that would end in EAGAIN) is made; one that arrives just after wakes the poll again.
constexpr int kDatagramsPerRead = 16;
// Receive space of each of those: the largest IP datagram, so nothing is ever truncated. Only the
// pages the kernel writes into become resident (a VRRP message touches the first one).
constexpr size_t kReceiveBufferBytes = 65536;
constexpr size_t kControlBytes = 256;
// Shared with JavaScript: per datagram 6 int32 of meta and one float64 receive time, and the
// payloads back to back (room for at least one datagram of the largest size).
constexpr int kMetaInts = 6;
constexpr size_t kPayloadBytes = 65536;
// Address texts kept as JavaScript strings: a host hears the same few sources, so a datagram's
// source and destination are found here instead of formatted (inet_ntop) and allocated each time.
constexpr size_t kAddressCacheSize = 16;
static_assert(kAddressCacheSize <= 32, "slots_in_batch_ is a 32-bit mask");
// A backup hears the same advert from its master every interval (2550 a second for 255 VRIDs at
// 100 ms). The engine arms absorb() with one it has stepped; the repeats are then counted here
// without waking JavaScript, and the engine replays the latest through its state machine when it
// needs the router up to date (see engine.ts). Adverts of up to 256 bytes are absorbed (v3 IPv4
// with 62 addresses, v3 IPv6 with 15): longer ones always go to JavaScript.
constexpr size_t kAbsorbMaxPayload = 256;
constexpr int kVrids = 256;

struct AbsorbEntry {
  bool armed = false;
  unsigned char src[16] = {};
  unsigned char dst[16] = {};
  size_t src_len = 0;
  size_t dst_len = 0;
  int ttl = -1;
  unsigned ifindex = 0;
  size_t length = 0;
  unsigned char payload[kAbsorbMaxPayload] = {};
};

double ToMs(const timespec& t) { return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6; }

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
                        InstanceMethod<&VrrpSocket::Absorb>("absorb"),
                        InstanceMethod<&VrrpSocket::Release>("release"),
                        InstanceAccessor<&VrrpSocket::Absorbed>("absorbed"),
                        InstanceAccessor<&VrrpSocket::KernelAbsorbError>("kernelAbsorbError"),
                        InstanceAccessor<&VrrpSocket::DatagramsRead>("datagramsRead"),
                        InstanceAccessor<&VrrpSocket::Ifindex>("ifindex"),
                        InstanceAccessor<&VrrpSocket::Meta>("meta"),
                        InstanceAccessor<&VrrpSocket::ReceivedMs>("receivedMs"),
                        InstanceAccessor<&VrrpSocket::Payloads>("payloads"),
                        InstanceAccessor<&VrrpSocket::AddressTexts>("addressTexts"),
                        StaticValue("batchVersion", Napi::Number::New(env, 2))});
  }

  explicit VrrpSocket(const Napi::CallbackInfo& info);
  ~VrrpSocket() override {
    CloseInternal();
    if (arena_ != nullptr) munmap(arena_, kArenaBytes);
    // Kept until here, not freed by close(): close() may run inside a callback using it.
    delete async_context_;
  }

 private:
  Napi::Value Send(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Ifindex(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), ifindex_); }
  Napi::Value Meta(const Napi::CallbackInfo&) { return meta_.Value(); }
  Napi::Value ReceivedMs(const Napi::CallbackInfo&) { return received_.Value(); }
  Napi::Value Payloads(const Napi::CallbackInfo&) { return payloads_.Value(); }
  Napi::Value AddressTexts(const Napi::CallbackInfo&) { return address_texts_.Value(); }
  Napi::Value Absorbed(const Napi::CallbackInfo&) {
    SyncKernelAbsorbed();
    return absorbed_.Value();
  }
  Napi::Value DatagramsRead(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(datagrams_read_));
  }
  Napi::Value KernelAbsorbError(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), kernel_absorb_error_);
  }
  // Adds the repeats the kernel absorbed since the last look to absorbed.
  void SyncKernelAbsorbed();
  // The VRID of datagram `slot` of the last ReceiveMany (-1: too short to have one), found as
  // AddToBatch finds it.
  int VridOf(int slot) const;
  Napi::Value Absorb(const Napi::CallbackInfo& info);
  Napi::Value Release(const Napi::CallbackInfo& info);
  // True when the datagram (its VRID in payload[1]) matches an armed absorb() and was counted;
  // a datagram that does not match disarms its VRID.
  bool TryAbsorb(const unsigned char* payload, size_t length, const unsigned char* src, size_t src_len,
                 const unsigned char* dst, size_t dst_len, int ttl, unsigned arrival, double received_ms);

  bool Setup(Napi::Env env, bool multicast);
  static void OnReadable(void* owner, int status, int events);
  // sync: called from JavaScript (drain), so the callback is a plain call.
  void ReadAll(bool sync);
  Napi::Value Drain(const Napi::CallbackInfo& info);
  // One recvmmsg into the arena: the number of datagrams read, 0 when none was queued, -1 on a
  // receive error (its errno in *err, for the caller to report after the batch).
  int ReceiveMany(int* err);
  // Adds datagram `slot` of the last ReceiveMany to the shared batch; false when its payload does
  // not fit behind the ones already there (hand the batch over first).
  bool AddToBatch(int slot, double read_mono_ms, double read_real_ms);
  // Hands the batch to onBatch; false when reading must stop (closed, or an exception in drain()).
  bool Deliver(bool sync);
  // The cache slot holding an address, or -1.
  int FindAddress(const unsigned char* bytes, size_t length) const;
  // The cache slot of an address (-1 when the length is 0), its text formatted on a miss.
  int AddressSlot(Napi::Env env, const unsigned char* bytes, size_t length);
  void CloseInternal();

  static constexpr size_t kArenaBytes = kDatagramsPerRead * kReceiveBufferBytes;

  int family_ = AF_INET;
  int fd_ = -1;
  unsigned ifindex_ = 0;
  std::string ifname_;
  Poller* poller_ = nullptr;
  // recvmmsg's receive space (kDatagramsPerRead buffers of kReceiveBufferBytes), its headers,
  // source addresses and control data.
  unsigned char* arena_ = nullptr;
  mmsghdr messages_[kDatagramsPerRead] = {};
  iovec iovecs_[kDatagramsPerRead] = {};
  sockaddr_storage sources_[kDatagramsPerRead] = {};
  alignas(cmsghdr) unsigned char controls_[kDatagramsPerRead][kControlBytes] = {};
  // The batch, in memory JavaScript reads directly (see the top of the file).
  Napi::Reference<Napi::Int32Array> meta_;
  Napi::Reference<Napi::Float64Array> received_;
  Napi::Reference<Napi::Uint8Array> payloads_;
  int32_t* meta_data_ = nullptr;
  double* received_data_ = nullptr;
  unsigned char* payload_data_ = nullptr;
  int batch_count_ = 0;
  size_t batch_bytes_ = 0;
  bool reading_ = false;
  // Cache slots the batch refers to (bit i: slot i): a miss must not replace one of those texts
  // before JavaScript has read the batch.
  uint32_t slots_in_batch_ = 0;
  // The cached texts live in a JavaScript array (slot i at index i): Node-API of this version
  // cannot hold a reference to a string by itself.
  CachedAddress address_cache_[kAddressCacheSize];
  Napi::ObjectReference address_texts_;
  size_t address_cache_next_ = 0;
  // absorb(): an entry per VRID once armed (kept when disarmed), and the shared counts / times.
  std::unique_ptr<AbsorbEntry> absorb_[kVrids];
  Napi::Reference<Napi::Float64Array> absorbed_;
  double* absorbed_data_ = nullptr;
  // The kernel's part (null when it refused, the reason in kernel_absorb_error_): per VRID the
  // datagrams read here (as the filter counts the ones it let through) and the kernel's absorbed
  // count already added to absorbed.
  std::unique_ptr<KernelAbsorb> kernel_;
  std::string kernel_absorb_error_;
  uint32_t read_count_[kVrids] = {};
  uint64_t datagrams_read_ = 0;
  uint64_t kernel_seen_[kVrids] = {};
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
  bool kernel_absorb = true;
  if (info.Length() > 5 && !info[5].IsUndefined()) {
    Napi::Value v = info[5].IsObject() ? info[5].As<Napi::Object>().Get("kernelAbsorb") : info[5];
    if (!info[5].IsObject() || !(v.IsUndefined() || v.IsBoolean())) {
      MakeArgError(env, "VrrpSocket: options must be { kernelAbsorb?: boolean }").ThrowAsJavaScriptException();
      return;
    }
    kernel_absorb = !v.IsBoolean() || v.As<Napi::Boolean>().Value();
  }

  ifindex_ = InterfaceIndex(ifname_);
  if (ifindex_ == 0) {
    MakeOsError(env, errno, "if_nametoindex", ifname_, ErrnoKind::kPlain).ThrowAsJavaScriptException();
    return;
  }
  if (!Setup(env, multicast)) {
    CloseInternal();
    return;
  }
  // Last, once the socket receives what it is meant to: from here on the filter sees all of it.
  if (kernel_absorb) {
    kernel_ = KernelAbsorb::Create(family_, &kernel_absorb_error_);
    if (kernel_ && !kernel_->Attach(fd_, &kernel_absorb_error_)) kernel_.reset();
  } else {
    kernel_absorb_error_ = "turned off (options.kernelAbsorb)";
  }
  void* arena = mmap(nullptr, kArenaBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (arena == MAP_FAILED) {
    int err = errno;
    CloseInternal();
    MakeOsError(env, err, "mmap", ifname_, ErrnoKind::kPlain).ThrowAsJavaScriptException();
    return;
  }
  arena_ = static_cast<unsigned char*>(arena);
  for (int i = 0; i < kDatagramsPerRead; i++) iovecs_[i] = iovec{arena_ + i * kReceiveBufferBytes, kReceiveBufferBytes};
  // One ArrayBuffer holds the three views: the meta, then the receive times (8-byte aligned), then
  // the payloads.
  constexpr size_t kMetaBytes = kMaxDatagramsPerWakeup * kMetaInts * sizeof(int32_t);
  constexpr size_t kReceivedBytes = kMaxDatagramsPerWakeup * sizeof(double);
  static_assert(kMetaBytes % sizeof(double) == 0, "receive times must be 8-byte aligned");
  Napi::ArrayBuffer shared = Napi::ArrayBuffer::New(env, kMetaBytes + kReceivedBytes + kPayloadBytes);
  Napi::Int32Array meta = Napi::Int32Array::New(env, kMaxDatagramsPerWakeup * kMetaInts, shared, 0);
  Napi::Float64Array received = Napi::Float64Array::New(env, kMaxDatagramsPerWakeup, shared, kMetaBytes);
  Napi::Uint8Array payloads = Napi::Uint8Array::New(env, kPayloadBytes, shared, kMetaBytes + kReceivedBytes);
  meta_data_ = meta.Data();
  received_data_ = received.Data();
  payload_data_ = payloads.Data();
  meta_ = Napi::Persistent(meta);
  received_ = Napi::Persistent(received);
  payloads_ = Napi::Persistent(payloads);
  address_texts_ = Napi::Persistent(Napi::Array::New(env, kAddressCacheSize).As<Napi::Object>());
  Napi::Float64Array absorbed = Napi::Float64Array::New(env, 2 * kVrids);
  absorbed_data_ = absorbed.Data();
  absorbed_ = Napi::Persistent(absorbed);
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
  if (reading_) return;  // drain() from inside onBatch: the read in progress hands over the rest
  reading_ = true;
  batch_count_ = 0;
  batch_bytes_ = 0;
  int err = 0;
  int total = 0;
  bool go_on = true;
  while (go_on && fd_ >= 0 && total < kMaxDatagramsPerWakeup) {
    int n = ReceiveMany(&err);
    if (n <= 0) break;
    // One clock reading per recvmmsg: the read time each kernel stamp is measured against.
    timespec mono{};
    timespec real{};
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &real);
    double mono_ms = ToMs(mono);
    double real_ms = ToMs(real);
    for (int i = 0; i < n && go_on; i++) {
      int vrid = VridOf(i);
      if (vrid >= 0) read_count_[vrid]++;
      if (!AddToBatch(i, mono_ms, real_ms)) {
        // The shared payload space is full, or an address text the batch uses would be replaced:
        // hand this part over, then go on with an empty batch (where any datagram fits).
        go_on = Deliver(sync);
        if (go_on) AddToBatch(i, mono_ms, real_ms);
      }
    }
    total += n;
    datagrams_read_ += static_cast<uint64_t>(n);
    if (n < kDatagramsPerRead) break;  // the queue is empty: no call that would end in EAGAIN
  }
  if (go_on && batch_count_ > 0) go_on = Deliver(sync);
  reading_ = false;
  if (go_on && err != 0 && fd_ >= 0) {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    Napi::Error error = MakeOsError(env, err, "recvmmsg", ifname_, ErrnoKind::kPlain);
    if (sync) {
      on_error_.Call(Value(), {error.Value()});
      return;
    }
    on_error_.MakeCallback(Value(), {error.Value()}, *async_context_);
    ReportPendingException(env);
  }
}

bool VrrpSocket::Deliver(bool sync) {
  if (batch_count_ == 0) return fd_ >= 0;
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  Napi::Number count = Napi::Number::New(env, batch_count_);
  batch_count_ = 0;
  batch_bytes_ = 0;
  slots_in_batch_ = 0;
  if (sync) {
    // Inside a JavaScript call (drain): an exception propagates to drain()'s caller.
    on_datagram_.Call(Value(), {count});
    if (env.IsExceptionPending()) return false;
  } else {
    on_datagram_.MakeCallback(Value(), {count}, *async_context_);
    ReportPendingException(env);
  }
  return fd_ >= 0;
}

int VrrpSocket::FindAddress(const unsigned char* bytes, size_t length) const {
  for (size_t i = 0; i < kAddressCacheSize; i++) {
    const CachedAddress& c = address_cache_[i];
    if (c.length == length && std::memcmp(c.bytes, bytes, length) == 0) return static_cast<int>(i);
  }
  return -1;
}

int VrrpSocket::AddressSlot(Napi::Env env, const unsigned char* bytes, size_t length) {
  if (length == 0) return -1;
  int found = FindAddress(bytes, length);
  if (found >= 0) return found;
  char text[INET6_ADDRSTRLEN] = "";
  inet_ntop(length == 4 ? AF_INET : AF_INET6, bytes, text, sizeof(text));
  Napi::HandleScope scope(env);
  size_t i = address_cache_next_;
  address_cache_next_ = (address_cache_next_ + 1) % kAddressCacheSize;
  std::memcpy(address_cache_[i].bytes, bytes, length);
  address_cache_[i].length = static_cast<unsigned char>(length);
  address_texts_.Value().Set(static_cast<uint32_t>(i), Napi::String::New(env, text));
  return static_cast<int>(i);
}

int VrrpSocket::ReceiveMany(int* err) {
  for (int i = 0; i < kDatagramsPerRead; i++) {
    msghdr& msg = messages_[i].msg_hdr;
    msg = msghdr{};
    msg.msg_name = &sources_[i];
    msg.msg_namelen = sizeof(sources_[i]);
    msg.msg_iov = &iovecs_[i];
    msg.msg_iovlen = 1;
    msg.msg_control = controls_[i];
    msg.msg_controllen = kControlBytes;
    messages_[i].msg_len = 0;
  }
  int n;
  do {
    n = recvmmsg(fd_, messages_, kDatagramsPerRead, MSG_DONTWAIT, nullptr);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      *err = errno;
      return -1;
    }
    return 0;
  }
  return n;
}

bool VrrpSocket::AddToBatch(int slot, double read_mono_ms, double read_real_ms) {
  msghdr& msg = messages_[slot].msg_hdr;
  const unsigned char* data = static_cast<const unsigned char*>(iovecs_[slot].iov_base);
  size_t length = messages_[slot].msg_len;
  // When the datagram reached this host: the protocol's timers start there, not when JavaScript
  // got round to it. The kernel's stamp is on CLOCK_REALTIME; its age on that clock is taken off
  // CLOCK_MONOTONIC at the read.
  double received_ms = read_mono_ms;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS) continue;
    timespec stamp{};
    std::memcpy(&stamp, CMSG_DATA(c), sizeof(stamp));
    double age_ms = read_real_ms - ToMs(stamp);
    if (age_ms >= 0 && age_ms < 1000) received_ms -= age_ms;
  }

  // Raw bytes of source and destination (4 or 16; 0 when unknown), formatted from the cache.
  const unsigned char* src = nullptr;
  const unsigned char* dst = nullptr;
  size_t src_len = 0;
  size_t dst_len = 0;
  int ttl = -1;
  unsigned arrival = 0;
  const unsigned char* payload = data;
  in6_pktinfo pi6{};

  if (family_ == AF_INET) {
    // The kernel hands raw IPv4 sockets the whole datagram; the VRRP message follows the header.
    if (length < 20) return true;  // cannot happen for a datagram the kernel accepted
    size_t header = static_cast<size_t>(data[0] & 0x0f) * 4;
    if (header < 20 || header > length) return true;
    ttl = data[8];
    src = data + 12;
    dst = data + 16;
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
    const sockaddr_in6* sin6 = reinterpret_cast<const sockaddr_in6*>(&sources_[slot]);
    src = reinterpret_cast<const unsigned char*>(&sin6->sin6_addr);
    src_len = 16;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != IPPROTO_IPV6) continue;
      if (c->cmsg_type == IPV6_PKTINFO) {
        std::memcpy(&pi6, CMSG_DATA(c), sizeof(pi6));
        arrival = pi6.ipi6_ifindex;
        dst = reinterpret_cast<const unsigned char*>(&pi6.ipi6_addr);
        dst_len = 16;
      } else if (c->cmsg_type == IPV6_HOPLIMIT) {
        int hops;
        std::memcpy(&hops, CMSG_DATA(c), sizeof(hops));
        ttl = hops;
      }
    }
  }

  if (TryAbsorb(payload, length, src, src_len, dst, dst_len, ttl, arrival, received_ms)) return true;
  if (batch_bytes_ + length > kPayloadBytes) return false;
  // The texts a miss would replace (slots taken in turn) must not be ones this batch refers to.
  size_t misses = 0;
  if (src_len > 0 && FindAddress(src, src_len) < 0) misses++;
  if (dst_len > 0 && FindAddress(dst, dst_len) < 0 && !(dst_len == src_len && std::memcmp(src, dst, dst_len) == 0))
    misses++;
  for (size_t k = 0; k < misses; k++) {
    if (slots_in_batch_ & (1u << ((address_cache_next_ + k) % kAddressCacheSize))) return false;
  }
  Napi::Env env = Env();
  int32_t* meta = meta_data_ + batch_count_ * kMetaInts;
  meta[0] = static_cast<int32_t>(batch_bytes_);
  meta[1] = static_cast<int32_t>(length);
  meta[2] = ttl;
  meta[3] = static_cast<int32_t>(arrival);
  meta[4] = AddressSlot(env, src, src_len);
  meta[5] = AddressSlot(env, dst, dst_len);
  for (int slot : {meta[4], meta[5]}) {
    if (slot >= 0) slots_in_batch_ |= 1u << slot;
  }
  received_data_[batch_count_] = received_ms;
  std::memcpy(payload_data_ + batch_bytes_, payload, length);
  batch_bytes_ += length;
  batch_count_++;
  return true;
}

bool VrrpSocket::TryAbsorb(const unsigned char* payload, size_t length, const unsigned char* src, size_t src_len,
                           const unsigned char* dst, size_t dst_len, int ttl, unsigned arrival,
                           double received_ms) {
  if (length < 2) return false;
  int vrid = payload[1];
  AbsorbEntry* a = absorb_[vrid].get();
  if (a == nullptr || !a->armed) return false;
  if (a->length == length && a->ttl == ttl && a->ifindex == arrival && a->src_len == src_len &&
      a->dst_len == dst_len && std::memcmp(a->src, src, src_len) == 0 && std::memcmp(a->dst, dst, dst_len) == 0 &&
      std::memcmp(a->payload, payload, length) == 0) {
    absorbed_data_[vrid] += 1;
    if (received_ms > absorbed_data_[kVrids + vrid]) absorbed_data_[kVrids + vrid] = received_ms;
    // It had been queued before the kernel was armed: now that it is read, the kernel may go on.
    if (kernel_) kernel_->Reread(vrid, read_count_[vrid]);
    return true;
  }
  // Something else for this VRID (another sender, a new priority, a bad copy): it and everything
  // after it reach JavaScript, in arrival order, until the engine arms again.
  a->armed = false;
  if (kernel_) kernel_->Disarm(vrid);
  return false;
}

int VrrpSocket::VridOf(int slot) const {
  const unsigned char* data = static_cast<const unsigned char*>(iovecs_[slot].iov_base);
  size_t length = messages_[slot].msg_len;
  size_t header = 0;
  if (family_ == AF_INET) {
    if (length < 20) return -1;
    header = static_cast<size_t>(data[0] & 0x0f) * 4;
  }
  if (header + 2 > length) return -1;
  return data[header + 1];
}

void VrrpSocket::SyncKernelAbsorbed() {
  if (!kernel_) return;
  for (int vrid = 0; vrid < kVrids; vrid++) {
    uint64_t count = kernel_->Count(vrid);  // before the time: the time is at least that count's
    if (count == kernel_seen_[vrid]) continue;
    absorbed_data_[vrid] += static_cast<double>(count - kernel_seen_[vrid]);
    kernel_seen_[vrid] = count;
    double at_ms = static_cast<double>(kernel_->LastNs(vrid)) / 1e6;
    if (at_ms > absorbed_data_[kVrids + vrid]) absorbed_data_[kVrids + vrid] = at_ms;
  }
}

// Parses an address text of the socket's family into `out` (16 bytes); "" is an unknown address
// (length 0). -1: not an address of that family.
static int ParseAddress(int family, const std::string& text, unsigned char* out) {
  if (text.empty()) return 0;
  if (family == AF_INET) return inet_pton(AF_INET, text.c_str(), out) == 1 ? 4 : -1;
  return inet_pton(AF_INET6, text.c_str(), out) == 1 ? 16 : -1;
}

Napi::Value VrrpSocket::Absorb(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 6 || !info[0].IsNumber() || !info[1].IsTypedArray() || !info[2].IsString() ||
      !info[3].IsString() || !info[4].IsNumber() || !info[5].IsNumber()) {
    MakeArgError(env, "absorb(vrid, payload: Uint8Array, src, dst, ttl, ifindex): bad arguments")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int vrid = info[0].As<Napi::Number>().Int32Value();
  Napi::Uint8Array payload = info[1].As<Napi::Uint8Array>();
  if (vrid < 0 || vrid >= kVrids || payload.ByteLength() < 2 || payload.Data()[1] != vrid) {
    MakeArgError(env, "absorb: the VRID must be the payload's second byte, 0..255").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  unsigned char src[16] = {};
  unsigned char dst[16] = {};
  int src_len = ParseAddress(family_, info[2].As<Napi::String>().Utf8Value(), src);
  int dst_len = ParseAddress(family_, info[3].As<Napi::String>().Utf8Value(), dst);
  if (src_len < 0 || dst_len < 0) {
    MakeArgError(env, "absorb: source and destination must be addresses of the socket's family (or \"\")")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::unique_ptr<AbsorbEntry>& slot = absorb_[vrid];
  if (payload.ByteLength() > kAbsorbMaxPayload) {
    if (slot) slot->armed = false;
    if (kernel_) kernel_->Disarm(vrid);
    return Napi::Boolean::New(env, false);
  }
  if (!slot) slot = std::make_unique<AbsorbEntry>();
  AbsorbEntry& a = *slot;
  std::memcpy(a.src, src, sizeof(src));
  std::memcpy(a.dst, dst, sizeof(dst));
  a.src_len = static_cast<size_t>(src_len);
  a.dst_len = static_cast<size_t>(dst_len);
  a.ttl = info[4].As<Napi::Number>().Int32Value();
  a.ifindex = info[5].As<Napi::Number>().Uint32Value();
  a.length = payload.ByteLength();
  std::memcpy(a.payload, payload.Data(), a.length);
  a.armed = true;
  // The kernel too, when it can match this one; it starts once nothing for the VRID is queued.
  if (kernel_ && !kernel_->Arm(vrid, a.payload, a.length, a.src, a.src_len, a.dst, a.dst_len, a.ttl, a.ifindex,
                               read_count_[vrid]))
    kernel_->Disarm(vrid);
  return Napi::Boolean::New(env, true);
}

Napi::Value VrrpSocket::Release(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    MakeArgError(env, "release(vrid): bad arguments").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int vrid = info[0].As<Napi::Number>().Int32Value();
  if (vrid >= 0 && vrid < kVrids && absorb_[vrid]) absorb_[vrid]->armed = false;
  if (vrid >= 0 && vrid < kVrids && kernel_) kernel_->Disarm(vrid);
  return env.Undefined();
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
  kernel_.reset();
}

}  // namespace

void InitVrrpSocket(Napi::Env env, Napi::Object exports) {
  exports.Set("VrrpSocket", VrrpSocket::Define(env));
}

}  // namespace vipd
