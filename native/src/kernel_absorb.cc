// See kernel_absorb.h. The filter is a short eBPF program assembled here (no compiler or loader
// library is needed at build or run time); its steps are written out beside the code below.
#include "kernel_absorb.h"

#include <linux/bpf.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace vipd {

// One map entry per VRID, shared by the filter and the addon. Offsets are the program's.
struct KernelAbsorb::Entry {
  uint32_t gen;          // 0: odd while the addon rewrites the entry
  uint32_t armed;        // 4
  uint32_t read_at_arm;  // 8: datagrams for the VRID the addon had read (see Arm)
  uint32_t passed;       // 12: datagrams for the VRID the filter let through (kernel)
  uint32_t ifindex;      // 16
  uint32_t ttl;          // 20
  uint32_t length;       // 24: payload bytes
  uint32_t pad;          // 28
  uint64_t count;        // 32: repeats dropped (kernel)
  uint64_t last_ns;      // 40: the latest one's CLOCK_MONOTONIC ns (kernel)
  unsigned char src[16];                // 48
  unsigned char dst[16];                // 64
  unsigned char payload[kMaxPayload];   // 80, zero-padded
};
static_assert(sizeof(KernelAbsorb::Entry) == 80 + KernelAbsorb::kMaxPayload, "entry layout");

namespace {

constexpr int kVrids = 256;
constexpr int kEntryBytes = static_cast<int>(80 + KernelAbsorb::kMaxPayload);
constexpr int kOffGen = 0, kOffArmed = 4, kOffReadAtArm = 8, kOffPassed = 12, kOffIfindex = 16, kOffTtl = 20,
              kOffLength = 24, kOffCount = 32, kOffLastNs = 40, kOffSrc = 48, kOffDst = 64, kOffPayload = 80;
// The program's stack (offsets from the frame pointer r10).
constexpr int kStackGen = -4;     // u32: the entry's gen when first read
constexpr int kStackKey = -8;     // u32: the VRID, the map key
constexpr int kStackHeader = -48; // the IP header: 20 bytes (IPv4) or 40 (IPv6)
constexpr int kStackPayload = -48 - static_cast<int>(KernelAbsorb::kMaxPayload);  // zero-padded payload

long Bpf(int cmd, bpf_attr* attr) { return syscall(__NR_bpf, cmd, attr, sizeof(*attr)); }

// A small assembler: instructions, and jumps to labels resolved at the end.
class Program {
 public:
  int NewLabel() {
    labels_.push_back(-1);
    return static_cast<int>(labels_.size()) - 1;
  }
  void Bind(int label) { labels_[label] = static_cast<int>(code_.size()); }
  void Emit(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
    bpf_insn insn{};
    insn.code = code;
    insn.dst_reg = dst & 0x0f;
    insn.src_reg = src & 0x0f;
    insn.off = off;
    insn.imm = imm;
    code_.push_back(insn);
  }
  void MovReg(uint8_t dst, uint8_t src) { Emit(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0); }
  void MovImm(uint8_t dst, int32_t imm) { Emit(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm); }
  void AluImm(uint8_t op, uint8_t dst, int32_t imm) { Emit(BPF_ALU64 | op | BPF_K, dst, 0, 0, imm); }
  void AluReg(uint8_t op, uint8_t dst, uint8_t src) { Emit(BPF_ALU64 | op | BPF_X, dst, src, 0, 0); }
  void Load(uint8_t size, uint8_t dst, uint8_t src, int16_t off) { Emit(BPF_LDX | BPF_MEM | size, dst, src, off, 0); }
  void Store(uint8_t size, uint8_t dst, int16_t off, uint8_t src) { Emit(BPF_STX | BPF_MEM | size, dst, src, off, 0); }
  void StoreImm(uint8_t size, uint8_t dst, int16_t off, int32_t imm) { Emit(BPF_ST | BPF_MEM | size, dst, 0, off, imm); }
  void AtomicAdd(uint8_t size, uint8_t dst, int16_t off, uint8_t src) {
    Emit(BPF_STX | BPF_ATOMIC | size, dst, src, off, BPF_ADD);
  }
  void JumpImm(uint8_t op, uint8_t dst, int32_t imm, int label) { Jump(BPF_JMP | op | BPF_K, dst, 0, imm, label); }
  void JumpReg(uint8_t op, uint8_t dst, uint8_t src, int label) { Jump(BPF_JMP | op | BPF_X, dst, src, 0, label); }
  void Call(int32_t helper) { Emit(BPF_JMP | BPF_CALL, 0, 0, 0, helper); }
  void Exit() { Emit(BPF_JMP | BPF_EXIT, 0, 0, 0, 0); }
  void LoadMapFd(uint8_t dst, int fd) {
    Emit(BPF_LD | BPF_DW | BPF_IMM, dst, BPF_PSEUDO_MAP_FD, 0, fd);
    Emit(0, 0, 0, 0, 0);
  }
  std::vector<bpf_insn>& Finish() {
    for (const auto& [at, label] : jumps_) code_[at].off = static_cast<int16_t>(labels_[label] - (at + 1));
    return code_;
  }

 private:
  void Jump(uint8_t code, uint8_t dst, uint8_t src, int32_t imm, int label) {
    jumps_.emplace_back(code_.size(), label);
    Emit(code, dst, src, 0, imm);
  }
  std::vector<bpf_insn> code_;
  std::vector<int> labels_;
  std::vector<std::pair<size_t, int>> jumps_;
};

// The filter. r6: the skb, r7: the VRRP message's offset from skb->data, r8: its length,
// r9: the VRID's entry. Datagrams it lets through keep their full length.
std::vector<bpf_insn> Assemble(int family, int map_fd) {
  const bool v4 = family == AF_INET;
  const int header_bytes = v4 ? 20 : 40;
  const int ttl_at = v4 ? 8 : 7;
  const int src_at = v4 ? 12 : 8;
  const int dst_at = v4 ? 16 : 24;
  Program p;
  const int pass = p.NewLabel();      // let it through, not counted (no VRID)
  const int count = p.NewLabel();     // let it through, counted for its VRID
  const int mismatch = p.NewLabel();  // not the armed datagram: disarm, then as count

  p.MovReg(BPF_REG_6, BPF_REG_1);
  p.StoreImm(BPF_W, BPF_REG_10, kStackKey, 0);
  // The IP header, from the network header (IPv4 raw sockets see the datagram from there, IPv6
  // ones from the VRRP message).
  p.MovReg(BPF_REG_1, BPF_REG_6);
  p.MovImm(BPF_REG_2, 0);
  p.MovReg(BPF_REG_3, BPF_REG_10);
  p.AluImm(BPF_ADD, BPF_REG_3, kStackHeader);
  p.MovImm(BPF_REG_4, header_bytes);
  p.MovImm(BPF_REG_5, BPF_HDR_START_NET);
  p.Call(BPF_FUNC_skb_load_bytes_relative);
  p.JumpImm(BPF_JNE, BPF_REG_0, 0, pass);
  // Where the VRRP message starts and how long it is: as the addon finds them.
  if (v4) {
    p.Load(BPF_B, BPF_REG_7, BPF_REG_10, kStackHeader);
    p.AluImm(BPF_AND, BPF_REG_7, 0x0f);
    p.AluImm(BPF_LSH, BPF_REG_7, 2);
  } else {
    p.MovImm(BPF_REG_7, 0);
  }
  p.Load(BPF_W, BPF_REG_8, BPF_REG_6, offsetof(__sk_buff, len));
  p.AluReg(BPF_SUB, BPF_REG_8, BPF_REG_7);
  p.JumpImm(BPF_JLT, BPF_REG_8, 2, pass);  // no VRID: the addon does not count it either
  // The VRID (the message's second byte) is the key.
  p.MovReg(BPF_REG_1, BPF_REG_6);
  p.MovReg(BPF_REG_2, BPF_REG_7);
  p.AluImm(BPF_ADD, BPF_REG_2, 1);
  p.MovReg(BPF_REG_3, BPF_REG_10);
  p.AluImm(BPF_ADD, BPF_REG_3, kStackKey);
  p.MovImm(BPF_REG_4, 1);
  p.Call(BPF_FUNC_skb_load_bytes);
  p.JumpImm(BPF_JNE, BPF_REG_0, 0, pass);
  p.LoadMapFd(BPF_REG_1, map_fd);
  p.MovReg(BPF_REG_2, BPF_REG_10);
  p.AluImm(BPF_ADD, BPF_REG_2, kStackKey);
  p.Call(BPF_FUNC_map_lookup_elem);
  p.JumpImm(BPF_JEQ, BPF_REG_0, 0, pass);
  p.MovReg(BPF_REG_9, BPF_REG_0);
  // Armed, not being rewritten, and nothing for this VRID waiting in the queue.
  p.Load(BPF_W, BPF_REG_1, BPF_REG_9, kOffGen);
  p.Store(BPF_W, BPF_REG_10, kStackGen, BPF_REG_1);
  p.JumpImm(BPF_JSET, BPF_REG_1, 1, count);
  p.Load(BPF_W, BPF_REG_1, BPF_REG_9, kOffArmed);
  p.JumpImm(BPF_JEQ, BPF_REG_1, 0, count);
  p.Load(BPF_W, BPF_REG_1, BPF_REG_9, kOffReadAtArm);
  p.Load(BPF_W, BPF_REG_2, BPF_REG_9, kOffPassed);
  p.JumpReg(BPF_JNE, BPF_REG_1, BPF_REG_2, count);
  // The same length, interface, TTL / hop limit, source and destination.
  p.Load(BPF_W, BPF_REG_1, BPF_REG_9, kOffLength);
  p.JumpReg(BPF_JNE, BPF_REG_1, BPF_REG_8, mismatch);
  p.JumpImm(BPF_JGT, BPF_REG_8, static_cast<int32_t>(KernelAbsorb::kMaxPayload), mismatch);
  p.Load(BPF_W, BPF_REG_1, BPF_REG_6, offsetof(__sk_buff, ifindex));
  p.Load(BPF_W, BPF_REG_2, BPF_REG_9, kOffIfindex);
  p.JumpReg(BPF_JNE, BPF_REG_1, BPF_REG_2, mismatch);
  p.Load(BPF_B, BPF_REG_1, BPF_REG_10, static_cast<int16_t>(kStackHeader + ttl_at));
  p.Load(BPF_W, BPF_REG_2, BPF_REG_9, kOffTtl);
  p.JumpReg(BPF_JNE, BPF_REG_1, BPF_REG_2, mismatch);
  const uint8_t word = v4 ? BPF_W : BPF_DW;
  const int word_bytes = v4 ? 4 : 8;
  const int words = v4 ? 1 : 2;
  for (int at : {src_at, dst_at}) {
    const int entry_at = at == src_at ? kOffSrc : kOffDst;
    for (int i = 0; i < words; i++) {
      p.Load(word, BPF_REG_1, BPF_REG_10, static_cast<int16_t>(kStackHeader + at + i * word_bytes));
      p.Load(word, BPF_REG_2, BPF_REG_9, static_cast<int16_t>(entry_at + i * word_bytes));
      p.JumpReg(BPF_JNE, BPF_REG_1, BPF_REG_2, mismatch);
    }
  }
  // The payload, zero-padded to kMaxPayload as the entry holds it, compared 8 bytes at a time.
  for (int i = 0; i < static_cast<int>(KernelAbsorb::kMaxPayload); i += 8)
    p.StoreImm(BPF_DW, BPF_REG_10, static_cast<int16_t>(kStackPayload + i), 0);
  p.MovReg(BPF_REG_1, BPF_REG_6);
  p.MovReg(BPF_REG_2, BPF_REG_7);
  p.MovReg(BPF_REG_3, BPF_REG_10);
  p.AluImm(BPF_ADD, BPF_REG_3, kStackPayload);
  p.MovReg(BPF_REG_4, BPF_REG_8);
  p.Call(BPF_FUNC_skb_load_bytes);
  p.JumpImm(BPF_JNE, BPF_REG_0, 0, mismatch);
  for (int i = 0; i < static_cast<int>(KernelAbsorb::kMaxPayload); i += 8) {
    p.Load(BPF_DW, BPF_REG_1, BPF_REG_10, static_cast<int16_t>(kStackPayload + i));
    p.Load(BPF_DW, BPF_REG_2, BPF_REG_9, static_cast<int16_t>(kOffPayload + i));
    p.JumpReg(BPF_JNE, BPF_REG_1, BPF_REG_2, mismatch);
  }
  // A repeat, unless the addon rewrote the entry meanwhile: count it, stamp it, drop it.
  p.Load(BPF_W, BPF_REG_1, BPF_REG_9, kOffGen);
  p.Load(BPF_W, BPF_REG_2, BPF_REG_10, kStackGen);
  p.JumpReg(BPF_JNE, BPF_REG_1, BPF_REG_2, count);
  p.Call(BPF_FUNC_ktime_get_ns);
  p.Store(BPF_DW, BPF_REG_9, kOffLastNs, BPF_REG_0);
  p.MovImm(BPF_REG_1, 1);
  p.AtomicAdd(BPF_DW, BPF_REG_9, kOffCount, BPF_REG_1);
  p.MovImm(BPF_REG_0, 0);
  p.Exit();
  // Something else for this VRID: it and everything after it go to the addon (unless the entry
  // was rewritten meanwhile: then it is the new arming's to judge, and the count stops it).
  p.Bind(mismatch);
  p.Load(BPF_W, BPF_REG_1, BPF_REG_9, kOffGen);
  p.Load(BPF_W, BPF_REG_2, BPF_REG_10, kStackGen);
  p.JumpReg(BPF_JNE, BPF_REG_1, BPF_REG_2, count);
  p.StoreImm(BPF_W, BPF_REG_9, kOffArmed, 0);
  p.Bind(count);
  p.MovImm(BPF_REG_1, 1);
  p.AtomicAdd(BPF_W, BPF_REG_9, kOffPassed, BPF_REG_1);
  p.Bind(pass);
  p.Emit(BPF_ALU | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, -1);  // keep all of it
  p.Exit();
  return p.Finish();
}

template <typename T>
T LoadAcquire(const T* at) {
  return __atomic_load_n(at, __ATOMIC_ACQUIRE);
}
template <typename T>
void StoreRelease(T* at, T value) {
  __atomic_store_n(at, value, __ATOMIC_RELEASE);
}

}  // namespace

std::unique_ptr<KernelAbsorb> KernelAbsorb::Create(int family, std::string* why) {
  std::unique_ptr<KernelAbsorb> k(new KernelAbsorb());
  k->family_ = family;
  bpf_attr attr{};
  attr.map_type = BPF_MAP_TYPE_ARRAY;
  attr.key_size = sizeof(uint32_t);
  attr.value_size = kEntryBytes;
  attr.max_entries = kVrids;
  attr.map_flags = BPF_F_MMAPABLE;
  k->map_fd_ = static_cast<int>(Bpf(BPF_MAP_CREATE, &attr));
  if (k->map_fd_ < 0) {
    *why = std::string("bpf(BPF_MAP_CREATE): ") + std::strerror(errno);
    return nullptr;
  }
  long page = sysconf(_SC_PAGESIZE);
  k->map_bytes_ = (static_cast<size_t>(kEntryBytes) * kVrids + page - 1) / page * page;
  k->map_ = mmap(nullptr, k->map_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, k->map_fd_, 0);
  if (k->map_ == MAP_FAILED) {
    k->map_ = nullptr;
    *why = std::string("mmap of the eBPF map: ") + std::strerror(errno);
    return nullptr;
  }
  std::vector<bpf_insn> insns = Assemble(family, k->map_fd_);
  static char log[16384];
  log[0] = '\0';
  // vipd's own licence: the filter calls no GPL-only helper.
  static const char kLicense[] = "MIT";
  attr = bpf_attr{};
  attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
  attr.insn_cnt = static_cast<uint32_t>(insns.size());
  attr.insns = reinterpret_cast<uint64_t>(insns.data());
  attr.license = reinterpret_cast<uint64_t>(kLicense);
  attr.log_level = 1;
  attr.log_size = sizeof(log);
  attr.log_buf = reinterpret_cast<uint64_t>(log);
  k->prog_fd_ = static_cast<int>(Bpf(BPF_PROG_LOAD, &attr));
  if (k->prog_fd_ < 0) {
    int err = errno;
    *why = std::string("bpf(BPF_PROG_LOAD): ") + std::strerror(err);
    // A verifier error is ours: its last lines say what it refused.
    if (err == EACCES || err == EINVAL) {
      std::string text(log);
      if (text.size() > 600) text = "..." + text.substr(text.size() - 600);
      if (!text.empty()) *why += ": " + text;
    }
    return nullptr;
  }
  return k;
}

KernelAbsorb::~KernelAbsorb() {
  if (map_ != nullptr) munmap(map_, map_bytes_);
  if (prog_fd_ >= 0) close(prog_fd_);
  if (map_fd_ >= 0) close(map_fd_);
}

bool KernelAbsorb::Attach(int fd, std::string* why) {
  sock_filter drop_all{BPF_RET | BPF_K, 0, 0, 0};
  sock_fprog drop{1, &drop_all};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &drop, sizeof(drop)) != 0) {
    *why = std::string("setsockopt(SO_ATTACH_FILTER): ") + std::strerror(errno);
    return false;
  }
  // What came before the socket was set up is dropped too (nobody has seen this socket yet).
  unsigned char byte;
  for (int i = 0; i < 100000; i++) {
    if (recv(fd, &byte, 1, MSG_DONTWAIT | MSG_TRUNC) < 0 && errno != EINTR) break;
  }
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_BPF, &prog_fd_, sizeof(prog_fd_)) != 0) {
    *why = std::string("setsockopt(SO_ATTACH_BPF): ") + std::strerror(errno);
    int unused = 0;
    setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &unused, sizeof(unused));
    return false;
  }
  return true;
}

KernelAbsorb::Entry* KernelAbsorb::At(int vrid) const {
  return reinterpret_cast<Entry*>(static_cast<unsigned char*>(map_) + static_cast<size_t>(vrid) * kEntryBytes);
}

bool KernelAbsorb::Arm(int vrid, const unsigned char* payload, size_t length, const unsigned char* src,
                       size_t src_len, const unsigned char* dst, size_t dst_len, int ttl, unsigned ifindex,
                       uint32_t read) {
  const size_t address = family_ == AF_INET ? 4 : 16;
  Entry* e = At(vrid);
  uint32_t gen = LoadAcquire(&e->gen);
  StoreRelease(&e->gen, gen + 1);  // odd: the filter leaves the entry alone
  StoreRelease(&e->armed, 0u);
  if (length < 2 || length > kMaxPayload || src_len != address || dst_len != address || ttl < 0 || ttl > 255 ||
      ifindex == 0) {
    StoreRelease(&e->gen, gen + 2);
    return false;
  }
  std::memset(e->payload, 0, sizeof(e->payload));
  std::memcpy(e->payload, payload, length);
  std::memset(e->src, 0, sizeof(e->src));
  std::memset(e->dst, 0, sizeof(e->dst));
  std::memcpy(e->src, src, src_len);
  std::memcpy(e->dst, dst, dst_len);
  e->length = static_cast<uint32_t>(length);
  e->ttl = static_cast<uint32_t>(ttl);
  e->ifindex = ifindex;
  StoreRelease(&e->read_at_arm, read);
  StoreRelease(&e->armed, 1u);
  StoreRelease(&e->gen, gen + 2);
  return true;
}

void KernelAbsorb::Reread(int vrid, uint32_t read) { StoreRelease(&At(vrid)->read_at_arm, read); }

void KernelAbsorb::Disarm(int vrid) {
  Entry* e = At(vrid);
  StoreRelease(&e->armed, 0u);
  // A filter run that read the entry before this sees a new gen and does not absorb (only a run
  // already past its last look at gen still counts one, in the instant of this call).
  StoreRelease(&e->gen, LoadAcquire(&e->gen) + 2);
}

uint64_t KernelAbsorb::Count(int vrid) const { return LoadAcquire(&At(vrid)->count); }

uint64_t KernelAbsorb::LastNs(int vrid) const { return LoadAcquire(&At(vrid)->last_ns); }

}  // namespace vipd
