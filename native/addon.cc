// SPDX-License-Identifier: Apache-2.0
//
// The addon (build/Release/tcpotel.node): its exports, gathered from
//   tracer.cc     the Tracer class (with consumer.cc, the ring consumer thread, and
//                 aggregates.cc, in-kernel filters and aggregates)
//   probes.cc     feature probes
//   system.cc     tracefs, setns, capabilities and the privilege drop, BPF statistics
//   sockdiag.cc   sock_diag dumps (no eBPF, no privileges)
//   errors.cc     the one error class of every failure
// and here: the record layouts (for the layout tests) and libbpf facts.
// src/native/ types them.

#include <napi.h>

#include <cstddef>
#include <cstdlib>
#include <malloc.h>

#include <bpf/libbpf.h>

#include "errors.h"
#include "probes.h"
#include "sockdiag.h"
#include "system.h"
#include <linux/types.h>  // tcpotel.h's __u32 and friends

#include "tcpotel.h"
#include "tracer.h"

namespace {

// layout(): the record layout as the C compiler sees it, for the decoder's layout test.
Napi::Value Layout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  Napi::Object off = Napi::Object::New(env);
#define OFF(f) off.Set(#f, (double)offsetof(struct tcpotel_event, f))
  OFF(ts_ns); OFF(cookie); OFF(cgroup_id); OFF(duration_ns); OFF(bytes_acked);
  OFF(bytes_received); OFF(bytes_retrans); OFF(handshake_ns); OFF(segs_in); OFF(segs_out); OFF(total_retrans);
  OFF(srtt_us); OFF(pid); OFF(tid); OFF(netns); OFF(sport); OFF(dport); OFF(saddr); OFF(daddr);
  OFF(kind); OFF(family); OFF(oldstate); OFF(newstate); OFF(flags); OFF(error); OFF(comm);
  OFF(lost); OFF(proto); OFF(http_method); OFF(tls_version); OFF(name);
#undef OFF
  Napi::Object key = Napi::Object::New(env);
  Napi::Object flags = Napi::Object::New(env);
#define FLAG(name, value) flags.Set(#name, (double)(value))
  FLAG(ACTIVE, TCPOTEL_F_ACTIVE); FLAG(PASSIVE, TCPOTEL_F_PASSIVE); FLAG(PREEXISTING, TCPOTEL_F_PREEXISTING);
  FLAG(RST_SENT, TCPOTEL_F_RST_SENT); FLAG(RST_RECV, TCPOTEL_F_RST_RECV); FLAG(OWNER, TCPOTEL_F_OWNER);
  FLAG(UNTRACKED, TCPOTEL_F_UNTRACKED); FLAG(NO_SOCKET, TCPOTEL_F_NO_SOCKET); FLAG(DETECT, TCPOTEL_F_DETECT);
#undef FLAG
  Napi::Object modes = Napi::Object::New(env);
  modes.Set("SNAPSHOT", (double)TCPOTEL_ITER_SNAPSHOT);
  modes.Set("SAMPLE", (double)TCPOTEL_ITER_SAMPLE);
#define KOFF(f) key.Set(#f, (double)offsetof(struct tcpotel_agg_key, f))
  KOFF(gen); KOFF(overflow); KOFF(family); KOFF(role); KOFF(errcode); KOFF(port); KOFF(proto); KOFF(pid);
  KOFF(netns); KOFF(cgroup); KOFF(addr); KOFF(comm); KOFF(name);
#undef KOFF
  key.Set("size", (double)sizeof(struct tcpotel_agg_key));
  out.Set("aggKey", key);
  out.Set("eventSize", (double)sizeof(struct tcpotel_event));
  out.Set("offsets", off);
  out.Set("flags", flags);
  out.Set("iterModes", modes);
  out.Set("statsSize", (double)sizeof(struct tcpotel_stats));
  out.Set("kinds", (double)TCPOTEL_EV_KINDS);
  out.Set("maxPorts", (double)TCPOTEL_MAX_PORTS);
  return out;
}


Napi::Value LibbpfVersion(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), libbpf_version_string());
}

Napi::Value NumPossibleCpus(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), libbpf_num_possible_cpus());
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // glibc's mmap threshold grows with every large block freed, after which such blocks come
  // from the heap and stay in RSS: fixed at 128 KiB (as MALLOC_MMAP_THRESHOLD_=131072 would),
  // so that tcpotel's memory bound holds however it is started. The variable still wins.
  if (!getenv("MALLOC_MMAP_THRESHOLD_")) mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  exports.Set("Tracer", tcpotel::TracerClass(env));
  exports.Set("layout", Napi::Function::New(env, Layout));
  exports.Set("libbpfVersion", Napi::Function::New(env, LibbpfVersion));
  exports.Set("numPossibleCpus", Napi::Function::New(env, NumPossibleCpus));
  tcpotel::InitErrors(env, exports);
  tcpotel::InitProbes(env, exports);
  tcpotel::InitSystem(env, exports);
  tcpotel::InitSockdiag(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(tcpotel, Init)
