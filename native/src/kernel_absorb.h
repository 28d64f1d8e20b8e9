// Absorbing repeats in the kernel: an eBPF socket filter on a VRRP socket that counts and drops
// the datagrams the socket's absorb() would count in the addon, so they never wake the process.
//
// Per VRID, an entry in an array map that both sides map into memory (BPF_F_MMAPABLE): the
// armed datagram (payload up to 128 bytes, source, destination, TTL / hop limit, ifindex) written
// here, and the count and latest CLOCK_MONOTONIC time of the repeats the filter dropped, written
// by the kernel. The filter sees datagrams when they are queued, the addon when it reads them, so
// a datagram for a VRID may still be waiting in the queue when the VRID is armed; one absorbed
// behind it would be counted ahead of it. The filter therefore also counts, per VRID, the
// datagrams it let through (`passed`), and absorbs only while that equals the number the addon
// had read when it armed (`read_at_arm`): nothing for that VRID is waiting. Datagrams that reach
// the socket before the filter (see Attach) would break that count, so none do.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace vipd {

class KernelAbsorb {
 public:
  static constexpr size_t kMaxPayload = 128;

  // Creates the map and loads the filter for a socket of `family` (AF_INET / AF_INET6). nullptr
  // with the reason in *why when the kernel refuses (no CAP_BPF, no eBPF, a verifier error).
  static std::unique_ptr<KernelAbsorb> Create(int family, std::string* why);
  ~KernelAbsorb();
  KernelAbsorb(const KernelAbsorb&) = delete;
  KernelAbsorb& operator=(const KernelAbsorb&) = delete;

  // Puts the filter on a socket whose queue may hold datagrams: a drop-all filter first, then
  // the queue emptied, then this filter in its place, so every datagram the socket hands over
  // from now on went through it. On failure the socket is left with no filter.
  bool Attach(int fd, std::string* why);

  // Arms a VRID: the repeats of this datagram are dropped and counted from now on, once every
  // datagram for the VRID that the filter let through has been read (`read` of them so far).
  // false (and nothing armed) when the datagram cannot be matched in the kernel.
  bool Arm(int vrid, const unsigned char* payload, size_t length, const unsigned char* src, size_t src_len,
           const unsigned char* dst, size_t dst_len, int ttl, unsigned ifindex, uint32_t read);
  // The addon read and absorbed one more datagram for an armed VRID: the filter may go on.
  void Reread(int vrid, uint32_t read);
  void Disarm(int vrid);
  // The repeats dropped so far for a VRID (never reset) and the latest one's CLOCK_MONOTONIC ns.
  uint64_t Count(int vrid) const;
  uint64_t LastNs(int vrid) const;

  struct Entry;  // the map's value (kernel_absorb.cc)

 private:
  KernelAbsorb() = default;
  Entry* At(int vrid) const;

  int family_ = 0;
  int map_fd_ = -1;
  int prog_fd_ = -1;
  void* map_ = nullptr;
  size_t map_bytes_ = 0;
};

}  // namespace vipd
