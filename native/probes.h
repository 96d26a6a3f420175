// SPDX-License-Identifier: Apache-2.0
//
// Feature probes: whether this kernel loads (and attaches) each kind of program tcpotel may
// use, with tiny programs of their own (bpf/probe.bpf.c), before the real ones are chosen
// (src/receivers/ebpf/features.ts).
//
// Exports (InitProbes):
//   probe(program, attach = true, cgroupPath?): { ok, op?, errno?, code?, message?, log? }

#pragma once

#include <napi.h>

namespace tcpotel {

void InitProbes(Napi::Env env, Napi::Object exports);

}  // namespace tcpotel
