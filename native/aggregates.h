// SPDX-License-Identifier: Apache-2.0
//
// The in-kernel side of filters and aggregates: options from JS into the programs' read-only
// data and map sizes (filters: record consumers and aggregates; aggregates: keys, bounds,
// map type and size), and the reading of an aggregate's window (collect).

#pragma once

#include <napi.h>

#include <cstdint>

#include <linux/types.h>  // tcpotel.h's __u32 and friends

#include "tcpotel.h"
#include "tcpotel.skel.h"

namespace tcpotel {

// { conds: [{ kinds, negate, family, directions, ports: [[lo, hi]], local, remote }] }
void FillFilter(Napi::Env env, Napi::Value v, struct tcpotel_filter* f);

// opts.aggregates: [{ key, addr, port, maxSeries, bounds, filter, perCpu, nameKeyed, maxEntries }]
// and opts.aggregateKinds, before load. Each aggregate's bucket bound counts go to `nbounds`.
void SetupAggregates(Napi::Env env, tcpotel_bpf* skel, Napi::Object opts,
                     uint32_t nbounds[TCPOTEL_AGG_SLOTS][TCPOTEL_AGG_HISTS]);

// collect(slot): ends the window of in-kernel aggregate `slot` and returns its series:
// { rows, keySize, keys (Buffer of struct tcpotel_agg_key, keySize each: without the name
// when not keyed on it), counters (Float64Array, 10 per row: opened closed active tx rx
// retrans resets_sent resets_received segs_out segs_in), hists ([4] Float64Array,
// per row count sum min max and the buckets, in integer units), failedKeys, failedCounts }.
// The window's generation is flipped first, so that new updates go to a fresh window;
// after a moment for programs that read the old generation to finish (they run with
// preemption disabled: microseconds), the old one is read in batches and deleted.
// `attached`: programs may be running (then they get a moment to finish with the old window).
Napi::Object CollectWindow(Napi::Env env, tcpotel_bpf* skel, uint32_t slot,
                           const uint32_t nbounds[TCPOTEL_AGG_SLOTS][TCPOTEL_AGG_HISTS], bool attached);

}  // namespace tcpotel
