// SPDX-License-Identifier: Apache-2.0
//
// See consumer.h.

#include "consumer.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <memory>
#include <cstdio>
#include <cstring>
#include <string>

#include "errors.h"
#include <linux/types.h>  // tcpotel.h's __u32 and friends

#include "tcpotel.h"

namespace tcpotel {

namespace {

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
    // Stopped on its own: JS hears why (onChunk(undefined, NativeError)), then the function
    // is released as after stop().
    int err = c->failed_errno;
    std::string op = c->failed_op;
    napi_status st = c->tsfn.BlockingCall([err, op](Napi::Env env, Napi::Function cb) {
      if (!env) return;
      CallGuarded(env, cb, env.Undefined(), MakeNativeError(env, op, err).Value());
    });
    if (st != napi_ok) return;
  }
  c->tsfn.Release();
}
}  // namespace

Consumer* StartConsumer(Napi::Env env, int ring_fd, Napi::Function on_chunk, Napi::Value options) {
  std::unique_ptr<Consumer> owned(new Consumer());  // until the thread-safe function owns it
  Consumer* c = owned.get();
  if (options.IsObject()) {
    Napi::Object o = options.As<Napi::Object>();
    Napi::Value v = o.Get("pollMs");
    if (!v.IsUndefined()) c->poll_ms = (int)CheckedInt(env, v, "pollMs", 1, 3600000);
    Napi::Value m = o.Get("maxPendingBytes");
    if (!m.IsUndefined()) c->max_pending_bytes = std::max<size_t>(1 << 20, (size_t)CheckedInt(env, m, "maxPendingBytes", 0, 1ull << 40));
  }
  c->pending.reserve(c->reserve_bytes);
  errno = 0;
  c->rb = ring_buffer__new(ring_fd, OnRecord, c, nullptr);
  if (!c->rb) ThrowNativeError(env, "ring_buffer__new", errno ? errno : EINVAL);
  c->tsfn = Napi::ThreadSafeFunction::New(
      env, on_chunk, "tcpotel-ring", 4, 1, c,
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
  return c;
}

void DestroyConsumer(Consumer* c) {
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

}  // namespace tcpotel
