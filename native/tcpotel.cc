// SPDX-License-Identifier: Apache-2.0
//
// A thin N-API layer over libbpf's skeleton: open, set read-only data, load, attach,
// consume, iterate, close. Decoding and every decision live in TypeScript
// (src/receivers/ebpf/). Ring-buffer records reach JS as one Buffer per wake-up.

#include <napi.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <cstdio>
#include <fcntl.h>
#include <mutex>
#include <string>
#include <grp.h>
#include <linux/capability.h>
#include <csignal>
#include <pthread.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "tcpotel.h"
#include "tcpotel.skel.h"
#include "probe.skel.h"

Napi::Object InitSockdiag(Napi::Env env, Napi::Object exports);  // native/sockdiag.cc

namespace {

// ---------- libbpf messages and errors ----------

std::mutex g_log_mutex;
std::string g_log;  // recent libbpf warnings, attached to errors (verifier logs among them)
constexpr size_t kLogMax = 64 * 1024;

int OnLibbpfPrint(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[1024];
  int n = vsnprintf(line, sizeof(line), fmt, args);
  if (n <= 0) return 0;
  std::lock_guard<std::mutex> lock(g_log_mutex);
  g_log.append(line, std::min<size_t>(n, sizeof(line) - 1));
  if (g_log.size() > kLogMax) g_log.erase(0, g_log.size() - kLogMax);
  return 0;
}

std::string TakeLog() {
  std::lock_guard<std::mutex> lock(g_log_mutex);
  std::string out;
  out.swap(g_log);
  return out;
}

Napi::FunctionReference g_error_class;  // BpfError, registered by bindings.ts

// The errno's symbolic name ("EPERM"), from glibc.
const char* ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  return name ? name : "EUNKNOWN";
}

// Every libbpf failure goes through here and becomes one BpfError(op, errno).
[[noreturn]] void ThrowBpfError(Napi::Env env, const std::string& op, int err) {
  if (err < 0) err = -err;
  std::string message = op + " failed: " + strerror(err);
  Napi::Object props = Napi::Object::New(env);
  props.Set("message", message);
  props.Set("op", op);
  props.Set("errno", Napi::Number::New(env, err));
  props.Set("code", ErrnoName(err));
  props.Set("log", TakeLog());
  if (!g_error_class.IsEmpty()) {
    throw Napi::Error(env, g_error_class.New({props}));
  }
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("op", op);
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("code", ErrnoName(err));
  throw e;
}

#define BPF_CHECK(env, expr, op)                  \
  do {                                            \
    long bpf_check_ret_ = (long)(expr);           \
    if (bpf_check_ret_ < 0) {                     \
      ThrowBpfError((env), (op), (int)bpf_check_ret_); \
    }                                             \
  } while (0)

#define BPF_CHECK_PTR(env, ptr, op)                         \
  do {                                                      \
    if (!(ptr)) ThrowBpfError((env), (op), errno ? errno : EINVAL); \
  } while (0)

// ---------- the consumer thread ----------

using Chunk = std::vector<uint8_t>;

struct Consumer {
  ring_buffer* rb = nullptr;
  Napi::ThreadSafeFunction tsfn;
  std::thread thread;
  std::atomic<bool> stop{false};
  std::atomic<bool> running{false};
  int poll_ms = 50;
  size_t reserve_bytes = 256 * 1024;
  // While JS is busy, records gather here (then the kernel ring fills and counts its drops).
  size_t max_pending_bytes = 128u << 20;
  Chunk pending;
  Napi::Promise::Deferred* stopped = nullptr;  // resolved once the thread has handed over all
  bool orphaned = false;  // closed by force: the finalizer frees it
};

int OnRecord(void* ctx, void* data, size_t size) {
  auto* c = static_cast<Consumer*>(ctx);
  auto* bytes = static_cast<uint8_t*>(data);
  c->pending.insert(c->pending.end(), bytes, bytes + size);
  return 0;
}

void DeliverChunk(Napi::Env env, Napi::Function cb, Chunk* chunk) {
  if (!env) {  // the function is being torn down
    delete chunk;
    return;
  }
  auto buf = Napi::Buffer<uint8_t>::New(
      env, chunk->data(), chunk->size(), [](Napi::Env, uint8_t*, Chunk* c) { delete c; }, chunk);
  cb.Call({buf});
}

// Hands the records gathered so far to JS without waiting: when JS is busy (the queue is
// full), they stay in `pending` and the loop goes on draining the kernel ring into it, so
// that a busy event loop costs memory here rather than drops in the kernel. `block` is for
// the last hand-over at stop, when JS is waiting for it.
enum class Handed { kYes, kLater, kClosing };

Handed Flush(Consumer* c, bool block) {
  if (c->pending.empty()) return Handed::kYes;
  auto* chunk = new Chunk();
  chunk->swap(c->pending);
  napi_status st = block ? c->tsfn.BlockingCall(chunk, DeliverChunk) : c->tsfn.NonBlockingCall(chunk, DeliverChunk);
  if (st == napi_ok) {
    c->pending.reserve(c->reserve_bytes);
    return Handed::kYes;
  }
  chunk->swap(c->pending);
  delete chunk;
  return st == napi_queue_full ? Handed::kLater : Handed::kClosing;
}

void ConsumeLoop(Consumer* c) {
  while (!c->stop.load(std::memory_order_relaxed)) {
    if (c->pending.size() >= c->max_pending_bytes) {
      // JS is far behind: stop draining; the kernel ring absorbs, then counts drops.
      if (Flush(c, false) == Handed::kClosing) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    // Producers may skip the wake-up (wakeup_bytes): a timed-out poll consumes nothing,
    // so consume explicitly after every poll.
    int n = ring_buffer__poll(c->rb, c->poll_ms);
    if (n < 0 && n != -EINTR) break;
    if (n == 0) n = ring_buffer__consume(c->rb);
    if (n < 0 && n != -EINTR) break;
    if (Flush(c, false) == Handed::kClosing) return;
  }
  // Graceful stop: what the kernel wrote before the programs were detached still arrives.
  ring_buffer__consume(c->rb);
  if (Flush(c, true) == Handed::kYes) c->tsfn.Release();
}

// ---------- the tracer ----------

class Tracer : public Napi::ObjectWrap<Tracer> {
 public:
  static Napi::Function Init(Napi::Env env) {
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
                           InstanceMethod("close", &Tracer::Close),
                       });
  }

  // new Tracer({ ringBytes, maxSockets, family, pid, ports, stateChanges, wakeupBytes, programs })
  explicit Tracer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Tracer>(info) {
    Napi::Env env = info.Env();
    Napi::Object opts = info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(env);
    libbpf_set_print(OnLibbpfPrint);

    errno = 0;
    skel_ = tcpotel_bpf__open();
    BPF_CHECK_PTR(env, skel_, "open");

    auto num = [&](const char* key, double dflt) {
      Napi::Value v = opts.Get(key);
      return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : dflt;
    };
    skel_->rodata->filter_family = (uint8_t)num("family", 0);
    skel_->rodata->filter_pid = (uint32_t)num("pid", 0);
    skel_->rodata->wakeup_bytes = (uint64_t)num("wakeupBytes", 0);
    skel_->rodata->emit_state_changes = opts.Get("stateChanges").ToBoolean().Value();
    if (opts.Get("ports").IsArray()) {
      Napi::Array ports = opts.Get("ports").As<Napi::Array>();
      uint32_t n = std::min<uint32_t>(ports.Length(), TCPOTEL_MAX_PORTS);
      for (uint32_t i = 0; i < n; i++)
        skel_->rodata->filter_ports[i] = (uint16_t)ports.Get(i).ToNumber().Uint32Value();
      skel_->rodata->filter_nports = n;
    }
    BPF_CHECK(env, bpf_map__set_max_entries(skel_->maps.events, (uint32_t)num("ringBytes", 16 << 20)),
              "set ring buffer size");
    BPF_CHECK(env, bpf_map__set_max_entries(skel_->maps.socks, (uint32_t)num("maxSockets", 131072)),
              "set socket map size");

    // programs: { name: boolean } chooses between twins; names not listed are not loaded.
    Napi::Value progs = opts.Get("programs");
    bpf_program* prog;
    bpf_object__for_each_program(prog, skel_->obj) {
      bool wanted = false;
      if (progs.IsObject()) wanted = progs.As<Napi::Object>().Get(bpf_program__name(prog)).ToBoolean();
      BPF_CHECK(env, bpf_program__set_autoload(prog, wanted), std::string("set autoload ") + bpf_program__name(prog));
    }
  }

  ~Tracer() { Destroy(); }

 private:
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
      bpf_link* link = bpf_program__type(prog) == BPF_PROG_TYPE_TRACING &&
                               bpf_program__expected_attach_type(prog) == BPF_TRACE_ITER
                           ? bpf_program__attach_iter(prog, nullptr)
                           : bpf_program__attach(prog);
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
    auto* c = new Consumer();
    if (info[1].IsObject()) {
      Napi::Object o = info[1].As<Napi::Object>();
      Napi::Value v = o.Get("pollMs");
      if (v.IsNumber()) c->poll_ms = std::max(1, v.As<Napi::Number>().Int32Value());
      Napi::Value m = o.Get("maxPendingBytes");
      if (m.IsNumber()) c->max_pending_bytes = std::max<size_t>(1 << 20, (size_t)m.As<Napi::Number>().DoubleValue());
    }
    c->pending.reserve(c->reserve_bytes);
    errno = 0;
    c->rb = ring_buffer__new(bpf_map__fd(skel_->maps.events), OnRecord, c, nullptr);
    if (!c->rb) {
      int err = errno;
      delete c;
      ThrowBpfError(env, "ring_buffer__new", err ? err : EINVAL);
    }
    c->tsfn = Napi::ThreadSafeFunction::New(
        env, info[0].As<Napi::Function>(), "tcpotel-ring", 4, 1, c,
        [](Napi::Env, Consumer* cc) {
          // Runs on the JS thread once the consumer has released (or close() aborted) the function.
          if (cc->thread.joinable()) cc->thread.join();
          cc->running = false;
          if (cc->orphaned) {
            delete cc;
            return;
          }
          if (cc->stopped) {
            cc->stopped->Resolve(cc->stopped->Env().Undefined());
            delete cc->stopped;
            cc->stopped = nullptr;
          }
        });
    c->running = true;
    c->thread = std::thread(ConsumeLoop, c);
    consumer_ = c;
    return env.Undefined();
  }

  // stop(): detaches every program, then drains the ring. The Promise resolves once every
  // record the kernel wrote has been delivered, so that produced = delivered + dropped.
  Napi::Value Stop(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto deferred = Napi::Promise::Deferred::New(env);
    DetachAll();
    if (!consumer_ || !consumer_->running) {
      deferred.Resolve(env.Undefined());
      return deferred.Promise();
    }
    consumer_->stopped = new Napi::Promise::Deferred(deferred);
    consumer_->stop = true;
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
        int own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        if (own < 0) ThrowBpfError(env, "open /proc/thread-self/ns/net", errno);
        // Counting states only in our own namespace: no seq_num reaches this.
        skel_->bss->iter_next_seq = ~0ULL;
        uint32_t nfailed = 0;
        for (auto& path : others) {
          int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
          if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
            int err = errno;
            if (fd >= 0) close(fd);
            Napi::Object f = Napi::Object::New(env);
            f.Set("path", path);
            f.Set("errno", err);
            f.Set("code", ErrnoName(err));
            failed.Set(nfailed++, f);
            continue;
          }
          close(fd);
          std::string error;
          int err = 0;
          try {
            RunIterator(env, "iter_tcp", out);
          } catch (const Napi::Error& e) {
            error = e.Message();
            err = EIO;
          }
          if (setns(own, CLONE_NEWNET) != 0) {
            // This thread would stay in another namespace: nothing sane can follow.
            fprintf(stderr, "tcpotel: cannot return to the own network namespace (errno %d)\n", errno);
            abort();
          }
          if (err) {
            Napi::Object f = Napi::Object::New(env);
            f.Set("path", path);
            f.Set("errno", err);
            f.Set("code", error);
            failed.Set(nfailed++, f);
          }
        }
        close(own);
      }
    } catch (...) {
      skel_->bss->iter_mode = 0;
      throw;
    }
    skel_->bss->iter_mode = 0;
    Napi::Object result = Napi::Object::New(env);
    result.Set("records", Napi::Buffer<uint8_t>::Copy(env, out.data(), out.size()));
    result.Set("failed", failed);
    return result;
  }

  Napi::Value StateCounts(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    Napi::Object out = Napi::Object::New(env);
    Napi::Array v4 = Napi::Array::New(env, TCPOTEL_TCP_STATES);
    Napi::Array v6 = Napi::Array::New(env, TCPOTEL_TCP_STATES);
    for (uint32_t i = 0; i < TCPOTEL_TCP_STATES; i++) {
      v4.Set(i, (double)skel_->bss->state_counts.v4[i]);
      v6.Set(i, (double)skel_->bss->state_counts.v6[i]);
    }
    out.Set("v4", v4);
    out.Set("v6", v6);
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
    }
    Napi::Object out = Napi::Object::New(env);
    Napi::Array produced = Napi::Array::New(env, TCPOTEL_EV_KINDS);
    Napi::Array dropped = Napi::Array::New(env, TCPOTEL_EV_KINDS);
    for (uint32_t k = 0; k < TCPOTEL_EV_KINDS; k++) {
      produced.Set(k, (double)sum.produced[k]);
      dropped.Set(k, (double)sum.dropped[k]);
    }
    out.Set("produced", produced);
    out.Set("dropped", dropped);
    out.Set("untracked", (double)sum.untracked);
    out.Set("filtered", (double)sum.filtered);
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
        if (bpf_obj_get_info_by_fd(fd, &pinfo, &len) == 0) p.Set("id", pinfo.id);
      }
      bool attached = false;
      for (auto& l : links_) attached = attached || l.name == bpf_program__name(prog);
      p.Set("attached", attached);
      out.Set(i++, p);
    }
    return out;
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
      c->stop = true;
      bool finalizer_pending = c->running;
      if (finalizer_pending) c->tsfn.Abort();
      if (c->thread.joinable()) c->thread.join();
      ring_buffer__free(c->rb);
      c->rb = nullptr;
      if (c->stopped) {
        c->stopped->Resolve(c->stopped->Env().Undefined());
        delete c->stopped;
        c->stopped = nullptr;
      }
      if (finalizer_pending)
        c->orphaned = true;  // the function's finalizer, still to run on this thread, frees it
      else
        delete c;
    }
    DetachAll();
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
        ThrowBpfError(env, "read iterator " + name, err);
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
};

// ---------- feature probes ----------

// probe(program): load (and attach) one probe program; { ok, op, errno, code, message }.
Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].ToString();
  bool attach = info.Length() < 2 || info[1].ToBoolean();
  libbpf_set_print(OnLibbpfPrint);
  Napi::Object out = Napi::Object::New(env);
  auto fail = [&](const std::string& op, int err) {
    if (err < 0) err = -err;
    if (!err) err = EINVAL;
    out.Set("ok", false);
    out.Set("op", op);
    out.Set("errno", Napi::Number::New(env, err));
    out.Set("code", ErrnoName(err));
    out.Set("message", op + ": " + strerror(err));
    out.Set("log", TakeLog());
    return out;
  };
  errno = 0;
  probe_bpf* skel = probe_bpf__open();
  if (!skel) return fail("open", errno);
  bpf_program* target = nullptr;
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel->obj) {
    bool wanted = name == bpf_program__name(prog);
    if (wanted) target = prog;
    bpf_program__set_autoload(prog, wanted);
  }
  if (!target) {
    probe_bpf__destroy(skel);
    throw Napi::Error::New(env, "no probe program named " + name);
  }
  TakeLog();
  int err = probe_bpf__load(skel);
  if (err) {
    probe_bpf__destroy(skel);
    return fail("load", err);
  }
  if (attach) {
    errno = 0;
    bpf_link* link = nullptr;
    if (bpf_program__type(target) == BPF_PROG_TYPE_SOCK_OPS) {
      std::string path = info.Length() > 2 && info[2].IsString() ? info[2].ToString().Utf8Value()
                                                                 : "/sys/fs/cgroup";
      int cfd = open(path.c_str(), O_RDONLY | O_DIRECTORY);
      if (cfd < 0) {
        int e = errno;
        probe_bpf__destroy(skel);
        return fail("open cgroup " + path, e);
      }
      link = bpf_program__attach_cgroup(target, cfd);
      int e = errno;
      close(cfd);
      errno = e;
    } else if (bpf_program__expected_attach_type(target) == BPF_TRACE_ITER) {
      link = bpf_program__attach_iter(target, nullptr);
      if (link) {
        int ifd = bpf_iter_create(bpf_link__fd(link));
        if (ifd < 0) {
          int e = errno;
          bpf_link__destroy(link);
          probe_bpf__destroy(skel);
          return fail("bpf_iter_create", e);
        }
        char buf[4096];
        while (read(ifd, buf, sizeof(buf)) > 0) {
        }
        close(ifd);
      }
    } else {
      link = bpf_program__attach(target);
    }
    if (!link) {
      int e = errno;
      probe_bpf__destroy(skel);
      return fail("attach", e);
    }
    bpf_link__destroy(link);
  }
  probe_bpf__destroy(skel);
  out.Set("ok", true);
  return out;
}

// tracefs(): where tracefs is, mounting it at /sys/kernel/tracing when missing (root only).
Napi::Value Tracefs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  bool mount_if_missing = info.Length() < 1 || info[0].ToBoolean();
  const char* candidates[] = {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"};
  for (const char* dir : candidates) {
    std::string events = std::string(dir) + "/events";
    if (access(events.c_str(), F_OK) == 0) {
      out.Set("ok", true);
      out.Set("path", dir);
      out.Set("mounted", false);
      return out;
    }
  }
  if (mount_if_missing) {
    if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nullptr) == 0) {
      out.Set("ok", true);
      out.Set("path", "/sys/kernel/tracing");
      out.Set("mounted", true);
      return out;
    }
    int err = errno;
    out.Set("errno", Napi::Number::New(env, err));
    out.Set("code", ErrnoName(err));
    out.Set("message", std::string("mount -t tracefs nodev /sys/kernel/tracing: ") + strerror(err));
  } else {
    out.Set("message", "tracefs is not mounted");
  }
  out.Set("ok", false);
  return out;
}

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
#undef OFF
  out.Set("eventSize", (double)sizeof(struct tcpotel_event));
  out.Set("offsets", off);
  out.Set("statsSize", (double)sizeof(struct tcpotel_stats));
  out.Set("kinds", (double)TCPOTEL_EV_KINDS);
  out.Set("maxPorts", (double)TCPOTEL_MAX_PORTS);
  return out;
}

// dropPrivileges(uid, gid): become an unprivileged user once everything is attached.
// Every thread loses every capability, except this (the JS) thread, which keeps CAP_BPF and
// CAP_PERFMON: the bpf() calls still to come (counters, iterators) run here. The ring
// buffer consumer only reads shared memory and needs none.
Napi::Value DropPrivileges(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uid_t uid = info[0].ToNumber().Uint32Value();
  gid_t gid = info[1].ToNumber().Uint32Value();
  auto fail = [&](const char* op) { ThrowBpfError(env, op, errno); };
  constexpr int kCapPerfmon = 38, kCapBpf = 39;
  // While still root (CAP_SETPCAP): the bounding set keeps only what this thread keeps, so
  // that nothing started later can be granted more, file capabilities included.
  for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++) {
    if (cap == kCapPerfmon || cap == kCapBpf) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) fail("prctl(PR_CAPBSET_DROP)");
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) fail("prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
  // No execve can raise privileges again (set-user-ID programs, file capabilities).
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail("prctl(PR_SET_NO_NEW_PRIVS)");
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) fail("prctl(PR_SET_KEEPCAPS)");
  if (setgroups(0, nullptr) < 0) fail("setgroups");  // glibc applies set*id to every thread
  if (setgid(gid) < 0) fail("setgid");
  if (setuid(uid) < 0) fail("setuid");
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};  // inheritable: none
  uint32_t keep = (1u << (kCapPerfmon - 32)) | (1u << (kCapBpf - 32));
  data[1].effective = keep;
  data[1].permitted = keep;
  if (syscall(SYS_capset, &hdr, data) < 0) fail("capset");
  prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
  return env.Undefined();
}

Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
  g_error_class = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Value LibbpfVersion(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), libbpf_version_string());
}

Napi::Value NumPossibleCpus(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), libbpf_num_possible_cpus());
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Tracer", Tracer::Init(env));
  exports.Set("probe", Napi::Function::New(env, Probe));
  exports.Set("tracefs", Napi::Function::New(env, Tracefs));
  exports.Set("layout", Napi::Function::New(env, Layout));
  exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClass));
  exports.Set("libbpfVersion", Napi::Function::New(env, LibbpfVersion));
  exports.Set("numPossibleCpus", Napi::Function::New(env, NumPossibleCpus));
  exports.Set("dropPrivileges", Napi::Function::New(env, DropPrivileges));
  return InitSockdiag(env, exports);
}

}  // namespace

NODE_API_MODULE(tcpotel, Init)
