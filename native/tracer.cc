// SPDX-License-Identifier: Apache-2.0
//
// See tracer.h.

#include "tracer.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <mutex>
#include <pthread.h>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "aggregates.h"
#include "consumer.h"
#include "errors.h"
#include "system.h"
#include <linux/types.h>  // tcpotel.h's __u32 and friends

#include "tcpotel.h"
#include "tcpotel.skel.h"

namespace tcpotel {

namespace {

// Counters by index as a JS array.
template <typename T>
Napi::Array ToArray(Napi::Env env, const T* v, uint32_t n) {
  Napi::Array out = Napi::Array::New(env, n);
  for (uint32_t i = 0; i < n; i++) out.Set(i, (double)v[i]);
  return out;
}

class Tracer : public Napi::ObjectWrap<Tracer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Tracer",
                       {
                           InstanceMethod("load", &Tracer::Load),
                           InstanceMethod("attach", &Tracer::Attach),
                           InstanceMethod("start", &Tracer::Start),
                           InstanceMethod("stop", &Tracer::Stop),
                           InstanceMethod("iterate", &Tracer::Iterate),
                           InstanceMethod("stateCounts", &Tracer::StateCounts),
                           InstanceMethod("stats", &Tracer::Stats),
                           InstanceMethod("trackedSockets", &Tracer::TrackedSockets),
                           InstanceMethod("programs", &Tracer::Programs),
                           InstanceMethod("collect", &Tracer::Collect),
                           InstanceMethod("close", &Tracer::Close),
                           InstanceMethod("injectPollError", &Tracer::InjectPollError),
                       });
  }

  // new Tracer({ ringBytes, maxSockets, family, pid, ports, stateChanges, wakeupBytes, programs })
  explicit Tracer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Tracer>(info) {
    // A constructor that throws runs no destructor: whatever was opened is closed here.
    try {
      Setup(info);
    } catch (...) {
      Destroy();
      throw;
    }
  }

  ~Tracer() { Destroy(); }

 private:
  void Setup(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object opts = info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(env);
    libbpf_set_print(OnLibbpfPrint);

    errno = 0;
    skel_ = tcpotel_bpf__open();
    BPF_CHECK_PTR(env, skel_, "open");

    // Options absent take their default; present ones must be whole numbers in range.
    auto num = [&](const char* key, uint64_t dflt, uint64_t lo, uint64_t hi) {
      Napi::Value v = opts.Get(key);
      return v.IsUndefined() ? dflt : CheckedInt(env, v, key, lo, hi);
    };
    skel_->rodata->filter_family = (uint8_t)num("family", 0, 0, 10);
    skel_->rodata->filter_pid = (uint32_t)num("pid", 0, 0, UINT32_MAX);
    skel_->rodata->wakeup_bytes = num("wakeupBytes", 0, 0, UINT32_MAX);
    skel_->rodata->emit_state_changes = opts.Get("stateChanges").ToBoolean().Value();
    skel_->rodata->detect_protocol = opts.Get("detectProtocol").ToBoolean().Value();
    if (opts.Get("cgroupPath").IsString()) cgroup_path_ = opts.Get("cgroupPath").ToString().Utf8Value();
    if (opts.Get("ports").IsArray()) {
      Napi::Array ports = opts.Get("ports").As<Napi::Array>();
      uint32_t n = std::min<uint32_t>(ports.Length(), TCPOTEL_MAX_PORTS);
      for (uint32_t i = 0; i < n; i++)
        skel_->rodata->filter_ports[i] = (uint16_t)CheckedInt(env, ports.Get(i), "ports", 0, 65535);
      skel_->rodata->filter_nports = n;
    }
    // The sizes come from the receiver's config (src/receivers/ebpf/config.ts), which holds
    // their defaults: required here. The ring: a power of two of pages, at most 2^31 (the
    // kernel's limit for max_entries' use here).
    uint64_t ring = CheckedInt(env, opts.Get("ringBytes"), "ringBytes", 4096, 1ull << 31);
    if (ring & (ring - 1)) throw Napi::RangeError::New(env, "ringBytes: " + std::to_string(ring) + " is not a power of two");
    BPF_CHECK(env, bpf_map__set_max_entries(skel_->maps.events, (uint32_t)ring), "set ring buffer size");
    BPF_CHECK(env, bpf_map__set_max_entries(skel_->maps.socks, (uint32_t)CheckedInt(env, opts.Get("maxSockets"), "maxSockets", 1, UINT32_MAX)),
              "set socket map size");

    // Records: the kinds some pipeline takes as events, and those pipelines' filters.
    skel_->rodata->record_kinds = (uint32_t)num("recordKinds", ~0u, 0, UINT32_MAX);
    if (opts.Get("consumers").IsArray()) {
      Napi::Array cs = opts.Get("consumers").As<Napi::Array>();
      if (cs.Length() > TCPOTEL_CONSUMERS) throw Napi::RangeError::New(env, "too many record consumers");
      skel_->rodata->nconsumers = cs.Length();
      for (uint32_t i = 0; i < cs.Length(); i++) FillFilter(env, cs.Get(i), &skel_->rodata->consumers[i]);
    }

    // Aggregates computed in the kernel (aggregates.cc).
    SetupAggregates(env, skel_, opts, agg_nbounds_);

    // programs: { name: boolean } chooses between twins; names not listed are not loaded.
    Napi::Value progs = opts.Get("programs");
    bpf_program* prog;
    bpf_object__for_each_program(prog, skel_->obj) {
      bool wanted = false;
      if (progs.IsObject()) wanted = progs.As<Napi::Object>().Get(bpf_program__name(prog)).ToBoolean();
      BPF_CHECK(env, bpf_program__set_autoload(prog, wanted), std::string("set autoload ") + bpf_program__name(prog));
    }
  }

  Napi::Value Load(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    TakeLog();
    // The verifier gives up with EAGAIN when a signal is pending for this thread (a
    // profiler's SIGPROF, a child's SIGCHLD): hold signals while it works.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int err = tcpotel_bpf__load(skel_);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    BPF_CHECK(env, err, "load");
    return env.Undefined();
  }

  // Attaches every loaded program; iterators get a link to create iterator instances from.
  Napi::Value Attach(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    bpf_program* prog;
    bpf_object__for_each_program(prog, skel_->obj) {
      if (!bpf_program__autoload(prog)) continue;
      errno = 0;
      bpf_link* link;
      if (bpf_program__type(prog) == BPF_PROG_TYPE_CGROUP_SKB) {
        // On the cgroup v2 root: every socket of the host, containers' too.
        int cfd = open(cgroup_path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (cfd < 0) ThrowNativeError(env, "open cgroup " + cgroup_path_, errno);
        link = bpf_program__attach_cgroup(prog, cfd);
        int e = errno;
        close(cfd);
        errno = e;
      } else if (bpf_program__type(prog) == BPF_PROG_TYPE_TRACING &&
                 bpf_program__expected_attach_type(prog) == BPF_TRACE_ITER) {
        link = bpf_program__attach_iter(prog, nullptr);
      } else {
        link = bpf_program__attach(prog);
      }
      BPF_CHECK_PTR(env, link, std::string("attach ") + bpf_program__name(prog));
      links_.push_back({bpf_program__name(prog), link});
    }
    return env.Undefined();
  }

  // start(onChunk, { pollMs }): records flow to onChunk(Buffer) from a consumer thread.
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    if (consumer_) throw Napi::Error::New(env, "already started");
    if (!info[0].IsFunction()) throw Napi::TypeError::New(env, "start(onChunk, options)");
    Consumer* c = StartConsumer(env, bpf_map__fd(skel_->maps.events), info[0].As<Napi::Function>(), info[1]);
    consumer_ = c;
    return env.Undefined();
  }

  // injectPollError(errno): tests only: the consumer's next poll fails with errno, as a
  // broken ring would.
  Napi::Value InjectPollError(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!consumer_) throw Napi::Error::New(env, "not started");
    consumer_->inject_errno = (int)CheckedInt(env, info[0], "errno", 1, 4095);
    return env.Undefined();
  }

  // stop(): detaches every program, then drains the ring. The Promise resolves once every
  // record the kernel wrote has been delivered, so that produced = delivered + dropped.
  Napi::Value Stop(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    DetachAll();
    // A second stop() while the first drains gets the first one's promise (kept by a
    // reference: a napi_value does not outlive the call that made it).
    if (consumer_ && consumer_->running && consumer_->stopped && !stop_promise_.IsEmpty()) return stop_promise_.Value();
    auto deferred = Napi::Promise::Deferred::New(env);
    if (!consumer_ || !consumer_->running) {
      deferred.Resolve(env.Undefined());
      return deferred.Promise();
    }
    consumer_->stopped = new Napi::Promise::Deferred(deferred);
    consumer_->stop = true;
    stop_promise_ = Napi::Persistent(deferred.Promise().As<Napi::Object>());
    return deferred.Promise();
  }

  void DetachAll() {
    for (auto& l : links_) bpf_link__destroy(l.link);
    links_.clear();
  }

  // iterate(mode, netns?): runs the iterators and returns { records, failed } (EXISTING or
  // SAMPLE records). iter/tcp walks the sockets of the network namespace the calling
  // thread is in when the iterator is created: after our own, it runs once in each
  // namespace of `netns` (paths like /proc/PID/ns/net), entered with setns() on this
  // thread for that moment only (no JavaScript runs meanwhile). Socket counts by state
  // stay those of our own namespace. `failed` lists the namespaces that could not be
  // entered, with errno.
  Napi::Value Iterate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    uint32_t mode = info[0].ToNumber().Uint32Value();
    std::vector<std::string> others;
    if (info.Length() > 1 && info[1].IsArray()) {
      Napi::Array a = info[1].As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); i++) others.push_back(a.Get(i).ToString().Utf8Value());
    }
    skel_->bss->iter_mode = mode;
    skel_->bss->iter_next_seq = 0;
    memset(&skel_->bss->state_counts, 0, sizeof(skel_->bss->state_counts));
    Chunk out;
    Napi::Array failed = Napi::Array::New(env);
    try {
      if (mode == TCPOTEL_ITER_SNAPSHOT && HasLink("iter_task_file")) {
        Chunk owners;  // task_file writes nothing; it attributes sockets to their processes
        RunIterator(env, "iter_task_file", owners);
      }
      RunIterator(env, "iter_tcp", out);
      if (!others.empty()) {
        NetnsHome home(env);
        // Counting states only in our own namespace: no seq_num reaches this.
        skel_->bss->iter_next_seq = ~0ULL;
        uint32_t nfailed = 0;
        auto fail = [&](const std::string& path, int err, const std::string& code) {
          Napi::Object f = Napi::Object::New(env);
          f.Set("path", path);
          f.Set("errno", err);
          f.Set("code", code);
          failed.Set(nfailed++, f);
        };
        for (auto& path : others) {
          bool ran = false;
          std::string error;
          int err = home.RunIn(path, [&] {
            try {
              RunIterator(env, "iter_tcp", out);
              ran = true;
            } catch (const Napi::Error& e) {
              error = e.Message();
            }
          });
          if (err) fail(path, err, ErrnoName(err));
          else if (!ran) fail(path, EIO, error);
        }
      }
    } catch (...) {
      skel_->bss->iter_mode = 0;
      throw;
    }
    skel_->bss->iter_mode = 0;
    Napi::Object result = Napi::Object::New(env);
    if (consumer_ && consumer_->running && !consumer_->stop) {
      // Into the ring's stream, in time order: they reach onChunk shortly.
      std::lock_guard<std::mutex> lock(consumer_->iter_mutex);
      consumer_->iter_queue.push_back(std::move(out));
      result.Set("records", Napi::Buffer<uint8_t>::New(env, 0));
      result.Set("queued", true);
    } else {
      result.Set("records", Napi::Buffer<uint8_t>::Copy(env, out.data(), out.size()));
      result.Set("queued", false);
    }
    result.Set("failed", failed);
    return result;
  }

  Napi::Value StateCounts(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    Napi::Object out = Napi::Object::New(env);
    out.Set("v4", ToArray(env, skel_->bss->state_counts.v4, TCPOTEL_TCP_STATES));
    out.Set("v6", ToArray(env, skel_->bss->state_counts.v6, TCPOTEL_TCP_STATES));
    return out;
  }

  // Per-CPU counters, summed.
  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    int ncpu = libbpf_num_possible_cpus();
    BPF_CHECK(env, ncpu, "libbpf_num_possible_cpus");
    std::vector<tcpotel_stats> percpu(ncpu);
    uint32_t zero = 0;
    BPF_CHECK(env, bpf_map_lookup_elem(bpf_map__fd(skel_->maps.stats), &zero, percpu.data()), "read stats");
    tcpotel_stats sum{};
    for (const auto& s : percpu) {
      for (int k = 0; k < TCPOTEL_EV_KINDS; k++) {
        sum.produced[k] += s.produced[k];
        sum.dropped[k] += s.dropped[k];
      }
      sum.untracked += s.untracked;
      sum.filtered += s.filtered;
      for (int a = 0; a < TCPOTEL_AGG_SLOTS; a++) {
        sum.agg_overflow[a] += s.agg_overflow[a];
        sum.agg_map_full[a] += s.agg_map_full[a];
      }
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("produced", ToArray(env, sum.produced, TCPOTEL_EV_KINDS));
    out.Set("dropped", ToArray(env, sum.dropped, TCPOTEL_EV_KINDS));
    out.Set("untracked", (double)sum.untracked);
    out.Set("filtered", (double)sum.filtered);
    out.Set("aggregateOverflow", ToArray(env, sum.agg_overflow, TCPOTEL_AGG_SLOTS));
    out.Set("aggregateMapFull", ToArray(env, sum.agg_map_full, TCPOTEL_AGG_SLOTS));
    out.Set("badRecords", consumer_ ? (double)consumer_->bad_records.load() : 0.0);
    out.Set("ringBytes", (double)bpf_map__max_entries(skel_->maps.events));
    out.Set("maxSockets", (double)bpf_map__max_entries(skel_->maps.socks));
    return out;
  }

  // Number of sockets with per-socket state (walks the map: call it rarely).
  Napi::Value TrackedSockets(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    int fd = bpf_map__fd(skel_->maps.socks);
    uint64_t key = 0, next = 0;
    uint64_t* prev = nullptr;
    double count = 0;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
      count++;
      key = next;
      prev = &key;
    }
    return Napi::Number::New(env, count);
  }

  Napi::Value Programs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Array out = Napi::Array::New(env);
    if (!skel_) return out;
    uint32_t i = 0;
    bpf_program* prog;
    bpf_object__for_each_program(prog, skel_->obj) {
      if (!bpf_program__autoload(prog)) continue;
      Napi::Object p = Napi::Object::New(env);
      p.Set("name", bpf_program__name(prog));
      p.Set("section", bpf_program__section_name(prog));
      int fd = bpf_program__fd(prog);
      if (fd >= 0) {
        bpf_prog_info pinfo{};
        uint32_t len = sizeof(pinfo);
        if (bpf_obj_get_info_by_fd(fd, &pinfo, &len) == 0) {
          p.Set("id", pinfo.id);
          p.Set("runCount", (double)pinfo.run_cnt);
          p.Set("runTimeNs", (double)pinfo.run_time_ns);
          // Runs the kernel skipped because the program was already running on that CPU
          // (a tracepoint hit from an interrupt inside it): transitions lost.
          p.Set("recursionMisses", (double)pinfo.recursion_misses);
        }
      }
      bool attached = false;
      for (auto& l : links_) attached = attached || l.name == bpf_program__name(prog);
      p.Set("attached", attached);
      out.Set(i++, p);
    }
    return out;
  }

  // collect(slot): ends the window of in-kernel aggregate `slot` (aggregates.h CollectWindow).
  Napi::Value Collect(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    return CollectWindow(env, skel_, info[0].ToNumber().Uint32Value(), agg_nbounds_, !links_.empty());
  }

  // Idempotent: stops the consumer (dropping what it had not delivered), detaches, unloads.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    Destroy();
    return info.Env().Undefined();
  }

  void Destroy() {
    if (consumer_) {
      Consumer* c = consumer_;
      consumer_ = nullptr;
      DestroyConsumer(c);
    }
    DetachAll();
    stop_promise_.Reset();
    if (skel_) {
      tcpotel_bpf__destroy(skel_);
      skel_ = nullptr;
    }
  }

  void RequireOpen(Napi::Env env) {
    if (!skel_) throw Napi::Error::New(env, "the tracer is closed");
  }

  bool HasLink(const std::string& name) const {
    for (auto& l : links_)
      if (l.name == name) return true;
    return false;
  }

  void RunIterator(Napi::Env env, const std::string& name, Chunk& out) {
    bpf_link* link = nullptr;
    for (auto& l : links_)
      if (l.name == name) link = l.link;
    if (!link) throw Napi::Error::New(env, "iterator " + name + " is not attached");
    int fd = bpf_iter_create(bpf_link__fd(link));
    BPF_CHECK(env, fd, "bpf_iter_create " + name);
    uint8_t buf[64 * 1024];
    for (;;) {
      ssize_t n = read(fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int err = errno;
        close(fd);
        ThrowNativeError(env, "read iterator " + name, err);
      }
      if (n == 0) break;
      out.insert(out.end(), buf, buf + n);
    }
    close(fd);
  }

  struct NamedLink {
    std::string name;
    bpf_link* link;
  };

  tcpotel_bpf* skel_ = nullptr;
  std::vector<NamedLink> links_;
  Consumer* consumer_ = nullptr;
  Napi::ObjectReference stop_promise_;  // the promise of a stop() under way
  uint32_t agg_nbounds_[TCPOTEL_AGG_SLOTS][TCPOTEL_AGG_HISTS] = {};
  std::string cgroup_path_ = "/sys/fs/cgroup";
};

}  // namespace

Napi::Function TracerClass(Napi::Env env) { return Tracer::Define(env); }

}  // namespace tcpotel
