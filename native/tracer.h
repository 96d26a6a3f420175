// SPDX-License-Identifier: Apache-2.0
//
// The tracer: a thin N-API layer over libbpf's skeleton of bpf/tcpotel.bpf.c: open, set
// read-only data, load, attach, consume (consumer.h), iterate, read counters and kernel
// aggregates (aggregates.h), close. Decoding and every decision live in TypeScript
// (src/receivers/ebpf/; the typed surface is src/native/tracer.ts).

#pragma once

#include <napi.h>

namespace tcpotel {

// The Tracer class: new Tracer(options), then load(), attach(), start(onChunk), ...
Napi::Function TracerClass(Napi::Env env);

}  // namespace tcpotel
