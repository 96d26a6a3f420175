// SPDX-License-Identifier: Apache-2.0
//
// sock_diag (netlink inet_diag) fallback: every TCP socket with its tcp_info, without eBPF
// and without privileges. One netlink dump per address family (SOCK_DIAG_BY_FAMILY with
// inet_diag_req_v2, IPPROTO_TCP, every state, INET_DIAG_INFO). C++ only dumps: every
// decision (what is an open, a close, a sample; byte corrections; owners) lives in
// TypeScript (src/receivers/sockdiag/).
//
// Exports (added to the addon by InitSockdiag):
//   sockdiagDump(families: number[]): Buffer             synchronous
//   sockdiagDumpAsync(families: number[]): Promise<Buffer>  on the libuv thread pool
//   sockdiagLookup(query: Buffer): Buffer                 the sockets of `query` (records, of
//                                                        which family, addresses, ports and
//                                                        cookie are used) that still exist
//   sockdiagLayout(): { recordSize, offsets, flags }     for the layout test
// families holds 4 and/or 6. Failures throw (or reject with) a NativeError (errors.h), its
// op the failing call (e.g. "sendto"), its message "sock_diag: <op> failed: <strerror>".
//
// The Buffer holds packed fixed-size records, one per socket, little-endian, in this layout
// (src/receivers/sockdiag/record.ts decodes it; the layout test compares the offsets):
//
//   off size field
//     0  u64  cookie          inet_diag idiag_cookie (== bpf_get_socket_cookie / SO_COOKIE)
//     8  u64  bytes_acked     tcpi_bytes_acked (raw: includes SYN / FIN sequence space)
//    16  u64  bytes_received  tcpi_bytes_received (raw: includes the peer's FIN)
//    24  u64  bytes_retrans   tcpi_bytes_retrans
//    32  u32  inode           idiag_inode (0: orphaned, not yet accepted, or TIME_WAIT)
//    36  u32  uid             idiag_uid
//    40  u32  segs_in         tcpi_segs_in
//    44  u32  segs_out        tcpi_segs_out
//    48  u32  total_retrans   tcpi_total_retrans
//    52  u32  rtt_us          tcpi_rtt (smoothed RTT, microseconds)
//    56  u16  sport           local port, host order
//    58  u16  dport           remote port, host order
//    60  u8   family          4 or 6
//    61  u8   state           idiag_state (include/net/tcp_states.h numbering)
//    62  u8   tcpi_state      tcpi_state (0 without tcp_info)
//    63  u8   flags           bit 0: tcp_info present
//    64  u8   saddr[16]       local address, network order; IPv4 in the first 4 bytes
//    80  u8   daddr[16]       remote address
//    96  u32  info_len        bytes of tcp_info the kernel sent (older kernels send less:
//                             fields beyond it read as 0)
//   100  u32  unacked         tcpi_unacked (segments in flight)
//   104  u64  bytes_sent      tcpi_bytes_sent (data bytes sent, retransmits included)
//   112                       record size

#include "sockdiag.h"

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>

#include "errors.h"
#include "system.h"

namespace tcpotel {

namespace {

#pragma pack(push, 1)
struct SockdiagRecord {
  uint64_t cookie;
  uint64_t bytes_acked;
  uint64_t bytes_received;
  uint64_t bytes_retrans;
  uint32_t inode;
  uint32_t uid;
  uint32_t segs_in;
  uint32_t segs_out;
  uint32_t total_retrans;
  uint32_t rtt_us;
  uint16_t sport;
  uint16_t dport;
  uint8_t family;
  uint8_t state;
  uint8_t tcpi_state;
  uint8_t flags;
  uint8_t saddr[16];
  uint8_t daddr[16];
  uint32_t info_len;
  uint32_t unacked;
  uint64_t bytes_sent;
};
#pragma pack(pop)
static_assert(sizeof(SockdiagRecord) == 112, "sockdiag record layout");

constexpr uint8_t kFlagInfo = 1;

struct DumpError {
  int err;          // positive errno
  const char* op;   // the failing call
};

void AppendRecord(const inet_diag_msg* msg, size_t attr_len, std::vector<uint8_t>* out) {
  SockdiagRecord rec;
  std::memset(&rec, 0, sizeof(rec));
  rec.cookie = (uint64_t)msg->id.idiag_cookie[0] | ((uint64_t)msg->id.idiag_cookie[1] << 32);
  rec.inode = msg->idiag_inode;
  rec.uid = msg->idiag_uid;
  rec.sport = ntohs(msg->id.idiag_sport);
  rec.dport = ntohs(msg->id.idiag_dport);
  rec.family = msg->idiag_family == AF_INET6 ? 6 : 4;
  rec.state = msg->idiag_state;
  std::memcpy(rec.saddr, msg->id.idiag_src, msg->idiag_family == AF_INET6 ? 16 : 4);
  std::memcpy(rec.daddr, msg->id.idiag_dst, msg->idiag_family == AF_INET6 ? 16 : 4);

  // Attributes follow the message: walk them for INET_DIAG_INFO (struct tcp_info).
  const rtattr* attr = reinterpret_cast<const rtattr*>(reinterpret_cast<const uint8_t*>(msg) +
                                                       NLMSG_ALIGN(sizeof(inet_diag_msg)));
  int remaining = (int)attr_len;
  for (; RTA_OK(attr, remaining); attr = RTA_NEXT(attr, remaining)) {
    if (attr->rta_type != INET_DIAG_INFO) continue;
    size_t len = RTA_PAYLOAD(attr);
    tcp_info info;
    std::memset(&info, 0, sizeof(info));
    std::memcpy(&info, RTA_DATA(attr), len < sizeof(info) ? len : sizeof(info));
    rec.flags |= kFlagInfo;
    rec.info_len = (uint32_t)len;
    rec.tcpi_state = info.tcpi_state;
    rec.bytes_acked = info.tcpi_bytes_acked;
    rec.bytes_received = info.tcpi_bytes_received;
    rec.bytes_retrans = info.tcpi_bytes_retrans;
    rec.bytes_sent = info.tcpi_bytes_sent;
    rec.segs_in = info.tcpi_segs_in;
    rec.segs_out = info.tcpi_segs_out;
    rec.total_retrans = info.tcpi_total_retrans;
    rec.rtt_us = info.tcpi_rtt;
    rec.unacked = info.tcpi_unacked;
  }
  const uint8_t* bytes = reinterpret_cast<const uint8_t*>(&rec);
  out->insert(out->end(), bytes, bytes + sizeof(rec));
}

// A sock_diag request for TCP sockets of one family, in every state (LISTEN, TIME_WAIT
// and SYN_RECV included), with tcp_info.
struct DiagRequest {
  nlmsghdr nlh;
  inet_diag_req_v2 req;
};

DiagRequest MakeRequest(uint8_t family, uint16_t flags, uint32_t seq) {
  DiagRequest request;
  std::memset(&request, 0, sizeof(request));
  request.nlh.nlmsg_len = sizeof(request);
  request.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  request.nlh.nlmsg_flags = flags;
  request.nlh.nlmsg_seq = seq;
  request.req.sdiag_family = family;
  request.req.sdiag_protocol = IPPROTO_TCP;
  request.req.idiag_ext = 1 << (INET_DIAG_INFO - 1);
  request.req.idiag_states = ~0u;
  return request;
}

// Sends one request to the kernel. Throws DumpError.
void Send(int fd, const DiagRequest& request) {
  sockaddr_nl kernel;
  std::memset(&kernel, 0, sizeof(kernel));
  kernel.nl_family = AF_NETLINK;
  ssize_t sent;
  do {
    sent = sendto(fd, &request, sizeof(request), 0, reinterpret_cast<const sockaddr*>(&kernel), sizeof(kernel));
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) throw DumpError{errno, "sendto"};
}

// A netlink sock_diag socket; replies are awaited 5 s at most (a dump never takes seconds,
// a stuck one must not hang the caller). Throws DumpError.
int OpenDiagSocket() {
  int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) throw DumpError{errno, "socket(NETLINK_SOCK_DIAG)"};
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

// One dump of one family into `out`. Throws DumpError.
void DumpFamily(int fd, int family, uint32_t seq, std::vector<uint8_t>* out) {
  DiagRequest request = MakeRequest((uint8_t)family, NLM_F_REQUEST | NLM_F_DUMP, seq);
  request.req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  request.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  Send(fd, request);

  // Dump replies come in skbs of at most 32 KiB (more with a larger receive buffer on
  // some kernels): a 64 KiB buffer always holds one whole datagram.
  std::vector<uint8_t> buf(64 * 1024);
  for (;;) {
    iovec iov{buf.data(), buf.size()};
    msghdr mh;
    std::memset(&mh, 0, sizeof(mh));
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    ssize_t n;
    do {
      n = recvmsg(fd, &mh, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) throw DumpError{errno, "recvmsg"};
    if (n == 0) throw DumpError{EBADMSG, "recvmsg"};
    if (mh.msg_flags & MSG_TRUNC) throw DumpError{ENOBUFS, "recvmsg (truncated datagram)"};
    const nlmsghdr* h = reinterpret_cast<const nlmsghdr*>(buf.data());
    int len = (int)n;
    for (; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_seq != seq) continue;  // a stale reply to an earlier request
      if (h->nlmsg_type == NLMSG_DONE) {
        if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) {
          int status;
          std::memcpy(&status, NLMSG_DATA(h), sizeof(status));
          if (status < 0) throw DumpError{-status, "inet_diag dump"};
        }
        return;
      }
      if (h->nlmsg_type == NLMSG_ERROR) {
        if (h->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) throw DumpError{EBADMSG, "inet_diag dump"};
        const nlmsgerr* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        if (e->error == 0) continue;  // an ACK
        throw DumpError{-e->error, "inet_diag dump"};
      }
      if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY) continue;
      if (h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) throw DumpError{EBADMSG, "inet_diag dump"};
      const inet_diag_msg* msg = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
      size_t attr_len = h->nlmsg_len - NLMSG_LENGTH(sizeof(inet_diag_msg));
      AppendRecord(msg, attr_len, out);
    }
  }
}

// The whole dump: one netlink socket, one request per family. Throws DumpError.
std::vector<uint8_t> Dump(const std::vector<int>& families) {
  std::vector<uint8_t> out;
  out.reserve(1024 * sizeof(SockdiagRecord));
  Fd fd(OpenDiagSocket());
  int rcvbuf = 1 << 20;
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  uint32_t seq = 1;
  for (int f : families) {
    DumpFamily(fd.get(), f == 6 ? AF_INET6 : AF_INET, seq++, &out);
  }
  return out;
}

// Looks up sockets one by one (family, tuple and cookie taken from records in the dump
// layout): those a dump did not show may have been skipped by it rather than be gone.
// Returns the records of those that still exist. Throws DumpError.
std::vector<uint8_t> Lookup(const uint8_t* query, size_t count) {
  std::vector<uint8_t> out;
  Fd fd(OpenDiagSocket());
  std::vector<uint8_t> buf(64 * 1024);
  for (size_t i = 0; i < count; i++) {
    SockdiagRecord q;
    std::memcpy(&q, query + i * sizeof(SockdiagRecord), sizeof(q));
    const uint32_t seq = (uint32_t)i + 1;
    DiagRequest request = MakeRequest(q.family == 6 ? AF_INET6 : AF_INET, NLM_F_REQUEST, seq);
    request.req.id.idiag_sport = htons(q.sport);
    request.req.id.idiag_dport = htons(q.dport);
    std::memcpy(request.req.id.idiag_src, q.saddr, 16);
    std::memcpy(request.req.id.idiag_dst, q.daddr, 16);
    request.req.id.idiag_cookie[0] = (uint32_t)q.cookie;
    request.req.id.idiag_cookie[1] = (uint32_t)(q.cookie >> 32);
    Send(fd.get(), request);
    bool answered = false;
    while (!answered) {
      ssize_t n;
      do {
        n = recv(fd.get(), buf.data(), buf.size(), 0);
      } while (n < 0 && errno == EINTR);
      if (n < 0) throw DumpError{errno, "recv"};
      const nlmsghdr* h = reinterpret_cast<const nlmsghdr*>(buf.data());
      int len = (int)n;
      for (; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
        if (h->nlmsg_seq != seq) continue;
        answered = true;
        if (h->nlmsg_type == NLMSG_ERROR) {
          if (h->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) throw DumpError{EBADMSG, "inet_diag lookup"};
          const nlmsgerr* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
          int err = -e->error;
          // gone (ENOENT), or a different socket has the tuple now (ESTALE: cookie mismatch)
          if (err == 0 || err == ENOENT || err == ESTALE) continue;
          throw DumpError{err, "inet_diag lookup"};
        }
        if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY) continue;
        if (h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) throw DumpError{EBADMSG, "inet_diag lookup"};
        const inet_diag_msg* msg = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
        AppendRecord(msg, h->nlmsg_len - NLMSG_LENGTH(sizeof(inet_diag_msg)), &out);
      }
    }
  }
  return out;
}

std::vector<int> ParseFamilies(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<int> families;
  if (info.Length() < 1 || info[0].IsUndefined()) return {4, 6};
  if (!info[0].IsArray()) throw Napi::TypeError::New(env, "families must be an array of 4 and/or 6");
  Napi::Array arr = info[0].As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value v = arr.Get(i);
    int f = v.IsNumber() ? v.As<Napi::Number>().Int32Value() : 0;
    if (f != 4 && f != 6) throw Napi::TypeError::New(env, "families must be an array of 4 and/or 6");
    families.push_back(f);
  }
  return families;
}

Napi::Error MakeError(Napi::Env env, const DumpError& e) {
  return MakeNativeError(env, e.op, e.err, "sock_diag: ", WithLog::kNo);
}

Napi::Buffer<uint8_t> ToBuffer(Napi::Env env, std::vector<uint8_t>&& bytes) {
  auto* owned = new std::vector<uint8_t>(std::move(bytes));
  return Napi::Buffer<uint8_t>::New(
      env, owned->data(), owned->size(), [](Napi::Env, uint8_t*, std::vector<uint8_t>* v) { delete v; }, owned);
}

Napi::Value SockdiagDump(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<int> families = ParseFamilies(info);
  try {
    return ToBuffer(env, Dump(families));
  } catch (const DumpError& e) {
    throw MakeError(env, e);
  }
}

Napi::Value SockdiagLookup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsBuffer()) throw Napi::TypeError::New(env, "query must be a Buffer of sock_diag records");
  Napi::Buffer<uint8_t> query = info[0].As<Napi::Buffer<uint8_t>>();
  if (query.Length() % sizeof(SockdiagRecord) != 0) throw Napi::TypeError::New(env, "query length is not a multiple of the record size");
  try {
    return ToBuffer(env, Lookup(query.Data(), query.Length() / sizeof(SockdiagRecord)));
  } catch (const DumpError& e) {
    throw MakeError(env, e);
  }
}

class DumpWorker : public Napi::AsyncWorker {
 public:
  DumpWorker(Napi::Env env, std::vector<int> families)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), families_(std::move(families)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      bytes_ = Dump(families_);
    } catch (const DumpError& e) {
      failed_ = true;
      error_ = e;
    } catch (const std::bad_alloc&) {
      failed_ = true;
      error_ = DumpError{ENOMEM, "dump"};
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (failed_) {
      deferred_.Reject(MakeError(env, error_).Value());
      return;
    }
    deferred_.Resolve(ToBuffer(env, std::move(bytes_)));
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::vector<int> families_;
  std::vector<uint8_t> bytes_;
  bool failed_ = false;
  DumpError error_{0, ""};
};

Napi::Value SockdiagDumpAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<int> families = ParseFamilies(info);
  auto* worker = new DumpWorker(env, std::move(families));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value SockdiagLayout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object offsets = Napi::Object::New(env);
#define SD_OFF(f) offsets.Set(#f, Napi::Number::New(env, offsetof(SockdiagRecord, f)))
  SD_OFF(cookie);
  SD_OFF(bytes_acked);
  SD_OFF(bytes_received);
  SD_OFF(bytes_retrans);
  SD_OFF(inode);
  SD_OFF(uid);
  SD_OFF(segs_in);
  SD_OFF(segs_out);
  SD_OFF(total_retrans);
  SD_OFF(rtt_us);
  SD_OFF(sport);
  SD_OFF(dport);
  SD_OFF(family);
  SD_OFF(state);
  SD_OFF(tcpi_state);
  SD_OFF(flags);
  SD_OFF(saddr);
  SD_OFF(daddr);
  SD_OFF(info_len);
  SD_OFF(unacked);
  SD_OFF(bytes_sent);
#undef SD_OFF
  Napi::Object out = Napi::Object::New(env);
  out.Set("recordSize", Napi::Number::New(env, sizeof(SockdiagRecord)));
  out.Set("offsets", offsets);
  Napi::Object flags = Napi::Object::New(env);
  flags.Set("INFO", Napi::Number::New(env, kFlagInfo));
  out.Set("flags", flags);
  return out;
}

}  // namespace

void InitSockdiag(Napi::Env env, Napi::Object exports) {
  exports.Set("sockdiagDump", Napi::Function::New(env, SockdiagDump, "sockdiagDump"));
  exports.Set("sockdiagDumpAsync", Napi::Function::New(env, SockdiagDumpAsync, "sockdiagDumpAsync"));
  exports.Set("sockdiagLookup", Napi::Function::New(env, SockdiagLookup, "sockdiagLookup"));
  exports.Set("sockdiagLayout", Napi::Function::New(env, SockdiagLayout, "sockdiagLayout"));
}

}  // namespace tcpotel
