// A packet capture of our own on a Linux AF_PACKET socket with a TPACKET_V3 receive ring.
//
// Why not libpcap's live capture (through the `cap` binding): in immediate mode libpcap uses a
// TPACKET_V2 ring whose every slot holds one frame of the largest size the device can deliver,
// and with any receive or segmentation offload on (GRO on a NIC, TSO on a veth) that is 64 KiB:
// a 32 MiB ring then holds ~500 frames and overflows under ordinary bursts (measured in the lab:
// 1,085 of 4,000 requests copied with GRO on). A V3 ring packs frames of any size into blocks,
// so the same memory holds what arrived, byte for byte. The socket is SOCK_DGRAM: the kernel
// strips the link header (and any VLAN tag), so every device type gives plain IPv4 packets.
//
// JavaScript sees the whole ring as one external Buffer and, per retired block, one call with
// a table of descriptors (offset, captured length, wire length, flags) into it: no copy and no
// allocation per packet. A block goes back to the kernel when the call returns, so a handler
// must copy what it keeps (as with any capture buffer).
//
// With `spillBytes`, a thread of the addon copies each retired block out of the ring into a
// spill area as soon as the kernel retires it, and returns the block at once; JavaScript reads
// the copies. The kernel ring then only has to hold what arrives while that thread copies (a few
// milliseconds at most), not what arrives while JavaScript is busy (tcpcopy's sends: tens of
// milliseconds under a burst of uploads), so it can be small. The spill area is reserved address
// space: a slot's pages are resident only once a block was copied there, slots are reused lowest
// first, and the pages of slots beyond the first few are given back whenever JavaScript has read
// everything. Memory then follows the backlog instead of being held at its peak forever. The
// descriptors point into the spill area, which JavaScript sees as the Buffer.
//
// libpcap is still used, only to compile the filter (pcap_compile for raw IPv4), which the
// kernel then runs on the socket (SO_ATTACH_FILTER).
#include <algorithm>
#include <atomic>
#include <deque>
#include <functional>
#include <mutex>
#include <napi.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <queue>
#include <string>
#include <thread>
#include <vector>

#include "link_socket.h"

namespace {

// Descriptor layout, shared with index.d.ts: four int32 per packet.
constexpr int kFieldOffset = 0;    // byte offset of the IPv4 header in the ring buffer
constexpr int kFieldCaptured = 1;  // bytes captured
constexpr int kFieldLength = 2;    // bytes on the wire (captured may be less under a snaplen)
constexpr int kFieldFlags = 3;     // kFlag* below
constexpr int kFields = 4;

// Flags reported per packet.
constexpr int kFlagChecksumPartial = 1;  // TP_STATUS_CSUMNOTREADY: checksum left to "hardware"
constexpr int kFlagChecksumVerified = 2; // TP_STATUS_CSUM_VALID: the device or stack verified it
constexpr int kFlagOutgoing = 4;         // sent by this host (only with direction "both")

// The smallest a packet takes in a block: header, sockaddr_ll, an IPv4 header, alignment.
constexpr unsigned kMinSlot = 64;
// Whole packets unless asked for less: an IPv4 packet is at most 65535 bytes.
constexpr int kWholePacket = 65535;
// Blocks handed to JavaScript per wake-up: 8 (1 MiB of packets), or as many as bring the ring
// back to a quarter full when a burst has filled it further, but never more than half the ring.
// The poll is level-triggered, so what is left waits one event-loop turn, in which timers and the
// other sockets get their share: draining until the ring is empty never ends while the kernel
// refills it as fast as it is read, and a copier at overload then stops reading intercept's
// replies (and its own SIGTERM). Draining only 8 blocks let a burst of uploads overflow a ring
// that a busy event loop visited too rarely.
constexpr unsigned kBlocksPerWake = 8;
// Spill slots whose pages stay resident when the backlog is gone: 1 MiB of 128 KiB blocks.
constexpr unsigned kSpillSlotsKept = 8;
// How long the copying thread waits for JavaScript to free a slot when the spill area is full.
constexpr int kSpillFullWaitMs = 1;

Napi::Error ErrorWithCode(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  return err;
}

Napi::Error Errno(Napi::Env env, int err, const std::string& what) {
  const char* name = err == EPERM ? "EPERM" : err == ENODEV ? "ENODEV" : err == ENOMEM ? "ENOMEM" : "ESYSCALL";
  return ErrorWithCode(env, name, what + ": " + strerror(err));
}

// Compiles `filter` for raw IPv4 packets, keeping the first `snaplen` bytes of each (the filter's
// return value is what the kernel copies into the ring); false with `error` set when it does not
// compile.
bool CompileFilter(const std::string& filter, int snaplen, bpf_program* program, std::string* error) {
  pcap_t* dead = pcap_open_dead(DLT_RAW, snaplen);
  if (dead == nullptr) {
    *error = "pcap_open_dead failed";
    return false;
  }
  bool ok = pcap_compile(dead, program, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) == 0;
  if (!ok) *error = pcap_geterr(dead);
  pcap_close(dead);
  return ok;
}

// One offload feature as the legacy ethtool ioctl reads it: `mask` 0 means the whole value is
// the boolean (ETHTOOL_G*CSUM, GTSO, GGSO, GGRO); LRO exists only as a bit of ETHTOOL_GFLAGS.
struct OffloadFeature {
  const char* name;  // the key in the result, as index.d.ts declares it
  uint32_t command;
  uint32_t mask;
};

constexpr OffloadFeature kOffloadFeatures[] = {
    {"rxChecksum", ETHTOOL_GRXCSUM, 0}, {"txChecksum", ETHTOOL_GTXCSUM, 0}, {"tso", ETHTOOL_GTSO, 0},
    {"gso", ETHTOOL_GGSO, 0},           {"gro", ETHTOOL_GGRO, 0},           {"lro", ETHTOOL_GFLAGS, ETH_FLAG_LRO},
};

// offloads(device): { rxChecksum, txChecksum, tso, gso, gro, lro } as booleans, what `ethtool -k`
// shows. For --check: they decide what a capture sees (merged packets, unfinished checksums).
// The legacy ioctls rather than the ethtool netlink family: one call each, no generic-netlink
// resolution, and reading them needs no privilege. A feature the driver does not implement
// (EOPNOTSUPP) is off; any other failure throws an Error with a code (EINVAL, ENODEV, ...).
Napi::Value Offloads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    ErrorWithCode(env, "EINVAL", "offloads(device)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string device = info[0].As<Napi::String>();
  if (device.empty() || device.size() >= IFNAMSIZ) {
    ErrorWithCode(env, "EINVAL", "not a device name: \"" + device + "\"").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // Any socket carries SIOCETHTOOL; an AF_INET datagram one needs no privilege to open.
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    Errno(env, errno, "socket(AF_INET)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object result = Napi::Object::New(env);
  for (const OffloadFeature& feature : kOffloadFeatures) {
    ethtool_value value{};
    value.cmd = feature.command;
    ifreq request{};
    memcpy(request.ifr_name, device.data(), device.size());
    request.ifr_data = reinterpret_cast<char*>(&value);
    bool on = false;
    if (ioctl(fd, SIOCETHTOOL, &request) == 0) {
      on = feature.mask == 0 ? value.data != 0 : (value.data & feature.mask) != 0;
    } else if (errno != EOPNOTSUPP) {
      int err = errno;
      ::close(fd);
      Errno(env, err, "SIOCETHTOOL on " + device).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    result.Set(feature.name, Napi::Boolean::New(env, on));
  }
  ::close(fd);
  return result;
}

class PacketRing : public Napi::ObjectWrap<PacketRing> {
 public:
  static Napi::Object Init(Napi::Env env, Napi::Object exports) {
    Napi::Function ctor = DefineClass(env, "PacketRing",
                                      {InstanceMethod("open", &PacketRing::Open),
                                       InstanceMethod("close", &PacketRing::Close),
                                       InstanceMethod("drain", &PacketRing::Drain),
                                       InstanceMethod("setFilter", &PacketRing::SetFilter),
                                       InstanceMethod("setOutgoing", &PacketRing::SetOutgoing),
                                       InstanceMethod("stats", &PacketRing::Stats)});
    exports.Set("PacketRing", ctor);
    exports.Set("compileFilter", Napi::Function::New(env, &PacketRing::CheckFilter));
    exports.Set("FIELDS", Napi::Number::New(env, kFields));
    exports.Set("FLAG_CHECKSUM_PARTIAL", Napi::Number::New(env, kFlagChecksumPartial));
    exports.Set("FLAG_CHECKSUM_VERIFIED", Napi::Number::New(env, kFlagChecksumVerified));
    exports.Set("FLAG_OUTGOING", Napi::Number::New(env, kFlagOutgoing));
    return exports;
  }

  explicit PacketRing(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PacketRing>(info) {}

  ~PacketRing() override {
    // Reached once closed (an open ring holds a reference to itself), or at the process's exit
    // with the ring still open; the mapping JavaScript sees goes with its Buffer's finalizer.
    StopCopier();
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  // open(device, filter, options, onBlock): device "" or "any" for every interface; options
  // { ringBytes, blockBytes, blockTimeoutMs, direction: "in" | "both", promiscuous, snapLength,
  //   spillBytes };
  // onBlock(count) is called with the descriptors of one retired block. Returns
  // { buffer, descriptors }. Throws an Error with a code: EINVAL, ENODEV, EPERM, FILTER, ...
  Napi::Value Open(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ >= 0 || closed_) {
      ErrorWithCode(env, "EINVAL", "ring already opened").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (info.Length() < 4 || !info[0].IsString() || !info[1].IsString() || !info[2].IsObject() || !info[3].IsFunction()) {
      ErrorWithCode(env, "EINVAL", "open(device, filter, options, onBlock)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    std::string device = info[0].As<Napi::String>();
    std::string filter = info[1].As<Napi::String>();
    Napi::Object options = info[2].As<Napi::Object>();
    unsigned ringBytes = options.Get("ringBytes").ToNumber().Uint32Value();
    unsigned blockBytes = options.Get("blockBytes").ToNumber().Uint32Value();
    unsigned timeoutMs = options.Get("blockTimeoutMs").ToNumber().Uint32Value();
    bool both = options.Get("direction").ToString().Utf8Value() == "both";
    bool promiscuous = options.Get("promiscuous").ToBoolean().Value();
    Napi::Value snapOption = options.Get("snapLength");
    int snaplen = snapOption.IsNumber() ? snapOption.As<Napi::Number>().Int32Value() : kWholePacket;
    Napi::Value spillOption = options.Get("spillBytes");
    size_t spillBytes = spillOption.IsNumber() ? static_cast<size_t>(spillOption.As<Napi::Number>().Int64Value()) : 0;
    long page = sysconf(_SC_PAGESIZE);
    if (blockBytes < 2 * 65536 || blockBytes % page != 0 || ringBytes < blockBytes ||
        (spillBytes != 0 && spillBytes < blockBytes)) {
      ErrorWithCode(env, "EINVAL", "blockBytes must be a multiple of the page size of at least 128 KiB, and ringBytes (and spillBytes, if any) at least one block")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }

    int ifindex = 0;
    if (!device.empty() && device != "any") {
      ifindex = static_cast<int>(if_nametoindex(device.c_str()));
      if (ifindex == 0) {
        ErrorWithCode(env, "ENODEV", "no such device: " + device).ThrowAsJavaScriptException();
        return env.Undefined();
      }
    }

    bpf_program program{};
    std::string filterError;
    if (snaplen < 1 || snaplen > kWholePacket) {
      ErrorWithCode(env, "EINVAL", "snapLength must be 1 to 65535").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (!CompileFilter(filter, snaplen, &program, &filterError)) {
      ErrorWithCode(env, "FILTER", filterError).ThrowAsJavaScriptException();
      return env.Undefined();
    }

    // Protocol 0 until bind: the socket receives nothing before its filter and ring are set,
    // so no unfiltered packet ever reaches the ring.
    int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      pcap_freecode(&program);
      Errno(env, errno, "socket(AF_PACKET)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    fd_ = fd;
    sock_fprog code{static_cast<unsigned short>(program.bf_len), reinterpret_cast<sock_filter*>(program.bf_insns)};
    int rc = setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &code, sizeof code);
    int filterErrno = errno;
    pcap_freecode(&program);
    if (rc < 0) return Fail(env, filterErrno, "SO_ATTACH_FILTER");

    snaplen_ = snaplen;
    int version = TPACKET_V3;
    if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version) < 0) return Fail(env, errno, "PACKET_VERSION");
    tpacket_req3 req{};
    req.tp_block_size = blockBytes;
    req.tp_block_nr = ringBytes / blockBytes;
    req.tp_frame_size = TPACKET_ALIGNMENT << 7;
    req.tp_frame_nr = (blockBytes / req.tp_frame_size) * req.tp_block_nr;
    req.tp_retire_blk_tov = timeoutMs;
    if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) return Fail(env, errno, "PACKET_RX_RING");
    size_t size = static_cast<size_t>(req.tp_block_size) * req.tp_block_nr;
    void* ring = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (ring == MAP_FAILED) return Fail(env, errno, "mmap of the ring");
    ring_ = static_cast<uint8_t*>(ring);
    ringSize_ = size;
    blockBytes_ = blockBytes;
    blockCount_ = req.tp_block_nr;
    both_ = both;
    if (spillBytes != 0) {
      spillSlots_ = static_cast<unsigned>(spillBytes / blockBytes);
      spillSize_ = static_cast<size_t>(spillSlots_) * blockBytes;
      void* spill = mmap(nullptr, spillSize_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (spill == MAP_FAILED) return Fail(env, errno, "mmap of the spill area");
      spill_ = static_cast<uint8_t*>(spill);
      for (unsigned i = 0; i < spillSlots_; i++) freeSlots_.push(i);
      wakeFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
      if (wakeFd_ < 0) return Fail(env, errno, "eventfd");
    }

    sockaddr_ll addr{};
    addr.sll_family = AF_PACKET;
    // ETH_P_IP registers with the receive path only: what this host sends is never seen.
    // ETH_P_ALL is also shown outgoing packets (intercept on the test server itself).
    addr.sll_protocol = htons(both ? ETH_P_ALL : ETH_P_IP);
    addr.sll_ifindex = ifindex;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) return Fail(env, errno, "bind to " + (device.empty() ? std::string("any") : device));
    if (promiscuous && ifindex != 0) {
      packet_mreq mreq{};
      mreq.mr_ifindex = ifindex;
      mreq.mr_type = PACKET_MR_PROMISC;
      if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mreq, sizeof mreq) < 0) return Fail(env, errno, "promiscuous mode on " + device);
    }

    // The memory JavaScript reads lives as long as the Buffer over it: closing the socket never
    // pulls it from under JavaScript that still holds the Buffer.
    uint8_t* shown = spill_ != nullptr ? spill_ : ring_;
    size_t shownSize = spill_ != nullptr ? spillSize_ : ringSize_;
    Napi::Buffer<uint8_t> buffer = Napi::Buffer<uint8_t>::New(
        env, shown, shownSize, [](Napi::Env, uint8_t* data, size_t* length) {
          munmap(data, *length);
          delete length;
        },
        new size_t(shownSize));
    size_t capacity = (blockBytes / kMinSlot + 1) * kFields;
    Napi::Int32Array descriptors = Napi::Int32Array::New(env, capacity);
    descriptors_ = Napi::Persistent(descriptors);
    onBlock_ = Napi::Persistent(info[3].As<Napi::Function>());
    descriptorData_ = descriptors.Data();
    descriptorCapacity_ = capacity / kFields;

    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    if (spill_ != nullptr) {
      async_ = new uv_async_t;
      uv_async_init(loop, async_, &PacketRing::OnSpilled);
      async_->data = this;
      copier_ = std::thread([this] { CopyBlocks(); });
    } else {
      poll_ = new uv_poll_t;
      uv_poll_init(loop, poll_, fd);
      poll_->data = this;
      uv_poll_start(poll_, UV_READABLE, &PacketRing::OnReadable);
    }
    Ref();  // kept alive by its poll or async handle until closed

    Napi::Object result = Napi::Object::New(env);
    result.Set("buffer", buffer);
    result.Set("descriptors", descriptors);
    result.Set("blockCount", Napi::Number::New(env, blockCount_));
    return result;
  }

  Napi::Value Fail(Napi::Env env, int err, const std::string& what) {
    if (ring_ != nullptr) munmap(ring_, ringSize_);
    ring_ = nullptr;
    if (spill_ != nullptr) munmap(spill_, spillSize_);
    spill_ = nullptr;
    if (wakeFd_ >= 0) ::close(wakeFd_);
    wakeFd_ = -1;
    ::close(fd_);
    fd_ = -1;
    Errno(env, err, what).ThrowAsJavaScriptException();
    return env.Undefined();
  }

  static void OnReadable(uv_poll_t* handle, int status, int) {
    auto* self = static_cast<PacketRing*>(handle->data);
    if (status < 0 || self->fd_ < 0) return;
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    self->DrainBlocks(env, self->BlocksToDrain());
  }

  // kBlocksPerWake, or down to a quarter of the ring after a burst, at most half the ring.
  unsigned BlocksToDrain() const {
    unsigned ready = 0;
    for (unsigned i = 0; i < blockCount_; i++) {
      auto* block = reinterpret_cast<tpacket_block_desc*>(ring_ + static_cast<size_t>((nextBlock_ + i) % blockCount_) * blockBytes_);
      if ((block->hdr.bh1.block_status & TP_STATUS_USER) == 0) break;
      ready++;
    }
    unsigned quarter = blockCount_ / 4;
    unsigned burst = ready > quarter ? ready - quarter : 0;
    return std::min(std::max(kBlocksPerWake, burst), std::max(kBlocksPerWake, blockCount_ / 2));
  }

  // Hands up to `limit` retired blocks to JavaScript, oldest first, returning each to the kernel.
  void DrainBlocks(Napi::Env env, unsigned limit) {
    for (unsigned drained = 0; fd_ >= 0 && drained < limit; drained++) {
      auto* block = reinterpret_cast<tpacket_block_desc*>(ring_ + static_cast<size_t>(nextBlock_) * blockBytes_);
      if ((block->hdr.bh1.block_status & TP_STATUS_USER) == 0) return;
      __sync_synchronize();
      HandOver(env, block, ring_);
      __sync_synchronize();
      block->hdr.bh1.block_status = TP_STATUS_KERNEL;
      nextBlock_ = (nextBlock_ + 1) % blockCount_;
      if (closed_ || env.IsExceptionPending()) return;
    }
  }

  // The copying thread: every retired block goes into the lowest free spill slot and back to the
  // kernel; JavaScript is woken through the async handle. With no free slot the block stays in
  // the ring (which then fills, and the kernel counts its drops).
  void CopyBlocks() {
    // Real-time priority, the lowest (when allowed: CAP_SYS_NICE), so the thread runs as soon as
    // a block retires even when every CPU is busy: at ordinary priority a burst filled a 16 MiB
    // ring while JavaScript and the sender kept both CPUs of the lab busy (2 runs of 4). Its work
    // per wake-up is a copy of what the ring holds, then it sleeps.
    sched_param param{};
    param.sched_priority = 1;
    pthread_setschedparam(pthread_self(), SCHED_FIFO, &param);
    pollfd fds[2] = {{fd_, POLLIN, 0}, {wakeFd_, POLLIN, 0}};
    unsigned next = 0;
    unsigned highestTouched = 0;
    while (!stopCopying_.load(std::memory_order_acquire)) {
      bool copied = false;
      bool full = false;
      for (;;) {
        auto* block = reinterpret_cast<tpacket_block_desc*>(ring_ + static_cast<size_t>(next) * blockBytes_);
        if ((block->hdr.bh1.block_status & TP_STATUS_USER) == 0) break;
        unsigned slot;
        {
          std::lock_guard<std::mutex> lock(spillLock_);
          if (freeSlots_.empty()) {
            full = true;
            spillFull_++;
            break;
          }
          slot = freeSlots_.top();
          freeSlots_.pop();
        }
        __sync_synchronize();
        size_t length = std::min<size_t>(block->hdr.bh1.blk_len, blockBytes_);
        memcpy(spill_ + static_cast<size_t>(slot) * blockBytes_, block, length);
        __sync_synchronize();
        block->hdr.bh1.block_status = TP_STATUS_KERNEL;
        next = (next + 1) % blockCount_;
        highestTouched = std::max(highestTouched, slot);
        {
          std::lock_guard<std::mutex> lock(spillLock_);
          filledSlots_.push_back(slot);
          spillPeak_ = std::max<uint64_t>(spillPeak_, filledSlots_.size());
        }
        copied = true;
      }
      if (copied) uv_async_send(async_);
      if (highestTouched >= kSpillSlotsKept) releaseWanted_.store(true);
      if (!full && highestTouched >= kSpillSlotsKept) {
        // Everything read: the pages of the slots beyond the first few go back to the system.
        std::lock_guard<std::mutex> lock(spillLock_);
        if (freeSlots_.size() == spillSlots_) {
          size_t from = static_cast<size_t>(kSpillSlotsKept) * blockBytes_;
          madvise(spill_ + from, static_cast<size_t>(highestTouched + 1) * blockBytes_ - from, MADV_DONTNEED);
          highestTouched = kSpillSlotsKept - 1;
        }
      }
      // Full: wait for JavaScript to free a slot (the ring stays readable, so poll on it would spin).
      int ready = full ? poll(&fds[1], 1, kSpillFullWaitMs) : poll(fds, 2, -1);
      if (ready < 0 && errno != EINTR) break;
      if (fds[1].revents & POLLIN) {
        uint64_t count;
        ssize_t got = read(wakeFd_, &count, sizeof count);
        (void)got;
      }
    }
  }

  static void OnSpilled(uv_async_t* handle) {
    auto* self = static_cast<PacketRing*>(handle->data);
    if (self->closed_) return;
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    // As many as a poll wake-up would take: the rest waits one event-loop turn.
    if (self->DrainSpill(env, std::max(kBlocksPerWake, self->SpilledCount() / 2))) uv_async_send(handle);
  }

  unsigned SpilledCount() {
    std::lock_guard<std::mutex> lock(spillLock_);
    return static_cast<unsigned>(filledSlots_.size());
  }

  // Hands up to `limit` spilled blocks to JavaScript, oldest first; true when more wait.
  bool DrainSpill(Napi::Env env, unsigned limit) {
    for (unsigned drained = 0; drained < limit; drained++) {
      unsigned slot;
      {
        std::lock_guard<std::mutex> lock(spillLock_);
        if (filledSlots_.empty()) return false;
        slot = filledSlots_.front();
        filledSlots_.pop_front();
      }
      auto* block = reinterpret_cast<tpacket_block_desc*>(spill_ + static_cast<size_t>(slot) * blockBytes_);
      HandOver(env, block, spill_);
      bool emptied;
      {
        std::lock_guard<std::mutex> lock(spillLock_);
        freeSlots_.push(slot);
        emptied = freeSlots_.size() == spillSlots_;
      }
      // The copying thread gives the pages back, but it sleeps until the ring has more: wake it.
      if (emptied && releaseWanted_.exchange(false)) {
        uint64_t one = 1;
        ssize_t written = write(wakeFd_, &one, sizeof one);
        (void)written;
      }
      if (closed_ || env.IsExceptionPending()) return false;
    }
    return SpilledCount() > 0;
  }

  // One block's packets to onBlock; a close requested from inside the call finishes after it.
  void HandOver(Napi::Env env, tpacket_block_desc* block, uint8_t* base) {
    unsigned count = FillDescriptors(block, base);
    if (count > 0) {
      inCallback_ = true;
      onBlock_.MakeCallback(Value(), {Napi::Number::New(env, count)}, nullptr);
      inCallback_ = false;
    }
    if (closeRequested_) Shutdown();
  }

  unsigned FillDescriptors(tpacket_block_desc* block, uint8_t* base) {
    unsigned packets = block->hdr.bh1.num_pkts;
    auto* p = reinterpret_cast<uint8_t*>(block) + block->hdr.bh1.offset_to_first_pkt;
    unsigned count = 0;
    int32_t* d = descriptorData_;
    for (unsigned i = 0; i < packets && count < descriptorCapacity_; i++) {
      auto* h = reinterpret_cast<tpacket3_hdr*>(p);
      auto* ll = reinterpret_cast<sockaddr_ll*>(p + TPACKET_ALIGN(sizeof(tpacket3_hdr)));
      bool outgoing = ll->sll_pkttype == PACKET_OUTGOING;
      // A loopback device shows a packet leaving and again arriving: only the arrival is kept.
      bool wanted = ntohs(ll->sll_protocol) == ETH_P_IP && (!outgoing || (both_ && ll->sll_hatype != ARPHRD_LOOPBACK));
      if (wanted) {
        received_++;
        if (h->tp_status & TP_STATUS_CSUMNOTREADY) checksumPartial_++;
        int flags = (h->tp_status & TP_STATUS_CSUMNOTREADY ? kFlagChecksumPartial : 0) |
                    (h->tp_status & TP_STATUS_CSUM_VALID ? kFlagChecksumVerified : 0) | (outgoing ? kFlagOutgoing : 0);
        int32_t* out = d + count * kFields;
        out[kFieldOffset] = static_cast<int32_t>(p + h->tp_net - base);
        out[kFieldCaptured] = static_cast<int32_t>(h->tp_snaplen);
        out[kFieldLength] = static_cast<int32_t>(h->tp_len);
        out[kFieldFlags] = flags;
        count++;
      }
      p += h->tp_next_offset;
    }
    return count;
  }

  // Hands every block the kernel has retired to JavaScript now, as if the socket had polled
  // readable (a ring about to be closed gives up what it holds). A no-op inside a callback, whose
  // loop drains them anyway.
  // setFilter(filter[, snapLength]): replaces the open ring's filter at once (the kernel swaps it
  // atomically: every packet meets the old filter or the new one), e.g. when the host's addresses
  // change. The filter's return value is the snap length, so a new one takes effect with it (an
  // intercept captures whole packets only while a copier wants payloads); without one the ring
  // keeps its current snap length.
  Napi::Value SetFilter(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bool snapGiven = info.Length() >= 2 && !info[1].IsUndefined();
    if (info.Length() < 1 || !info[0].IsString() || fd_ < 0 || (snapGiven && !info[1].IsNumber())) {
      ErrorWithCode(env, "EINVAL", "setFilter(filter[, snapLength]) on an open ring").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    int snaplen = snapGiven ? info[1].As<Napi::Number>().Int32Value() : snaplen_;
    if (snaplen < 1 || snaplen > kWholePacket) {
      ErrorWithCode(env, "EINVAL", "snapLength must be 1 to 65535").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    bpf_program program{};
    std::string error;
    if (!CompileFilter(info[0].As<Napi::String>(), snaplen, &program, &error)) {
      ErrorWithCode(env, "FILTER", error).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    sock_fprog code{static_cast<unsigned short>(program.bf_len), reinterpret_cast<sock_filter*>(program.bf_insns)};
    int rc = setsockopt(fd_, SOL_SOCKET, SO_ATTACH_FILTER, &code, sizeof code);
    int err = errno;
    pcap_freecode(&program);
    if (rc < 0) Errno(env, err, "SO_ATTACH_FILTER").ThrowAsJavaScriptException();
    else snaplen_ = snaplen;
    return env.Undefined();
  }

  // setOutgoing(seen): whether a ring opened with direction "both" is shown what this host sends.
  // Not shown, the kernel skips the ring before copying the packet (PACKET_IGNORE_OUTGOING): each
  // packet the host sends otherwise costs a clone and a filter run, which tcpcopy --compare stops
  // paying while it is saturated.
  Napi::Value SetOutgoing(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsBoolean() || fd_ < 0 || !both_) {
      ErrorWithCode(env, "EINVAL", "setOutgoing(seen) on an open ring of direction both").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    int ignore = info[0].As<Napi::Boolean>().Value() ? 0 : 1;
    if (setsockopt(fd_, SOL_PACKET, PACKET_IGNORE_OUTGOING, &ignore, sizeof ignore) < 0) {
      Errno(env, errno, "PACKET_IGNORE_OUTGOING").ThrowAsJavaScriptException();
    }
    return env.Undefined();
  }

  Napi::Value Drain(const Napi::CallbackInfo& info) {
    if (inCallback_ || closed_) return info.Env().Undefined();
    if (spill_ != nullptr) DrainSpill(info.Env(), spillSlots_);
    else if (fd_ >= 0) DrainBlocks(info.Env(), blockCount_);
    return info.Env().Undefined();
  }

  // Stops reading; a ring closed from inside its own callback finishes once the call returns.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (inCallback_) closeRequested_ = true;
    else Shutdown();
    return info.Env().Undefined();
  }

  // A thread still running when its std::thread is destroyed would abort the process.
  void StopCopier() {
    if (!copier_.joinable()) return;
    stopCopying_.store(true, std::memory_order_release);
    uint64_t one = 1;
    ssize_t written = write(wakeFd_, &one, sizeof one);
    (void)written;
    copier_.join();
  }

  void Shutdown() {
    if (closed_) return;
    closed_ = true;
    ReadKernelStats();
    if (poll_ != nullptr) {
      uv_poll_stop(poll_);
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
      poll_ = nullptr;
    }
    StopCopier();
    if (async_ != nullptr) {
      uv_close(reinterpret_cast<uv_handle_t*>(async_), [](uv_handle_t* h) { delete reinterpret_cast<uv_async_t*>(h); });
      async_ = nullptr;
    }
    if (wakeFd_ >= 0) ::close(wakeFd_);
    wakeFd_ = -1;
    // In spill mode JavaScript never sees the ring, so it goes now; otherwise with its Buffer.
    if (spill_ != nullptr && ring_ != nullptr) {
      munmap(ring_, ringSize_);
      ring_ = nullptr;
    }
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    onBlock_.Reset();
    descriptors_.Reset();
    Unref();
  }

  // PACKET_STATISTICS counts since its last read, then resets: add it up here.
  void ReadKernelStats() {
    if (fd_ < 0) return;
    tpacket_stats_v3 st{};
    socklen_t len = sizeof st;
    if (getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) {
      // tp_packets counts the dropped ones too.
      kernelDropped_ += st.tp_drops;
      freezes_ += st.tp_freeze_q_cnt;
    }
  }

  // { received, kernelDropped, checksumPartial, ringFreezes, spillPeakBytes, spillHeldBytes, spillFull }
  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ReadKernelStats();
    Napi::Object s = Napi::Object::New(env);
    s.Set("received", Napi::Number::New(env, static_cast<double>(received_)));
    s.Set("kernelDropped", Napi::Number::New(env, static_cast<double>(kernelDropped_)));
    s.Set("checksumPartial", Napi::Number::New(env, static_cast<double>(checksumPartial_)));
    s.Set("ringFreezes", Napi::Number::New(env, static_cast<double>(freezes_)));
    std::lock_guard<std::mutex> lock(spillLock_);
    s.Set("spillPeakBytes", Napi::Number::New(env, static_cast<double>(spillPeak_ * blockBytes_)));
    s.Set("spillHeldBytes", Napi::Number::New(env, static_cast<double>(filledSlots_.size() * blockBytes_)));
    s.Set("spillFull", Napi::Number::New(env, static_cast<double>(spillFull_)));
    return s;
  }

  static Napi::Value CheckFilter(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) {
      ErrorWithCode(env, "EINVAL", "compileFilter(filter)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    bpf_program program{};
    std::string error;
    if (!CompileFilter(info[0].As<Napi::String>(), kWholePacket, &program, &error)) {
      ErrorWithCode(env, "FILTER", error).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    unsigned instructions = program.bf_len;
    pcap_freecode(&program);
    return Napi::Number::New(env, instructions);
  }

  int fd_ = -1;
  int snaplen_ = kWholePacket;
  uint8_t* ring_ = nullptr;
  size_t ringSize_ = 0;
  unsigned blockBytes_ = 0;
  unsigned blockCount_ = 0;
  unsigned nextBlock_ = 0;
  bool both_ = false;
  bool inCallback_ = false;
  bool closeRequested_ = false;
  bool closed_ = false;
  uv_poll_t* poll_ = nullptr;
  Napi::FunctionReference onBlock_;
  Napi::Reference<Napi::Int32Array> descriptors_;
  int32_t* descriptorData_ = nullptr;
  unsigned descriptorCapacity_ = 0;
  uint64_t received_ = 0;
  uint64_t kernelDropped_ = 0;
  uint64_t checksumPartial_ = 0;
  uint64_t freezes_ = 0;
  // Spill mode (spill_ set): the copying thread owns the ring, JavaScript reads the slots.
  uint8_t* spill_ = nullptr;
  size_t spillSize_ = 0;
  unsigned spillSlots_ = 0;
  std::mutex spillLock_;
  std::priority_queue<unsigned, std::vector<unsigned>, std::greater<unsigned>> freeSlots_;
  std::deque<unsigned> filledSlots_;
  uint64_t spillPeak_ = 0;  // most slots filled at once
  uint64_t spillFull_ = 0;  // times a retired block found no free slot
  std::thread copier_;
  std::atomic<bool> stopCopying_{false};
  // Set by the copying thread when slots beyond the kept ones hold pages: JavaScript wakes it
  // once it has read everything, so that it gives them back.
  std::atomic<bool> releaseWanted_{false};
  int wakeFd_ = -1;
  uv_async_t* async_ = nullptr;
};

// libpcapVersion(): pcap_lib_version()'s text, for -v (libpcap compiles the filters).
Napi::Value LibpcapVersion(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), pcap_lib_version()); }

Napi::Object InitAll(Napi::Env env, Napi::Object exports) {
  exports.Set("offloads", Napi::Function::New(env, &Offloads));
  exports.Set("libpcapVersion", Napi::Function::New(env, &LibpcapVersion));
  InitLinkSocket(env, exports);
  return PacketRing::Init(env, exports);
}

}  // namespace

NODE_API_MODULE(packet_ring, InitAll)
