// Link-layer sending (tcpcopy -o): copies leave as whole Ethernet frames on one device through
// an AF_PACKET socket, past the host's IP stack (routing, netfilter, conntrack), as upstream's
// --pcap-send builds send them with pcap_inject. On Linux pcap_inject is a send() on this same
// kind of socket; opening libpcap's handle for it would also open a capture nobody reads.
//
// The socket's protocol is 0: it receives nothing. It is not blocking: send() either queues the
// frame in the device's queue at once or fails with an errno (ENOBUFS, EAGAIN when the queue is
// full), which JavaScript retries (raw-socket-sink.ts).
#include <napi.h>

#include <errno.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "link_socket.h"

namespace {

Napi::Error ErrnoError(Napi::Env env, int err, const std::string& message) {
  const char* name = err == EPERM    ? "EPERM"
                     : err == ENODEV ? "ENODEV"
                     : err == EINVAL ? "EINVAL"
                                     : "ESYSCALL";
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, name));
  return error;
}

class LinkSocket : public Napi::ObjectWrap<LinkSocket> {
 public:
  // new LinkSocket(device): throws an Error whose code is EINVAL, ENODEV, EPERM or ESYSCALL.
  explicit LinkSocket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LinkSocket>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) {
      ErrnoError(env, EINVAL, "new LinkSocket(device)").ThrowAsJavaScriptException();
      return;
    }
    std::string device = info[0].As<Napi::String>();
    if (device.empty() || device.size() >= IFNAMSIZ) {
      ErrnoError(env, EINVAL, "not a device name: \"" + device + "\"").ThrowAsJavaScriptException();
      return;
    }
    unsigned index = if_nametoindex(device.c_str());
    if (index == 0) {
      ErrnoError(env, ENODEV, "no such device: " + device).ThrowAsJavaScriptException();
      return;
    }
    fd_ = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      int err = errno;
      ErrnoError(env, err, std::string("cannot open a packet socket: ") + strerror(err)).ThrowAsJavaScriptException();
      return;
    }
    ifreq request{};
    memcpy(request.ifr_name, device.c_str(), device.size() + 1);
    if (ioctl(fd_, SIOCGIFHWADDR, &request) != 0) {
      int err = errno;
      Close();
      ErrnoError(env, err, "cannot read the address of " + device + ": " + strerror(err)).ThrowAsJavaScriptException();
      return;
    }
    if (request.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
      Close();
      ErrnoError(env, EINVAL, device + " is not an Ethernet device").ThrowAsJavaScriptException();
      return;
    }
    sockaddr_ll address{};
    address.sll_family = AF_PACKET;
    address.sll_ifindex = static_cast<int>(index);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      int err = errno;
      Close();
      ErrnoError(env, err, "cannot bind to " + device + ": " + strerror(err)).ThrowAsJavaScriptException();
      return;
    }
    const auto* mac = reinterpret_cast<const unsigned char*>(request.ifr_hwaddr.sa_data);
    char text[18];
    snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
    mac_ = text;
  }

  ~LinkSocket() override { Close(); }

  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function ctor = DefineClass(env, "LinkSocket",
                                      {
                                          InstanceMethod<&LinkSocket::Send>("send"),
                                          InstanceMethod<&LinkSocket::CloseJs>("close"),
                                          InstanceAccessor<&LinkSocket::Mac>("mac"),
                                      });
    exports.Set("LinkSocket", ctor);
  }

 private:
  // send(buffer, offset, length): one frame, or throws an Error whose message is strerror(errno),
  // as raw-socket's send does, so that both sinks name errors alike.
  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[0].IsBuffer() || !info[1].IsNumber() || !info[2].IsNumber()) {
      ErrnoError(env, EINVAL, "send(buffer, offset, length)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    auto buffer = info[0].As<Napi::Buffer<uint8_t>>();
    int64_t offset = info[1].As<Napi::Number>().Int64Value();
    int64_t length = info[2].As<Napi::Number>().Int64Value();
    if (offset < 0 || length <= 0 || static_cast<size_t>(offset + length) > buffer.Length()) {
      ErrnoError(env, EINVAL, "send: offset and length outside the buffer").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (fd_ < 0) {
      ErrnoError(env, EBADF, strerror(EBADF)).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (send(fd_, buffer.Data() + offset, static_cast<size_t>(length), 0) < 0) {
      int err = errno;
      ErrnoError(env, err, strerror(err)).ThrowAsJavaScriptException();
    }
    return env.Undefined();
  }

  Napi::Value Mac(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), mac_); }

  Napi::Value CloseJs(const Napi::CallbackInfo& info) {
    Close();
    return info.Env().Undefined();
  }

  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

  int fd_ = -1;
  std::string mac_;
};

}  // namespace

void InitLinkSocket(Napi::Env env, Napi::Object exports) { LinkSocket::Init(env, exports); }
