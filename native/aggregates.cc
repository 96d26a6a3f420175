// SPDX-License-Identifier: Apache-2.0
//
// See aggregates.h.

#include "aggregates.h"

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <unistd.h>
#include <vector>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "errors.h"

namespace tcpotel {

namespace {

bpf_map* AggMap(tcpotel_bpf* skel, uint32_t slot) {
  switch (slot) {
    case 0: return skel->maps.agg0;
    case 1: return skel->maps.agg1;
    case 2: return skel->maps.agg2;
    default: return skel->maps.agg3;
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

}  // namespace

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

void SetupAggregates(Napi::Env env, tcpotel_bpf* skel, Napi::Object opts,
                     uint32_t nbounds[TCPOTEL_AGG_SLOTS][TCPOTEL_AGG_HISTS]) {
  // Aggregates computed in the kernel: { key, addr, port, maxSeries, bounds, filter, perCpu, maxEntries }
  if (opts.Get("aggregates").IsArray()) {
    Napi::Array aggs = opts.Get("aggregates").As<Napi::Array>();
    if (aggs.Length() > TCPOTEL_AGG_SLOTS) throw Napi::RangeError::New(env, "too many kernel aggregates");
    skel->rodata->agg_slots = aggs.Length();
    skel->rodata->agg_kinds = (uint32_t)CheckedInt(env, opts.Get("aggregateKinds"), "aggregateKinds", 0, UINT32_MAX);
    for (uint32_t i = 0; i < aggs.Length(); i++) {
      Napi::Object a = aggs.Get(i).As<Napi::Object>();
      struct tcpotel_agg_spec* spec = &skel->rodata->agg_spec[i];
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
        nbounds[i][h] = b.Length();
        for (uint32_t k = 0; k < b.Length(); k++)
          spec->bounds[h][k] = CheckedInt(env, b.Get(k), "aggregates.bounds", 0, 1ull << 53);
      }
      FillFilter(env, a.Get("filter"), &spec->filter);
      bpf_map* map = AggMap(skel, i);
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
}

Napi::Object CollectWindow(Napi::Env env, tcpotel_bpf* skel, uint32_t slot,
                           const uint32_t nbounds[TCPOTEL_AGG_SLOTS][TCPOTEL_AGG_HISTS], bool attached) {
  if (slot >= skel->rodata->agg_slots) throw Napi::RangeError::New(env, "no such kernel aggregate");
  bpf_map* map = AggMap(skel, slot);
  int fd = bpf_map__fd(map);
  uint8_t old = skel->bss->agg_gen[slot] & 1;
  __atomic_store_n(&skel->bss->agg_gen[slot], (uint8_t)(old ^ 1), __ATOMIC_RELEASE);
  if (attached) usleep(100);

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
  for (int h = 0; h < TCPOTEL_AGG_HISTS; h++) hstride[h] = 4 + nbounds[slot][h] + 1;
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
      ThrowNativeError(env, "read kernel aggregate", err);
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
    if (err < 0 && err != -ENOENT) ThrowNativeError(env, "clear kernel aggregate", err);
  }
  skel->bss->agg_series[slot][old] = 0;

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

}  // namespace tcpotel
