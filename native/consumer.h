// SPDX-License-Identifier: Apache-2.0
//
// The ring buffer's consumer thread: drains the kernel ring into a pending buffer, merges
// iterator runs into it in time order, and hands one chunk at a time to JS (onChunk) through
// a thread-safe function. A busy event loop costs memory here (up to max_pending_bytes)
// rather than drops in the kernel.

#pragma once

#include <napi.h>

#include <bpf/libbpf.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace tcpotel {

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


// Starts the consumer thread of the ring buffer map `ring_fd`: records go to on_chunk.
// options: { pollMs, maxPendingBytes }. Throws a NativeError when the ring cannot be opened.
Consumer* StartConsumer(Napi::Env env, int ring_fd, Napi::Function on_chunk, Napi::Value options);

// Stops the thread at once (what it had not delivered is dropped), frees the ring, resolves
// a pending stop(), and frees the consumer (or leaves that to the function's finalizer).
void DestroyConsumer(Consumer* c);

}  // namespace tcpotel
