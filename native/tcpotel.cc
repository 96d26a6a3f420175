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
#include <cstdlib>
#include <cstring>
#include <cstdio>
#include <fcntl.h>
#include <malloc.h>
#include <memory>
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
  // One message can be a whole verifier log: format it whole, keep its end (where the
  // verifier says why) within kLogMax.
  va_list copy;
  va_copy(copy, args);
  int n = vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  if (n <= 0) return 0;
  std::string line((size_t)n + 1, '\0');
  vsnprintf(line.data(), line.size(), fmt, args);
  line.resize((size_t)n);
  std::lock_guard<std::mutex> lock(g_log_mutex);
  g_log.append(line);
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

// One BpfError(op, errno) for a libbpf failure.
Napi::Error MakeBpfError(Napi::Env env, const std::string& op, int err) {
  if (err < 0) err = -err;
  std::string message = op + " failed: " + strerror(err);
  Napi::Object props = Napi::Object::New(env);
  props.Set("message", message);
  props.Set("op", op);
  props.Set("errno", Napi::Number::New(env, err));
  props.Set("code", ErrnoName(err));
  props.Set("log", TakeLog());
  if (!g_error_class.IsEmpty()) return Napi::Error(env, g_error_class.New({props}));
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("op", op);
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("code", ErrnoName(err));
  return e;
}

// Every libbpf failure goes through here.
[[noreturn]] void ThrowBpfError(Napi::Env env, const std::string& op, int err) { throw MakeBpfError(env, op, err); }

// A number from JS that must be a whole number within [lo, hi]: anything else (NaN,
// fractions, negative sizes, 2^32 and more) is a RangeError naming the option, not a
// silently wrapped cast.
uint64_t CheckedInt(Napi::Env env, Napi::Value v, const char* what, uint64_t lo, uint64_t hi) {
  if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string(what) + ": not a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= (double)lo && d <= (double)hi) || d != (double)(uint64_t)d)
    throw Napi::RangeError::New(env, std::string(what) + ": " + std::to_string(d) + " is not a whole number in " +
                                         std::to_string(lo) + ".." + std::to_string(hi));
  return (uint64_t)d;
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

// Chunk buffers handed to JS come back here when JS lets go of them (the Buffer's
// finalizer): a busy ring then reuses a few large allocations instead of making one per
// wake-up. Bounded: beyond kPoolMax, returned chunks are freed.
class ChunkPool {
 public:
  Chunk* Take(size_t reserve) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!free_.empty()) {
        Chunk* c = free_.back();
        free_.pop_back();
        c->clear();
        return c;
      }
    }
    auto* c = new Chunk();
    c->reserve(reserve);
    return c;
  }
  void Give(Chunk* c) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (free_.size() < kPoolMax && c->capacity() <= kKeepBytes) {
      free_.push_back(c);
      return;
    }
    delete c;
  }
  ~ChunkPool() {
    for (Chunk* c : free_) delete c;
  }

 private:
  static constexpr size_t kPoolMax = 8;
  static constexpr size_t kKeepBytes = 8u << 20;
  std::mutex mutex_;
  std::vector<Chunk*> free_;
};

ChunkPool g_chunks;

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
  std::atomic<uint64_t> bad_records{0};  // records of an unexpected size, skipped
  // Why the consumer stopped on its own (a ring poll error): reported to JS, not swallowed.
  int failed_errno = 0;
  const char* failed_op = nullptr;
  std::atomic<int> inject_errno{0};  // tests: the next poll fails with this errno
  // One chunk at a time: the next is handed over only once JS has taken the last one and
  // a moment has passed, so that Node's dispatch of thread-safe calls (up to 1000 per
  // loop turn) finds its queue empty and the event loop turns (timers, I/O) between chunks.
  std::atomic<bool> in_flight{false};
  std::atomic<int64_t> taken_ns{0};
  // Iterator runs (snapshot, live samples) waiting to be merged into the stream: records
  // reach JS in the order the kernel made them, so a sample never overtakes the open
  // record of its connection still in the ring (or a close its sample).
  std::mutex iter_mutex;
  std::vector<Chunk> iter_queue;
};

// Merges records of an iterator run into `pending` by timestamp (ts_ns comes first in a
// record). Ring records are in ring order; a record of the run goes after every ring
// record made before it.
void MergeByTime(Chunk& pending, const Chunk& run) {
  constexpr size_t kSize = sizeof(struct tcpotel_event);
  auto ts = [](const uint8_t* r) {
    uint64_t t;
    memcpy(&t, r, sizeof(t));
    return t;
  };
  Chunk out;
  out.reserve(pending.size() + run.size());
  size_t a = 0, b = 0;
  while (a + kSize <= pending.size() && b + kSize <= run.size()) {
    if (ts(&pending[a]) <= ts(&run[b])) {
      out.insert(out.end(), pending.begin() + a, pending.begin() + a + kSize);
      a += kSize;
    } else {
      out.insert(out.end(), run.begin() + b, run.begin() + b + kSize);
      b += kSize;
    }
  }
  out.insert(out.end(), pending.begin() + a, pending.end());
  out.insert(out.end(), run.begin() + b, run.end());
  pending.swap(out);
}

// Takes queued iterator runs: first everything the ring holds by now, then the merge.
void TakeIteratorRuns(Consumer* c) {
  std::vector<Chunk> runs;
  {
    std::lock_guard<std::mutex> lock(c->iter_mutex);
    runs.swap(c->iter_queue);
  }
  if (runs.empty()) return;
  ring_buffer__consume(c->rb);
  for (auto& run : runs) MergeByTime(c->pending, run);
}

int OnRecord(void* ctx, void* data, size_t size) {
  auto* c = static_cast<Consumer*>(ctx);
  auto* bytes = static_cast<uint8_t*>(data);
  // Every record the programs write is one struct tcpotel_event: anything else would
  // shift the rest of the chunk. Counted and skipped.
  if (size != sizeof(struct tcpotel_event)) {
    c->bad_records.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }
  c->pending.insert(c->pending.end(), bytes, bytes + size);
  return 0;
}

// Calls onChunk(records, error) so that an exception it throws is neither uncaught nor
// lost: it is handed back to onChunk as (undefined, error), once; if that throws too,
// it is written to stderr.
void CallGuarded(Napi::Env env, Napi::Function cb, napi_value records, napi_value error) {
  try {
    cb.Call({records, error});
    return;
  } catch (const Napi::Error& e) {
    if (error != nullptr && !Napi::Value(env, error).IsUndefined()) {
      fprintf(stderr, "tcpotel: the records callback threw while handling an error: %s\n", e.Message().c_str());
      return;
    }
    Napi::Error wrapped = Napi::Error::New(env, "the records callback threw: " + e.Message());
    wrapped.Set("cause", e.Value());
    try {
      cb.Call({env.Undefined(), wrapped.Value()});
    } catch (const Napi::Error& e2) {
      fprintf(stderr, "tcpotel: the records callback threw while handling an error: %s\n", e2.Message().c_str());
    }
  }
}

void DeliverChunk(Napi::Env env, Napi::Function cb, Chunk* chunk) {
  if (!env) {  // the function is being torn down
    g_chunks.Give(chunk);
    return;
  }
  auto buf = Napi::Buffer<uint8_t>::New(
      env, chunk->data(), chunk->size(), [](Napi::Env, uint8_t*, Chunk* c) { g_chunks.Give(c); }, chunk);
  CallGuarded(env, cb, buf, env.Undefined());
}

// Hands the records gathered so far to JS without waiting: when JS is busy (the queue is
// full), they stay in `pending` and the loop goes on draining the kernel ring into it, so
// that a busy event loop costs memory here rather than drops in the kernel. `block` is for
// the last hand-over at stop, when JS is waiting for it.
enum class Handed { kYes, kLater, kClosing };

int64_t MonotonicNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

constexpr int64_t kTurnGapNs = 500 * 1000;  // after JS took a chunk, before the next

Handed Flush(Consumer* c, bool block) {
  if (c->pending.empty()) return Handed::kYes;
  if (!block && (c->in_flight.load() || MonotonicNs() - c->taken_ns.load() < kTurnGapNs)) return Handed::kLater;
  Chunk* chunk = g_chunks.Take(c->reserve_bytes);
  chunk->swap(c->pending);  // pending takes the pooled (empty, reserved) buffer
  auto deliver = [c](Napi::Env env, Napi::Function cb, Chunk* ch) {
    DeliverChunk(env, cb, ch);
    c->taken_ns = MonotonicNs();
    c->in_flight = false;
  };
  c->in_flight = true;
  napi_status st = block ? c->tsfn.BlockingCall(chunk, deliver) : c->tsfn.NonBlockingCall(chunk, deliver);
  if (st != napi_ok) c->in_flight = false;
  if (st == napi_ok) {
    if (c->pending.capacity() < c->reserve_bytes) c->pending.reserve(c->reserve_bytes);
    return Handed::kYes;
  }
  chunk->swap(c->pending);
  g_chunks.Give(chunk);
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
    int injected = c->inject_errno.exchange(0);
    int n = injected ? -injected : ring_buffer__poll(c->rb, c->poll_ms);
    if (n < 0 && n != -EINTR) {
      c->failed_errno = -n;
      c->failed_op = "ring_buffer__poll";
      break;
    }
    if (n == 0) n = ring_buffer__consume(c->rb);
    if (n < 0 && n != -EINTR) {
      c->failed_errno = -n;
      c->failed_op = "ring_buffer__consume";
      break;
    }
    TakeIteratorRuns(c);
    if (Flush(c, false) == Handed::kClosing) return;
  }
  // Graceful stop: what the kernel wrote before the programs were detached still arrives.
  ring_buffer__consume(c->rb);
  TakeIteratorRuns(c);
  if (Flush(c, true) != Handed::kYes) return;
  if (c->failed_errno) {
    // Stopped on its own: JS hears why (onChunk(undefined, BpfError)), then the function
    // is released as after stop().
    int err = c->failed_errno;
    std::string op = c->failed_op;
    napi_status st = c->tsfn.BlockingCall([err, op](Napi::Env env, Napi::Function cb) {
      if (!env) return;
      CallGuarded(env, cb, env.Undefined(), MakeBpfError(env, op, err).Value());
    });
    if (st != napi_ok) return;
  }
  c->tsfn.Release();
}

// ---------- in-kernel filters and aggregates (options from JS) ----------

// { conds: [{ kinds, negate, family, directions, ports: [[lo, hi]], local, remote }] }
void FillFilter(Napi::Env env, Napi::Value v, struct tcpotel_filter* f) {
  memset(f, 0, sizeof(*f));
  if (!v.IsObject()) return;
  Napi::Value cv = v.As<Napi::Object>().Get("conds");
  if (!cv.IsArray()) return;
  Napi::Array conds = cv.As<Napi::Array>();
  if (conds.Length() > TCPOTEL_CONDS) throw Napi::RangeError::New(env, "too many filter conditions");
  f->nconds = conds.Length();
  for (uint32_t i = 0; i < conds.Length(); i++) {
    Napi::Object c = conds.Get(i).As<Napi::Object>();
    struct tcpotel_cond* d = &f->conds[i];
    auto num = [&](const char* key) {
      Napi::Value n = c.Get(key);
      return n.IsNumber() ? n.As<Napi::Number>().Uint32Value() : 0u;
    };
    d->kinds = num("kinds");
    d->negate = c.Get("negate").ToBoolean() ? 1 : 0;
    d->family = (uint8_t)num("family");
    d->directions = (uint8_t)num("directions");
    auto ranges = [&](const char* key, struct tcpotel_port_range* out, uint8_t* n) {
      Napi::Value rv = c.Get(key);
      if (!rv.IsArray()) return;
      Napi::Array r = rv.As<Napi::Array>();
      if (r.Length() > TCPOTEL_PORT_RANGES) throw Napi::RangeError::New(env, "too many port ranges");
      *n = (uint8_t)r.Length();
      for (uint32_t j = 0; j < r.Length(); j++) {
        Napi::Array pair = r.Get(j).As<Napi::Array>();
        out[j].lo = (uint16_t)pair.Get(0u).ToNumber().Uint32Value();
        out[j].hi = (uint16_t)pair.Get(1u).ToNumber().Uint32Value();
      }
    };
    ranges("ports", d->ports, &d->nports);
    ranges("local", d->local, &d->nlocal);
    ranges("remote", d->remote, &d->nremote);
  }
}

// Sums one series' per-CPU values (or takes the one shared value).
void SumValues(const uint8_t* v, int ncpu, size_t stride, struct tcpotel_agg_value* out) {
  memset(out, 0, sizeof(*out));
  for (int cpu = 0; cpu < ncpu; cpu++) {
    const auto* x = reinterpret_cast<const struct tcpotel_agg_value*>(v + cpu * stride);
    out->opened += x->opened;
    out->closed += x->closed;
    out->active += x->active;
    out->tx += x->tx;
    out->rx += x->rx;
    out->retrans += x->retrans;
    out->resets_sent += x->resets_sent;
    out->resets_received += x->resets_received;
    out->segs_out += x->segs_out;
    out->segs_in += x->segs_in;
    out->failed += x->failed;
    for (int h = 0; h < TCPOTEL_AGG_HISTS; h++) {
      const auto& a = x->hist[h];
      auto& b = out->hist[h];
      if (!a.count) continue;
      b.count += a.count;
      b.sum += a.sum;
      b.max = std::max(b.max, a.max);
      b.inv_min = std::max(b.inv_min, a.inv_min);
      for (int i = 0; i < TCPOTEL_AGG_BUCKETS; i++) b.buckets[i] += a.buckets[i];
    }
  }
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
    // The ring: a power of two of pages, at most 2^31 (the kernel's limit for max_entries' use here).
    uint64_t ring = num("ringBytes", 16 << 20, 4096, 1ull << 31);
    if (ring & (ring - 1)) throw Napi::RangeError::New(env, "ringBytes: " + std::to_string(ring) + " is not a power of two");
    BPF_CHECK(env, bpf_map__set_max_entries(skel_->maps.events, (uint32_t)ring), "set ring buffer size");
    BPF_CHECK(env, bpf_map__set_max_entries(skel_->maps.socks, (uint32_t)num("maxSockets", 131072, 1, UINT32_MAX)),
              "set socket map size");

    // Records: the kinds some pipeline takes as events, and those pipelines' filters.
    skel_->rodata->record_kinds = (uint32_t)num("recordKinds", ~0u, 0, UINT32_MAX);
    if (opts.Get("consumers").IsArray()) {
      Napi::Array cs = opts.Get("consumers").As<Napi::Array>();
      if (cs.Length() > TCPOTEL_CONSUMERS) throw Napi::RangeError::New(env, "too many record consumers");
      skel_->rodata->nconsumers = cs.Length();
      for (uint32_t i = 0; i < cs.Length(); i++) FillFilter(env, cs.Get(i), &skel_->rodata->consumers[i]);
    }

    // Aggregates computed in the kernel: { key, addr, port, maxSeries, bounds, filter, perCpu, maxEntries }
    if (opts.Get("aggregates").IsArray()) {
      Napi::Array aggs = opts.Get("aggregates").As<Napi::Array>();
      if (aggs.Length() > TCPOTEL_AGG_SLOTS) throw Napi::RangeError::New(env, "too many kernel aggregates");
      skel_->rodata->agg_slots = aggs.Length();
      skel_->rodata->agg_kinds = (uint32_t)CheckedInt(env, opts.Get("aggregateKinds"), "aggregateKinds", 0, UINT32_MAX);
      for (uint32_t i = 0; i < aggs.Length(); i++) {
        Napi::Object a = aggs.Get(i).As<Napi::Object>();
        struct tcpotel_agg_spec* spec = &skel_->rodata->agg_spec[i];
        spec->key = (uint32_t)CheckedInt(env, a.Get("key"), "aggregates.key", 0, UINT32_MAX);
        if (!a.Get("addr").IsArray() || !a.Get("port").IsArray())
          throw Napi::TypeError::New(env, "aggregates: addr and port must be arrays");
        for (uint32_t j = 0; j < 2; j++) {
          spec->addr[j] = (uint8_t)CheckedInt(env, a.Get("addr").As<Napi::Array>().Get(j), "aggregates.addr", 0, 255);
          spec->port[j] = (uint8_t)CheckedInt(env, a.Get("port").As<Napi::Array>().Get(j), "aggregates.port", 0, 255);
        }
        spec->max_series = (uint32_t)CheckedInt(env, a.Get("maxSeries"), "aggregates.maxSeries", 1, UINT32_MAX);
        if (!a.Get("bounds").IsArray()) throw Napi::TypeError::New(env, "aggregates: bounds must be an array");
        Napi::Array bounds = a.Get("bounds").As<Napi::Array>();
        for (uint32_t h = 0; h < TCPOTEL_AGG_HISTS; h++) {
          if (!bounds.Get(h).IsArray()) throw Napi::TypeError::New(env, "aggregates: bounds must be arrays");
          Napi::Array b = bounds.Get(h).As<Napi::Array>();
          if (b.Length() > TCPOTEL_AGG_BOUNDS) throw Napi::RangeError::New(env, "too many bucket bounds");
          spec->nbounds[h] = b.Length();
          agg_nbounds_[i][h] = b.Length();
          for (uint32_t k = 0; k < b.Length(); k++)
            spec->bounds[h][k] = CheckedInt(env, b.Get(k), "aggregates.bounds", 0, 1ull << 53);
        }
        FillFilter(env, a.Get("filter"), &spec->filter);
        bpf_map* map = AggMap(i);
        // Keyed on the server name or not: the key stops before the name when not.
        BPF_CHECK(env,
                  bpf_map__set_key_size(map, a.Get("nameKeyed").ToBoolean()
                                                 ? sizeof(struct tcpotel_agg_key)
                                                 : offsetof(struct tcpotel_agg_key, name)),
                  "set aggregate key size");
        if (a.Get("perCpu").ToBoolean())
          BPF_CHECK(env, bpf_map__set_type(map, BPF_MAP_TYPE_PERCPU_HASH), "set aggregate map type");
        BPF_CHECK(env, bpf_map__set_max_entries(map, (uint32_t)CheckedInt(env, a.Get("maxEntries"), "aggregates.maxEntries", 1, UINT32_MAX)),
                  "set aggregate map size");
      }
    }

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
        if (cfd < 0) ThrowBpfError(env, "open cgroup " + cgroup_path_, errno);
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
    std::unique_ptr<Consumer> owned(new Consumer());  // until the thread-safe function owns it
    Consumer* c = owned.get();
    if (info[1].IsObject()) {
      Napi::Object o = info[1].As<Napi::Object>();
      Napi::Value v = o.Get("pollMs");
      if (!v.IsUndefined()) c->poll_ms = (int)CheckedInt(env, v, "pollMs", 1, 3600000);
      Napi::Value m = o.Get("maxPendingBytes");
      if (!m.IsUndefined()) c->max_pending_bytes = std::max<size_t>(1 << 20, (size_t)CheckedInt(env, m, "maxPendingBytes", 0, 1ull << 40));
    }
    c->pending.reserve(c->reserve_bytes);
    errno = 0;
    c->rb = ring_buffer__new(bpf_map__fd(skel_->maps.events), OnRecord, c, nullptr);
    if (!c->rb) ThrowBpfError(env, "ring_buffer__new", errno ? errno : EINVAL);
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
    owned.release();
    c->running = true;
    c->thread = std::thread(ConsumeLoop, c);
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
        int own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        if (own < 0) ThrowBpfError(env, "open /proc/thread-self/ns/net", errno);
        // Closes `own` however this block is left.
        struct FdCloser {
          int fd;
          ~FdCloser() { close(fd); }
        } own_closer{own};
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
          {
            // Back to our own namespace however the iterator run ends (an error, bad_alloc).
            struct Return {
              int own;
              ~Return() {
                if (setns(own, CLONE_NEWNET) != 0) {
                  // This thread would stay in another namespace: nothing sane can follow.
                  fprintf(stderr, "tcpotel: cannot return to the own network namespace (errno %d)\n", errno);
                  abort();
                }
              }
            } back{own};
            try {
              RunIterator(env, "iter_tcp", out);
            } catch (const Napi::Error& e) {
              error = e.Message();
              err = EIO;
            }
          }
          if (err) {
            Napi::Object f = Napi::Object::New(env);
            f.Set("path", path);
            f.Set("errno", err);
            f.Set("code", error);
            failed.Set(nfailed++, f);
          }
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
      for (int a = 0; a < TCPOTEL_AGG_SLOTS; a++) {
        sum.agg_overflow[a] += s.agg_overflow[a];
        sum.agg_map_full[a] += s.agg_map_full[a];
      }
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
    Napi::Array overflow = Napi::Array::New(env, TCPOTEL_AGG_SLOTS);
    Napi::Array full = Napi::Array::New(env, TCPOTEL_AGG_SLOTS);
    for (uint32_t a = 0; a < TCPOTEL_AGG_SLOTS; a++) {
      overflow.Set(a, (double)sum.agg_overflow[a]);
      full.Set(a, (double)sum.agg_map_full[a]);
    }
    out.Set("aggregateOverflow", overflow);
    out.Set("aggregateMapFull", full);
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

  bpf_map* AggMap(uint32_t slot) {
    switch (slot) {
      case 0: return skel_->maps.agg0;
      case 1: return skel_->maps.agg1;
      case 2: return skel_->maps.agg2;
      default: return skel_->maps.agg3;
    }
  }

  // collect(slot): ends the window of in-kernel aggregate `slot` and returns its series:
  // { rows, keySize, keys (Buffer of struct tcpotel_agg_key, keySize each: without the name
  // when not keyed on it), counters (Float64Array, 10 per row: opened closed active tx rx
  // retrans resets_sent resets_received segs_out segs_in), hists ([4] Float64Array,
  // per row count sum min max and the buckets, in integer units), failedKeys, failedCounts }.
  // The window's generation is flipped first, so that new updates go to a fresh window;
  // after a moment for programs that read the old generation to finish (they run with
  // preemption disabled: microseconds), the old one is read in batches and deleted.
  Napi::Value Collect(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    uint32_t slot = info[0].ToNumber().Uint32Value();
    if (slot >= skel_->rodata->agg_slots) throw Napi::RangeError::New(env, "no such kernel aggregate");
    bpf_map* map = AggMap(slot);
    int fd = bpf_map__fd(map);
    uint8_t old = skel_->bss->agg_gen[slot] & 1;
    __atomic_store_n(&skel_->bss->agg_gen[slot], (uint8_t)(old ^ 1), __ATOMIC_RELEASE);
    if (!links_.empty()) usleep(100);

    bool percpu = bpf_map__type(map) == BPF_MAP_TYPE_PERCPU_HASH;
    int ncpu = percpu ? libbpf_num_possible_cpus() : 1;
    BPF_CHECK(env, ncpu, "libbpf_num_possible_cpus");
    const size_t ksize = bpf_map__key_size(map);
    const size_t stride = (sizeof(struct tcpotel_agg_value) + 7) & ~size_t(7);
    uint32_t batch = 512;
    std::vector<uint8_t> keys((size_t)batch * ksize);
    std::vector<uint8_t> vals((size_t)batch * stride * ncpu);
    std::vector<uint8_t> rows, failed_keys, doomed;
    std::vector<double> counters, failed_counts;
    std::vector<double> hists[TCPOTEL_AGG_HISTS];
    uint32_t hstride[TCPOTEL_AGG_HISTS];
    for (int h = 0; h < TCPOTEL_AGG_HISTS; h++) hstride[h] = 4 + agg_nbounds_[slot][h] + 1;
    uint64_t in_tok = 0, out_tok = 0;
    bool first = true;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    size_t nrows = 0;
    for (;;) {
      uint32_t count = batch;
      int err = bpf_map_lookup_batch(fd, first ? nullptr : &in_tok, &out_tok, keys.data(), vals.data(), &count, &opts);
      if (err < 0 && err != -ENOENT) {
        if (err == -ENOSPC && batch < (1u << 20)) {  // one hash bucket holds more than a batch
          batch *= 4;
          keys.resize((size_t)batch * ksize);
          vals.resize((size_t)batch * stride * ncpu);
          continue;
        }
        ThrowBpfError(env, "read kernel aggregate", err);
      }
      for (uint32_t i = 0; i < count; i++) {
        // The key's fields before the name are always there (a shorter key stops at it).
        struct tcpotel_agg_key k{};
        memcpy(&k, keys.data() + (size_t)i * ksize, ksize);
        if (k.gen != old) continue;
        const uint8_t* kb = keys.data() + (size_t)i * ksize;
        doomed.insert(doomed.end(), kb, kb + ksize);
        struct tcpotel_agg_value sum;
        SumValues(vals.data() + (size_t)i * stride * ncpu, ncpu, stride, &sum);
        if (k.errcode) {
          failed_keys.insert(failed_keys.end(), kb, kb + ksize);
          failed_counts.push_back((double)sum.failed);
          continue;
        }
        rows.insert(rows.end(), kb, kb + ksize);
        nrows++;
        counters.insert(counters.end(), {(double)sum.opened, (double)sum.closed, (double)sum.active, (double)sum.tx,
                                         (double)sum.rx, (double)sum.retrans, (double)sum.resets_sent,
                                         (double)sum.resets_received, (double)sum.segs_out, (double)sum.segs_in});
        for (int h = 0; h < TCPOTEL_AGG_HISTS; h++) {
          const auto& x = sum.hist[h];
          hists[h].push_back((double)x.count);
          hists[h].push_back((double)x.sum);
          hists[h].push_back(x.count ? (double)~x.inv_min : 0);
          hists[h].push_back(x.count ? (double)x.max : 0);
          for (uint32_t b = 0; b + 4 < hstride[h]; b++) hists[h].push_back((double)x.buckets[b]);
        }
      }
      if (err == -ENOENT) break;
      in_tok = out_tok;
      first = false;
    }
    const size_t ndoomed = doomed.size() / ksize;
    for (size_t at = 0; at < ndoomed; at += 4096) {
      uint32_t n = (uint32_t)std::min<size_t>(4096, ndoomed - at);
      int err = bpf_map_delete_batch(fd, doomed.data() + at * ksize, &n, &opts);
      if (err < 0 && err != -ENOENT) ThrowBpfError(env, "clear kernel aggregate", err);
    }
    skel_->bss->agg_series[slot][old] = 0;

    auto f64 = [&](const std::vector<double>& v) {
      Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, v.size() * sizeof(double));
      if (!v.empty()) memcpy(ab.Data(), v.data(), v.size() * sizeof(double));
      return Napi::Float64Array::New(env, v.size(), ab, 0);
    };
    Napi::Object out = Napi::Object::New(env);
    out.Set("rows", (double)nrows);
    out.Set("keySize", (double)ksize);
    out.Set("keys", Napi::Buffer<uint8_t>::Copy(env, rows.data(), rows.size()));
    out.Set("counters", f64(counters));
    Napi::Array h = Napi::Array::New(env, TCPOTEL_AGG_HISTS);
    for (uint32_t i = 0; i < TCPOTEL_AGG_HISTS; i++) h.Set(i, f64(hists[i]));
    out.Set("hists", h);
    out.Set("failedKeys", Napi::Buffer<uint8_t>::Copy(env, failed_keys.data(), failed_keys.size()));
    out.Set("failedCounts", f64(failed_counts));
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
  Napi::ObjectReference stop_promise_;  // the promise of a stop() under way
  uint32_t agg_nbounds_[TCPOTEL_AGG_SLOTS][TCPOTEL_AGG_HISTS] = {};
  std::string cgroup_path_ = "/sys/fs/cgroup";
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
    if (bpf_program__type(target) == BPF_PROG_TYPE_SOCK_OPS || bpf_program__type(target) == BPF_PROG_TYPE_CGROUP_SKB) {
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
  OFF(lost); OFF(proto); OFF(http_method); OFF(tls_version); OFF(name);
#undef OFF
  Napi::Object key = Napi::Object::New(env);
#define KOFF(f) key.Set(#f, (double)offsetof(struct tcpotel_agg_key, f))
  KOFF(gen); KOFF(overflow); KOFF(family); KOFF(role); KOFF(errcode); KOFF(port); KOFF(proto); KOFF(pid);
  KOFF(netns); KOFF(cgroup); KOFF(addr); KOFF(comm); KOFF(name);
#undef KOFF
  key.Set("size", (double)sizeof(struct tcpotel_agg_key));
  out.Set("aggKey", key);
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

// enableStats(): turns on the kernel's BPF run-time statistics (run_cnt, run_time_ns) for
// as long as the returned fd is open; closeFd(fd) turns them off again.
Napi::Value EnableStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (fd < 0) ThrowBpfError(env, "bpf_enable_stats", fd);
  return Napi::Number::New(env, fd);
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  close(info[0].ToNumber().Int32Value());
  return info.Env().Undefined();
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
  // glibc's mmap threshold grows with every large block freed, after which such blocks come
  // from the heap and stay in RSS: fixed at 128 KiB (as MALLOC_MMAP_THRESHOLD_=131072 would),
  // so that tcpotel's memory bound holds however it is started. The variable still wins.
  if (!getenv("MALLOC_MMAP_THRESHOLD_")) mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  exports.Set("Tracer", Tracer::Init(env));
  exports.Set("probe", Napi::Function::New(env, Probe));
  exports.Set("tracefs", Napi::Function::New(env, Tracefs));
  exports.Set("layout", Napi::Function::New(env, Layout));
  exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClass));
  exports.Set("libbpfVersion", Napi::Function::New(env, LibbpfVersion));
  exports.Set("numPossibleCpus", Napi::Function::New(env, NumPossibleCpus));
  exports.Set("dropPrivileges", Napi::Function::New(env, DropPrivileges));
  exports.Set("enableStats", Napi::Function::New(env, EnableStats));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd));
  return InitSockdiag(env, exports);
}

}  // namespace

NODE_API_MODULE(tcpotel, Init)
