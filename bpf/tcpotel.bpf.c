// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tcpotel kernel side: every TCP connection, without kprobes or fentry.
 *
 * One file (over 500 lines) because it is one BPF object: its programs share the maps, the
 * per-socket state and the inline helpers, and one skeleton loads them together.
 *
 * Hooks (twins chosen at load time by user space, see src/receivers/ebpf/features.ts):
 *   sock:inet_sock_set_state   tp_btf | raw_tp        opens, closes, failures, state changes
 *   tcp:tcp_retransmit_skb     tp_btf | raw_tp        retransmits
 *   tcp:tcp_send_reset         tp_btf | raw_tp        resets sent
 *   tcp:tcp_receive_reset      tp_btf | raw_tp        resets received
 *   tcp:tcp_destroy_sock       tp_btf | raw_tp        forgets a socket
 *   syscalls:sys_exit_accept*  tracepoint | tp_btf sys_exit   owner of accepted sockets
 *   syscalls:sys_exit_connect  tracepoint             connects that fail before their first SYN
 *   iter/task_file, iter/tcp                          connections that already exist, live counters
 *
 * Every event of interest is turned into work once, where user space asked for it:
 *   - a ring-buffer record, for the kinds some pipeline needs as events (record_kinds),
 *     pre-filtered by those pipelines' own filters (consumers);
 *   - and/or updates of in-kernel aggregates (aggregate pushdown): per-window hash maps
 *     keyed by exactly the attributes an `aggregate` processor keys on, read by user space
 *     once per window (src/receivers/ebpf/kernel-aggregate.ts). Nothing crosses into user
 *     space per event for them.
 * Transitions nothing consumes return at once.
 *
 * Owners (pid, comm, cgroup) are captured in process context only (connect, listen,
 * accept's exit, close) and kept per socket: most state changes run in softirq context,
 * where `current` is whoever happened to be running.
 *
 * tp_btf and iterator programs read the socket with direct BTF loads; raw_tp programs,
 * whose arguments are untyped, with CO-RE probe reads. The logic is written once, with a
 * compile-time `btf` flag that picks the access (RD below).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#define TCPOTEL_LOAD(ctx, off, dst, len) bpf_skb_load_bytes(ctx, off, dst, len)
#include "protocol.h"
#include "tcpotel.h"
#include "compat.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Load-time configuration (read-only data, set between open and load). */
const volatile __u8 filter_family = 0;               /* 0: both, 4 or 6 */
const volatile __u32 filter_pid = 0;                 /* 0: any process */
const volatile __u32 filter_nports = 0;              /* 0: any port */
const volatile __u16 filter_ports[TCPOTEL_MAX_PORTS] = {};
const volatile bool emit_state_changes = false;
/* Protocol detection (cgroup_skb programs, see the payload section): on, and read by events. */
const volatile bool detect_protocol = false;
const volatile __u64 wakeup_bytes = 0;               /* 0: wake the consumer on every event */
/* Kinds some pipeline takes as events (bit 1 << kind); and those pipelines' own filters,
 * of which one must pass (none given: every event of those kinds). */
const volatile __u32 record_kinds = 0;
const volatile __u32 nconsumers = 0;
const volatile struct tcpotel_filter consumers[TCPOTEL_CONSUMERS] = {};
/* Aggregates computed here (aggregate pushdown), and the kinds any of them takes. */
const volatile __u32 agg_slots = 0;
const volatile __u32 agg_kinds = 0;
const volatile struct tcpotel_agg_spec agg_spec[TCPOTEL_AGG_SLOTS] = {};

/* Iterator control, written by user space before each iterator run. */
__u32 iter_mode = 0;
__u64 next_synthetic_cookie = 0;
__u64 iter_next_seq = 0;
struct tcpotel_state_counts state_counts = {};
/* Aggregate windows: the generation updates go to, per slot (user space flips it), and
 * the series created per slot and generation (for the series cap). */
__u8 agg_gen[TCPOTEL_AGG_SLOTS] = {};
__u64 agg_series[TCPOTEL_AGG_SLOTS][2] = {};

#define KIND_BIT(k) (1U << (k))

struct owner {
	__u64 cgroup_id;
	__u32 pid;
	__u32 tid;
	char comm[TCPOTEL_COMM_LEN];
};

struct sock_info {
	__u64 cookie;
	__u64 start_ns;      /* connect() or SYN_RECV; 0 when unknown (pre-existing) */
	__u64 state_ns;      /* when the current state was entered (state_changes only) */
	__u64 last_acked;    /* counters at the last SAMPLE, to skip idle connections */
	__u64 last_received;
	__u64 handshake_ns;
	struct owner owner;
	/* In-kernel aggregates: what they accounted for so far, and the owner their series
	 * key took when they first saw the connection. */
	__u64 base_tx;
	__u64 base_rx;
	struct owner key_owner;
	__u32 base_retrans;
	__u32 base_segs_out;
	__u32 base_segs_in;
	__u8 key_proto;      /* the protocol its series took last (it moves when first detected) */
	__u8 pad2[3];
	__u16 flags;
	__u8 agg;            /* enum tcpotel_agg_track */
	__u8 deferred;       /* connect() undone inside the call: its exit reports it */
	/* What the socket's first payload bytes said (protocol detection, written by the
	 * cgroup_skb programs): kept here rather than in socket storage, whose creation cost
	 * more than the rest of the detection (measured: ~2 us a socket). */
	__u8 seen;           /* directions whose first payload was looked at: 1 egress, 2 ingress */
	__u8 pad3[7];
	struct tcpotel_proto_info proto;
};

static const struct sock_info info_zero = {};

struct listen_key {
	__u32 netns;
	__u16 port;
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20); /* resized by user space */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 131072); /* resized by user space */
	__type(key, __u64);          /* struct sock address */
	__type(value, struct sock_info);
} socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct listen_key);
	__type(value, struct owner);
} listeners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tcpotel_stats);
} stats SEC(".maps");

/* The in-kernel aggregates' windows. User space sets each one's type (HASH, or
 * PERCPU_HASH for few series), size and flags before load; unused ones stay tiny. */
#define AGG_MAP(name)                                  \
	struct {                                       \
		__uint(type, BPF_MAP_TYPE_HASH);       \
		__uint(max_entries, 1);                \
		__uint(map_flags, BPF_F_NO_PREALLOC);  \
		__type(key, struct tcpotel_agg_key);   \
		__type(value, struct tcpotel_agg_value); \
	} name SEC(".maps")
AGG_MAP(agg0);
AGG_MAP(agg1);
AGG_MAP(agg2);
AGG_MAP(agg3);

static const struct tcpotel_agg_value agg_zero = {};

/* Keys being built, per CPU, one per nesting level: a program interrupted on its CPU by
 * another of ours (a softirq) keeps its key while the other builds its own. (Keys are too
 * big for the stack beside the callers'.) */
#define AGG_NESTING 3
struct agg_scratch {
	__u32 depth;
	__u32 pad;
	struct tcpotel_agg_key keys[AGG_NESTING];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct agg_scratch);
} agg_scratch SEC(".maps");

/* The iterator's record, built here rather than on its stack (only iterators use it: they
 * run one at a time, from tcpotel's own reads). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tcpotel_event);
} iter_record SEC(".maps");

static __always_inline struct tcpotel_stats *stats_get(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&stats, &zero);
}

static __always_inline void count_untracked(void)
{
	struct tcpotel_stats *st = stats_get();
	if (st)
		__sync_fetch_and_add(&st->untracked, 1);
}

/* ---------- reading the socket ---------- */

/*
 * A field of a kernel object: a direct BTF load where the pointer is BTF-typed (tp_btf,
 * iterators), a CO-RE probe read otherwise (raw_tp). `btf` is always a constant, so the
 * compiler keeps one of the two.
 */
#define RD(btf, p, path) ((btf) ? (p)->path : BPF_CORE_READ(p, path))

/* What one event knows about its socket, read once. */
struct conn {
	__u64 acked;
	__u64 received;
	__u64 bytes_retrans;
	__u32 segs_in;
	__u32 segs_out;
	__u32 total_retrans;
	__u32 srtt_us;
	__u32 lost;
	__u32 netns;
	__u16 sport;
	__u16 dport;
	__u8 family;
	__u8 state;  /* for counters: the state the connection was in */
	__u16 flags; /* the socket's TCPOTEL_F_* (direction) */
	__u8 proto;  /* enum tcpotel_protocol, when detection is on */
	__u32 saddr[4];
	__u32 daddr[4];
};

static __always_inline __u8 family_of(__u16 af)
{
	return af == AF_INET6 ? 6 : 4;
}

static __always_inline __u16 sk_family(const struct sock *sk, bool btf)
{
	return RD(btf, sk, __sk_common.skc_family);
}

static __always_inline __u16 sk_protocol(const struct sock *sk, bool btf)
{
	if (btf)
		return (__u16)BPF_CORE_READ_BITFIELD(sk, sk_protocol);
	return TCPOTEL_SK_PROTOCOL(sk);
}

static __always_inline __u32 sk_netns(const struct sock *sk, bool btf)
{
	if (btf)
		return sk->__sk_common.skc_net.net->ns.inum;
	return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

/* skc_num is already 0 at X->CLOSE: inet_sport still holds the local port. */
static __always_inline __u16 sk_sport(const struct sock *sk, const struct tcp_sock *tp, bool btf)
{
	if (btf)
		return bpf_ntohs(tp->inet_conn.icsk_inet.inet_sport);
	return bpf_ntohs(BPF_CORE_READ((const struct inet_sock *)sk, inet_sport));
}

static __always_inline void read_tuple(struct conn *c, const struct sock *sk, const struct tcp_sock *tp,
				       __u16 af, bool btf)
{
	c->family = family_of(af);
	c->sport = sk_sport(sk, tp, btf);
	c->dport = bpf_ntohs(RD(btf, sk, __sk_common.skc_dport));
	if (af == AF_INET6) {
		if (btf) {
			#pragma unroll
			for (int i = 0; i < 4; i++) {
				c->saddr[i] = sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32[i];
				c->daddr[i] = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[i];
			}
		} else {
			bpf_core_read(c->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
			bpf_core_read(c->daddr, 16, &sk->__sk_common.skc_v6_daddr);
		}
	} else {
		c->saddr[0] = RD(btf, sk, __sk_common.skc_rcv_saddr);
		c->daddr[0] = RD(btf, sk, __sk_common.skc_daddr);
	}
	c->netns = sk_netns(sk, btf);
}

static __always_inline bool fin_sent_in(__u8 state)
{
	return state == TCP_FIN_WAIT1 || state == TCP_FIN_WAIT2 || state == TCP_CLOSING ||
	       state == TCP_LAST_ACK;
}

/*
 * Counters as the application sees them. The kernel's byte counters also count
 * sequence space that carries no data: bytes_acked includes our SYN (active side) and
 * our FIN once acknowledged, bytes_received includes the peer's FIN. `state` is the
 * state the connection was in (oldstate at X->CLOSE).
 */
static __always_inline void read_counters(struct conn *c, const struct sock *sk, const struct tcp_sock *tp,
					  __u16 flags, __u8 state, bool btf)
{
	__u64 acked = RD(btf, tp, bytes_acked);
	__u64 received = RD(btf, tp, bytes_received);
	unsigned long sk_flags = RD(btf, sk, __sk_common.skc_flags);

	if ((flags & TCPOTEL_F_ACTIVE) && acked)
		acked--;
	if (fin_sent_in(state) && acked && RD(btf, tp, snd_una) == RD(btf, tp, write_seq))
		acked--;
	if ((sk_flags & (1UL << bpf_core_enum_value(enum sock_flags, SOCK_DONE))) && received)
		received--; /* SOCK_DONE: the peer's FIN was received */
	c->acked = acked;
	c->received = received;
	c->segs_in = RD(btf, tp, segs_in);
	c->segs_out = RD(btf, tp, segs_out);
	c->total_retrans = RD(btf, tp, total_retrans);
	c->srtt_us = RD(btf, tp, srtt_us) >> 3;
	if (bpf_core_field_exists(tp->bytes_retrans))
		c->bytes_retrans = RD(btf, tp, bytes_retrans);
	if (bpf_core_field_exists(tp->lost))
		c->lost = RD(btf, tp, lost);
}

/* What the socket's first bytes said, if they were looked at (BTF-typed sockets only, as
 * the cgroup_skb programs see them). */
static __always_inline struct tcpotel_proto_info *proto_of(struct sock_info *info, bool btf)
{
	if (!detect_protocol || !btf || !info || info->proto.proto == TCPOTEL_PROTO_NONE)
		return NULL;
	return &info->proto;
}

static __always_inline void owner_from_current(struct owner *o)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	o->pid = pid_tgid >> 32;
	o->tid = (__u32)pid_tgid;
	o->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(o->comm, sizeof(o->comm));
}

static __always_inline void owner_from_task(struct owner *o, struct task_struct *task)
{
	/* The string read stops at the NUL: zero the rest, the name is part of series keys. */
	__builtin_memset(o->comm, 0, TCPOTEL_COMM_LEN);
	o->pid = BPF_CORE_READ(task, tgid);
	o->tid = BPF_CORE_READ(task, pid);
	o->cgroup_id = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
	BPF_CORE_READ_STR_INTO(&o->comm, task, comm);
}

/* ---------- filters ---------- */

static __always_inline bool family_wanted(__u16 af)
{
	if (af != AF_INET && af != AF_INET6)
		return false;
	return filter_family == 0 || filter_family == family_of(af);
}

static __always_inline bool ports_wanted(__u16 sport, __u16 dport)
{
	if (filter_nports == 0)
		return true;
#pragma unroll
	for (int i = 0; i < TCPOTEL_MAX_PORTS; i++) {
		if (i >= filter_nports)
			break;
		if (filter_ports[i] == sport || filter_ports[i] == dport)
			return true;
	}
	return false;
}

static __always_inline bool pid_wanted(__u32 pid)
{
	return filter_pid == 0 || filter_pid == pid;
}

/* The receiver's own filter (ports, pid): a filtered-out event is counted, never produced. */
static __always_inline bool receiver_wants(__u16 sport, __u16 dport, __u32 pid)
{
	struct tcpotel_stats *st;

	if (filter_nports == 0 && filter_pid == 0)
		return true;
	if (ports_wanted(sport, dport) && pid_wanted(pid))
		return true;
	st = stats_get();
	if (st)
		__sync_fetch_and_add(&st->filtered, 1);
	return false;
}

static __always_inline bool in_ranges(const volatile struct tcpotel_port_range *r, __u32 n, __u16 port)
{
	for (int i = 0; i < TCPOTEL_PORT_RANGES; i++) {
		if (i >= n)
			break;
		if (port >= r[i].lo && port <= r[i].hi)
			return true;
	}
	return false;
}

static __always_inline __u8 dir_bit(__u16 flags)
{
	return flags & TCPOTEL_F_ACTIVE ? TCPOTEL_DIR_OUTBOUND :
	       flags & TCPOTEL_F_PASSIVE ? TCPOTEL_DIR_INBOUND : TCPOTEL_DIR_UNKNOWN;
}

/* An event as filters see it, packed for subprogram calls (at most 5 arguments). */
#define EV_SIG(kind, family, flags) ((__u32)(kind) | (__u32)(family) << 8 | (__u32)(flags) << 16)
#define EV_PORTS(sport, dport) ((__u32)(sport) << 16 | (__u32)(dport))

static __always_inline bool cond_matches(const volatile struct tcpotel_cond *c, __u32 sig, __u32 ports)
{
	__u32 kind = sig & 0xff, family = (sig >> 8) & 0xff;
	__u16 flags = sig >> 16, sport = ports >> 16, dport = ports & 0xffff;

	if (c->kinds && !(c->kinds & KIND_BIT(kind)))
		return false;
	if (c->family && c->family != family)
		return false;
	if (c->directions && !(c->directions & dir_bit(flags)))
		return false;
	if (c->nports && !in_ranges(c->ports, c->nports, sport) && !in_ranges(c->ports, c->nports, dport))
		return false;
	if (c->nlocal && !in_ranges(c->local, c->nlocal, sport))
		return false;
	if (c->nremote && !in_ranges(c->remote, c->nremote, dport))
		return false;
	return true;
}

static __noinline bool filter_passes(const volatile struct tcpotel_filter *f, __u32 sig, __u32 ports)
{
	if (!f->nconds)
		return true;
	for (int i = 0; i < TCPOTEL_CONDS; i++) {
		if (i >= f->nconds)
			break;
		if (cond_matches(&f->conds[i], sig, ports) == !!f->conds[i].negate)
			return false;
	}
	return true;
}

/* Does some pipeline take this event as a record? */
static __always_inline bool record_wanted(__u8 kind, __u8 family, __u16 flags, __u16 sport, __u16 dport)
{
	struct tcpotel_stats *st;

	if (!(record_kinds & KIND_BIT(kind)))
		return false;
	if (nconsumers == 0)
		return true;
	for (int i = 0; i < TCPOTEL_CONSUMERS; i++) {
		if (i >= nconsumers)
			break;
		if (filter_passes(&consumers[i], EV_SIG(kind, family, flags), EV_PORTS(sport, dport)))
			return true;
	}
	/* A kind some pipeline takes, which its own filter (pushed down here) rejects. */
	st = stats_get();
	if (st)
		__sync_fetch_and_add(&st->filtered, 1);
	return false;
}

/* ---------- in-kernel aggregates ---------- */

/*
 * One event's contribution to the aggregates, as the `aggregate` processor would count
 * it (src/processors/aggregate/aggregator.ts): filled once, then added to the row of its
 * series in every aggregate whose filter takes it.
 */
struct agg_event {
	struct conn c;        /* the connection as the event read it (tuple, counters) */
	struct owner owner;   /* the owner its series key takes (zero: unknown) */
	__u64 tx;
	__u64 rx;
	__u64 retrans;
	__u64 obs[TCPOTEL_AGG_HISTS]; /* see obs_mask */
	__u16 flags;          /* direction */
	__u16 errno;          /* failed: the reason */
	__u8 kind;
	__u8 reset_dir;       /* reset: 1 sent, 2 received */
	__u8 opened;
	__s8 active;
	__u8 closed;
	__u8 proto;           /* the protocol its series key takes */
	__u8 obs_mask;        /* observations present (bit per histogram): 0 is an observation too */
	__u8 pad[5];
	__u64 segs_out;
	__u64 segs_in;
};

/* The iterator's agg_event, off its stack (iterators run one at a time). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct agg_event);
} iter_agg SEC(".maps");

static __always_inline void *agg_map(int slot)
{
	switch (slot) {
	case 0:
		return &agg0;
	case 1:
		return &agg1;
	case 2:
		return &agg2;
	default:
		return &agg3;
	}
}

static __always_inline void atomic_max64(__u64 *p, __u64 v)
{
	__u64 old = *p;

	for (int i = 0; i < 4 && v > old; i++) {
		__u64 seen = __sync_val_compare_and_swap(p, old, v);
		if (seen == old)
			break;
		old = seen;
	}
}

/* One observation into a histogram row. A global function: verified once, not at each of
 * its (unrolled) calls. */
__noinline int hist_add(struct tcpotel_agg_hist *h, __u64 v, __u32 slot, __u32 hist)
{
	const volatile __u64 *bounds;
	__u32 i, nb;

	if (!h)
		return 0;
	/* (Both powers of two: the masks bound the offsets for the verifier.) */
	slot &= TCPOTEL_AGG_SLOTS - 1;
	hist &= TCPOTEL_AGG_HISTS - 1;
	bounds = agg_spec[slot].bounds[hist];
	nb = agg_spec[slot].nbounds[hist];
	__sync_fetch_and_add(&h->count, 1);
	__sync_fetch_and_add(&h->sum, v);
	atomic_max64(&h->max, v);
	atomic_max64(&h->inv_min, ~v);
	for (i = 0; i < TCPOTEL_AGG_BOUNDS; i++) {
		if (i >= nb || v <= bounds[i])
			break;
	}
	if (i < TCPOTEL_AGG_BUCKETS)
		__sync_fetch_and_add(&h->buckets[i], 1);
	return 0;
}

/* Writes one address or port key field from its source; false when the source is a
 * direction (client, server) the connection does not have. */
static __always_inline bool endpoint_field(const struct agg_event *e, __u8 src, __u8 *addr, __u16 *port,
					   bool want_addr)
{
	bool local;

	switch (src) {
	case TCPOTEL_SRC_LOCAL:
		local = true;
		break;
	case TCPOTEL_SRC_REMOTE:
		local = false;
		break;
	case TCPOTEL_SRC_CLIENT:
		if (!(e->flags & (TCPOTEL_F_ACTIVE | TCPOTEL_F_PASSIVE)))
			return false;
		local = e->flags & TCPOTEL_F_ACTIVE;
		break;
	case TCPOTEL_SRC_SERVER:
		if (!(e->flags & (TCPOTEL_F_ACTIVE | TCPOTEL_F_PASSIVE)))
			return false;
		local = e->flags & TCPOTEL_F_PASSIVE;
		break;
	default:
		return false;
	}
	if (want_addr)
		__builtin_memcpy(addr, local ? e->c.saddr : e->c.daddr, 16);
	else
		*port = local ? e->c.sport : e->c.dport;
	return true;
}

/* The series key of an event in aggregate `slot`. Two keys differ exactly when their
 * attributes do (see kernel-aggregate.ts): a field that gives no attribute stays zero. */
static __always_inline void agg_key(struct tcpotel_agg_key *k, int slot, const struct agg_event *e,
				    const struct tcpotel_proto_info *p)
{
	const volatile struct tcpotel_agg_spec *spec = &agg_spec[slot];
	__u32 key = spec->key;
	bool addr0, addr1;

	__builtin_memset(k, 0, sizeof(*k));
	k->gen = agg_gen[slot] & 1;
	if (key & TCPOTEL_K_ROLE)
		k->role = e->flags & TCPOTEL_F_ACTIVE ? 1 : e->flags & TCPOTEL_F_PASSIVE ? 2 : 0;
	if (key & TCPOTEL_K_PID)
		k->pid = e->owner.pid;
	if (key & TCPOTEL_K_COMM)
		__builtin_memcpy(k->comm, e->owner.comm, TCPOTEL_COMM_LEN);
	if (key & TCPOTEL_K_CGROUP)
		k->cgroup = e->owner.cgroup_id;
	if (key & TCPOTEL_K_NETNS)
		k->netns = e->c.netns;
	if (key & TCPOTEL_K_PROTO)
		k->proto = e->proto;
	if (key & TCPOTEL_K_NAME && p)
		__builtin_memcpy(k->name, p->name, TCPOTEL_NAME_LEN);
	addr0 = endpoint_field(e, spec->addr[0], k->addr[0], 0, true);
	addr1 = endpoint_field(e, spec->addr[1], k->addr[1], 0, true);
	endpoint_field(e, spec->port[0], 0, &k->port[0], false);
	endpoint_field(e, spec->port[1], 0, &k->port[1], false);
	/* The family formats the addresses: keyed with them, or as network.type. */
	if (key & TCPOTEL_K_FAMILY || addr0 || addr1)
		k->family = e->c.family;
}

static __always_inline void count_agg(int slot, bool overflow)
{
	struct tcpotel_stats *st = stats_get();

	if (!st || slot < 0 || slot >= TCPOTEL_AGG_SLOTS)
		return;
	if (overflow)
		__sync_fetch_and_add(&st->agg_overflow[slot], 1);
	else
		__sync_fetch_and_add(&st->agg_map_full[slot], 1);
}

/*
 * The row of a series in this window: found, or created. A new series beyond the cap
 * goes to the overflow series instead (counted); a full map loses the update (counted).
 * Rows of failed connects (errno != 0) do not count against the cap.
 */
static __always_inline struct tcpotel_agg_value *agg_row(int slot, void *map, struct tcpotel_agg_key *k)
{
	struct tcpotel_agg_value *v = bpf_map_lookup_elem(map, k);
	__u8 gen = k->gen;
	long err;

	if (v)
		return v;
	if (!k->errcode && !k->overflow) {
		__u64 n = __sync_fetch_and_add(&agg_series[slot & (TCPOTEL_AGG_SLOTS - 1)][gen & 1], 1);

		if (n >= agg_spec[slot].max_series) {
			__u16 errcode = k->errcode;

			__builtin_memset(k, 0, sizeof(*k));
			k->gen = gen;
			k->overflow = 1;
			k->errcode = errcode;
			count_agg(slot, true);
			v = bpf_map_lookup_elem(map, k);
			if (v)
				return v;
		}
	}
	err = bpf_map_update_elem(map, k, &agg_zero, BPF_NOEXIST);
	if (err && err != -17 /* EEXIST: made meanwhile */) {
		count_agg(slot, false);
		return NULL;
	}
	if (err && !k->errcode && !k->overflow)
		__sync_fetch_and_add(&agg_series[slot & (TCPOTEL_AGG_SLOTS - 1)][gen & 1], -1);
	return bpf_map_lookup_elem(map, k);
}

static __always_inline void agg_add(struct tcpotel_agg_value *v, const struct agg_event *e, int slot)
{
	if (e->opened)
		__sync_fetch_and_add(&v->opened, 1);
	if (e->closed)
		__sync_fetch_and_add(&v->closed, 1);
	if (e->active)
		__sync_fetch_and_add(&v->active, e->active);
	if (e->tx)
		__sync_fetch_and_add(&v->tx, e->tx);
	if (e->rx)
		__sync_fetch_and_add(&v->rx, e->rx);
	if (e->retrans)
		__sync_fetch_and_add(&v->retrans, e->retrans);
	if (e->segs_out)
		__sync_fetch_and_add(&v->segs_out, e->segs_out);
	if (e->segs_in)
		__sync_fetch_and_add(&v->segs_in, e->segs_in);
	if (e->reset_dir == 1)
		__sync_fetch_and_add(&v->resets_sent, 1);
	else if (e->reset_dir == 2)
		__sync_fetch_and_add(&v->resets_received, 1);
#pragma unroll
	for (int h = 0; h < TCPOTEL_AGG_HISTS; h++) {
		if (e->obs_mask & (1 << h))
			hist_add(&v->hist[h], e->obs[h], slot, h);
	}
}

/* Adds an event to every in-kernel aggregate whose filter takes it; `p` is what the
 * socket's first bytes said (its protocol is in e->proto already; the name comes from p).
 * A global function: the verifier checks it once per program, not once per call. */
__noinline int agg_apply(struct agg_event *e, const struct tcpotel_proto_info *p)
{
	struct agg_scratch *sc;
	struct tcpotel_agg_key *k;
	__u32 zero = 0, d;

	if (!e)
		return 0;
	sc = bpf_map_lookup_elem(&agg_scratch, &zero);
	if (!sc)
		return 0;
	d = sc->depth++;
	if (d >= AGG_NESTING) {
		sc->depth--;
		return 0;
	}
	k = &sc->keys[d];
	/* Only a TLS connection's name keys; and the verifier must see p checked before any
	 * arithmetic on it (the compiler would hoist &p->name out of the loop). */
	if (p && p->proto != TCPOTEL_PROTO_TLS)
		p = 0;
	if (p)
		barrier_var(p);
	for (int slot = 0; slot < TCPOTEL_AGG_SLOTS; slot++) {
		struct tcpotel_agg_value *v;
		void *map;

		if (slot >= agg_slots)
			break;
		if (!filter_passes(&agg_spec[slot].filter, EV_SIG(e->kind, e->c.family, e->flags),
				   EV_PORTS(e->c.sport, e->c.dport)))
			continue;
		map = agg_map(slot);
		agg_key(k, slot, e, p);
		v = agg_row(slot, map, k);
		if (!v)
			continue;
		if (e->kind == TCPOTEL_EV_FAILED) {
			/* The series' row counts it in the window (and against the cap); the
			 * count by reason goes to a row of its own. */
			k->errcode = e->errno ? e->errno : 0xffff;
			v = agg_row(slot, map, k);
			if (v)
				__sync_fetch_and_add(&v->failed, 1);
			continue;
		}
		agg_add(v, e, slot);
	}
	sc->depth--;
	return 0;
}

/* Prepares the event's contribution (its connection, in a->c, is already read). */
static __always_inline void agg_event_init(struct agg_event *a, __u8 kind, __u16 flags, const struct owner *owner)
{
	__builtin_memset(&a->owner, 0, sizeof(*a) - offsetof(struct agg_event, owner));
	a->kind = kind;
	a->flags = flags;
	if (owner)
		a->owner = *owner;
}

/* One histogram observation (0 counts as one: a connection without loss). */
static __always_inline void agg_observe(struct agg_event *a, int h, __u64 v)
{
	a->obs[h & (TCPOTEL_AGG_HISTS - 1)] = v;
	a->obs_mask |= 1 << (h & (TCPOTEL_AGG_HISTS - 1));
}

/* Observations taken when positive (rtt, handshake, duration), as the aggregate does. */
static __always_inline void agg_observe_positive(struct agg_event *a, int h, __u64 v)
{
	if (v)
		agg_observe(a, h, v);
}

/* A connection's loss, retransmitted segments per segment sent, in parts per million. */
static __always_inline void agg_observe_loss(struct agg_event *a, const struct conn *c)
{
	if (c->segs_out)
		agg_observe(a, 3, (__u64)c->total_retrans * 1000000 / c->segs_out);
}

/* Takes the protocol of what the socket's first bytes said: unknown until they said
 * something (detection on, and a BTF-typed socket to find it). */
static __always_inline void agg_event_proto(struct agg_event *a, const struct tcpotel_proto_info *p, bool btf)
{
	a->proto = p ? p->proto : 0;
	if (a->proto == TCPOTEL_PROTO_NONE && detect_protocol && btf)
		a->proto = TCPOTEL_PROTO_UNKNOWN;
}

/* The whole life of a connection the aggregates did not track, at its close. */
static __always_inline void agg_whole_life(struct agg_event *a)
{
	a->tx = a->c.acked;
	a->rx = a->c.received;
	a->retrans = a->c.total_retrans;
	a->segs_out = a->c.segs_out;
	a->segs_in = a->c.segs_in;
}

/*
 * The protocol is learnt from the first bytes, after the connection was opened (and its
 * series chosen): it moves to the series of its protocol then, leaving the old one. What
 * it counts from then on goes to the new series. (The aggregate does the same.)
 */
static __always_inline void agg_rekey(struct agg_event *a, struct sock_info *info)
{
	__u8 proto = a->proto;

	/* Called before the event adds anything: `a` carries no counts yet. Its old series
	 * had no name (nothing was known then). */
	if (info->key_proto == proto)
		return;
	if (info->agg & TCPOTEL_AGG_OPEN) {
		a->proto = info->key_proto;
		a->active = -1;
		agg_apply(a, 0);
		a->proto = proto;
		a->active = 1;
	}
	info->key_proto = proto;
}

/* Starts tracking a connection for the aggregates: its key's owner and counter baselines. */
static __always_inline void agg_track(struct sock_info *info, __u64 tx, __u64 rx, __u32 retrans,
				      __u32 segs_out, __u32 segs_in)
{
	info->agg = TCPOTEL_AGG_TRACKED;
	info->key_owner = info->owner;
	info->base_tx = tx;
	info->base_rx = rx;
	info->base_retrans = retrans;
	info->base_segs_out = segs_out;
	info->base_segs_in = segs_in;
}

/* Adds the counters' growth since last accounted, as the aggregate's progress(). */
static __always_inline void agg_progress(struct agg_event *a, struct sock_info *info, const struct conn *c)
{
	if (c->acked > info->base_tx) {
		a->tx = c->acked - info->base_tx;
		info->base_tx = c->acked;
	}
	if (c->received > info->base_rx) {
		a->rx = c->received - info->base_rx;
		info->base_rx = c->received;
	}
	if (c->total_retrans > info->base_retrans) {
		a->retrans = c->total_retrans - info->base_retrans;
		info->base_retrans = c->total_retrans;
	}
	if (c->segs_out > info->base_segs_out) {
		a->segs_out = c->segs_out - info->base_segs_out;
		info->base_segs_out = c->segs_out;
	}
	if (c->segs_in > info->base_segs_in) {
		a->segs_in = c->segs_in - info->base_segs_in;
		info->base_segs_in = c->segs_in;
	}
}

/* ---------- the ring ---------- */

static __always_inline struct tcpotel_event *reserve(__u8 kind)
{
	struct tcpotel_stats *st = stats_get();
	struct tcpotel_event *e;

	if (st && kind < TCPOTEL_EV_KINDS)
		__sync_fetch_and_add(&st->produced[kind], 1);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		if (st && kind < TCPOTEL_EV_KINDS)
			__sync_fetch_and_add(&st->dropped[kind], 1);
		return NULL;
	}
	e->kind = kind;
	return e;
}

static __always_inline void submit(struct tcpotel_event *e)
{
	__u64 flags = 0;

	/* Batch wake-ups under load: the consumer also polls on a short timer. */
	if (wakeup_bytes)
		flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ?
				BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit(e, flags);
}

/* Cookie of a socket that has per-socket state: asked for once, when first needed. */
static __always_inline __u64 info_cookie(struct sock_info *info, const struct sock *sk, bool btf)
{
	__u64 cookie;

	if (!info)
		return 0;
	if (info->cookie)
		return info->cookie;
	cookie = btf ? bpf_get_socket_cookie((void *)sk) : TCPOTEL_SK_COOKIE_FIELD(sk);
	/* Where the kernel's cookie cannot be had (raw_tp), number the socket ourselves,
	 * above 2^52 so that it never meets a real cookie and stays exact in a JS number. */
	if (!cookie)
		cookie = (1ULL << 52) | __sync_fetch_and_add(&next_synthetic_cookie, 1);
	info->cookie = cookie;
	return cookie;
}

/* Every field of a record, from what the event read (counters only when `counters`). */
static __always_inline void fill_record(struct tcpotel_event *e, const struct conn *c, struct sock_info *info,
					__u64 cookie, __u8 oldstate, __u8 newstate, __u64 duration_ns, __u16 error,
					__u16 extra_flags, bool counters, __u64 now)
{
	e->ts_ns = now;
	e->cookie = cookie;
	e->duration_ns = duration_ns;
	if (counters) {
		e->bytes_acked = c->acked;
		e->bytes_received = c->received;
		e->bytes_retrans = c->bytes_retrans;
		e->segs_in = c->segs_in;
		e->segs_out = c->segs_out;
		e->total_retrans = c->total_retrans;
		e->srtt_us = c->srtt_us;
		e->lost = c->lost;
	} else {
		e->bytes_acked = 0;
		e->bytes_received = 0;
		e->bytes_retrans = 0;
		e->segs_in = 0;
		e->segs_out = 0;
		e->total_retrans = 0;
		e->srtt_us = 0;
		e->lost = 0;
	}
	e->netns = c->netns;
	e->sport = c->sport;
	e->dport = c->dport;
	__builtin_memcpy(e->saddr, c->saddr, 16);
	__builtin_memcpy(e->daddr, c->daddr, 16);
	e->family = c->family;
	e->oldstate = oldstate;
	e->newstate = newstate;
	e->error = error;
	e->flags = extra_flags;
	if (info) {
		e->flags |= info->flags;
		e->handshake_ns = info->handshake_ns;
		e->pid = info->owner.pid;
		e->tid = info->owner.tid;
		e->cgroup_id = info->owner.cgroup_id;
		__builtin_memcpy(e->comm, info->owner.comm, TCPOTEL_COMM_LEN);
	} else {
		e->flags |= TCPOTEL_F_UNTRACKED;
		e->handshake_ns = 0;
		e->pid = 0;
		e->tid = 0;
		e->cgroup_id = 0;
		__builtin_memset(e->comm, 0, TCPOTEL_COMM_LEN);
	}
}

/* The record's protocol fields, from the socket's storage (zero without one). */
static __always_inline void fill_proto(struct tcpotel_event *e, struct sock_info *info, const struct sock *sk, bool btf)
{
	struct tcpotel_proto_info *p = sk ? proto_of(info, btf) : NULL;

	if (detect_protocol && btf && sk)
		e->flags |= TCPOTEL_F_DETECT;
	if (p) {
		e->proto = p->proto;
		e->http_method = p->method;
		e->tls_version = p->tls_version;
		__builtin_memcpy(e->name, p->name, TCPOTEL_NAME_LEN);
	} else {
		e->proto = 0;
		e->http_method = 0;
		e->tls_version = 0;
		__builtin_memset(e->name, 0, TCPOTEL_NAME_LEN);
	}
}

static __always_inline void emit_record(__u8 kind, const struct conn *c, struct sock_info *info,
					const struct sock *sk, __u8 oldstate, __u8 newstate, __u64 duration_ns,
					__u16 error, __u16 extra_flags, bool counters, __u64 now, bool btf)
{
	struct tcpotel_event *e;
	__u64 cookie = info_cookie(info, sk, btf);

	e = reserve(kind);
	if (!e)
		return;
	fill_record(e, c, info, cookie, oldstate, newstate, duration_ns, error, extra_flags, counters,
		    now ? now : bpf_ktime_get_ns());
	fill_proto(e, info, sk, btf);
	submit(e);
}

/* ---------- per-socket state ---------- */

static __always_inline struct sock_info *info_create(__u64 key, __u64 now, __u16 flags)
{
	struct sock_info *info;

	bpf_map_update_elem(&socks, &key, &info_zero, BPF_ANY);
	info = bpf_map_lookup_elem(&socks, &key);
	if (info) {
		info->start_ns = now;
		info->state_ns = now;
		info->flags = flags;
	}
	return info;
}

/* For a connection we did not see open: a local port that is listening means it was accepted. */
static __always_inline __u16 infer_direction(__u32 netns, __u16 local_port)
{
	struct listen_key lk = { .netns = netns, .port = local_port };

	return bpf_map_lookup_elem(&listeners, &lk) ? TCPOTEL_F_PASSIVE : TCPOTEL_F_ACTIVE;
}

/* Is the current task inside connect()? (Process context only.) */
static __always_inline bool in_connect(void)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);

	return TCPOTEL_SYSCALL_NR(regs) == TCPOTEL_NR_CONNECT;
}

/* ---------- state changes ---------- */

/* Transitions something consumes; the rest return at once. */
static __always_inline bool interesting(int oldstate, int newstate)
{
	switch (newstate) {
	case TCP_LISTEN:
	case TCP_SYN_SENT:
	case TCP_CLOSE:
		return true;
	case TCP_SYN_RECV:
		return oldstate == TCP_LISTEN;
	case TCP_ESTABLISHED:
		return oldstate == TCP_SYN_SENT || oldstate == TCP_SYN_RECV;
	case TCP_FIN_WAIT1:
		return oldstate == TCP_ESTABLISHED; /* close() or shutdown() by the owner */
	case TCP_LAST_ACK:
		return oldstate == TCP_CLOSE_WAIT;  /* close() by the owner */
	}
	return false;
}

static __always_inline int on_state_change(const struct sock *sk, int oldstate, int newstate, bool btf)
{
	const struct tcpotel_proto_info *pi = 0;
	__u64 key = (__u64)sk;
	const struct tcp_sock *tp;
	struct sock_info *info;
	struct agg_event a;
	__u64 now = 0;
	__u16 af;
	__u8 kind = 0;
	bool records, aggs;

	if (!emit_state_changes && !interesting(oldstate, newstate))
		return 0;
	if (sk_protocol(sk, btf) != IPPROTO_TCP)
		return 0;
	af = sk_family(sk, btf);
	if (!family_wanted(af))
		return 0;
	if (btf) {
		tp = bpf_skc_to_tcp_sock((void *)sk);
		if (!tp)
			return 0;
	} else {
		tp = (const struct tcp_sock *)sk;
	}

	if (newstate == TCP_LISTEN) {
		/* listen(): process context. Children inherit this owner until accept(). */
		struct listen_key lk = { .netns = sk_netns(sk, btf),
					 .port = RD(btf, sk, __sk_common.skc_num) };
		struct owner o = {};

		owner_from_current(&o);
		bpf_map_update_elem(&listeners, &lk, &o, BPF_ANY);
		return 0;
	}
	if (oldstate == TCP_LISTEN && newstate == TCP_CLOSE) {
		struct listen_key lk = { .netns = sk_netns(sk, btf), .port = sk_sport(sk, tp, btf) };

		bpf_map_delete_elem(&listeners, &lk);
		return 0;
	}

	if (newstate == TCP_SYN_SENT) {
		/* connect(): process context. */
		now = bpf_ktime_get_ns();
		info = info_create(key, now, TCPOTEL_F_ACTIVE | TCPOTEL_F_OWNER);
		if (info)
			owner_from_current(&info->owner);
	} else if (oldstate == TCP_LISTEN && newstate == TCP_SYN_RECV) {
		/* A child cloned from its listener, in softirq context: borrow the listener's owner. */
		struct listen_key lk = { .netns = sk_netns(sk, btf),
					 .port = RD(btf, sk, __sk_common.skc_num) };
		struct owner *lo = bpf_map_lookup_elem(&listeners, &lk);

		now = bpf_ktime_get_ns();
		info = info_create(key, now, TCPOTEL_F_PASSIVE);
		if (info && lo) {
			info->owner = *lo;
			info->flags |= TCPOTEL_F_OWNER;
		}
	} else {
		info = bpf_map_lookup_elem(&socks, &key);
		if (!info && newstate == TCP_CLOSE) {
			count_untracked();
		} else if (!info) {
			/* Opened before we attached: adopt it so that its close is complete. */
			__u16 dir = oldstate == TCP_SYN_SENT ? TCPOTEL_F_ACTIVE :
				    oldstate == TCP_SYN_RECV ? TCPOTEL_F_PASSIVE :
				    TCPOTEL_F_PREEXISTING | infer_direction(sk_netns(sk, btf), sk_sport(sk, tp, btf));

			now = bpf_ktime_get_ns();
			info = info_create(key, now, dir);
			if (info && (dir & TCPOTEL_F_PREEXISTING))
				info->start_ns = 0;
			count_untracked();
		}
	}

	if ((newstate == TCP_FIN_WAIT1 && oldstate == TCP_ESTABLISHED) ||
	    (newstate == TCP_LAST_ACK && oldstate == TCP_CLOSE_WAIT)) {
		/* close() or shutdown() by the owner: process context. */
		if (info && !(info->flags & TCPOTEL_F_OWNER)) {
			owner_from_current(&info->owner);
			info->flags |= TCPOTEL_F_OWNER;
		}
	}

	if (newstate == TCP_ESTABLISHED && (oldstate == TCP_SYN_SENT || oldstate == TCP_SYN_RECV))
		kind = TCPOTEL_EV_OPEN;
	else if (newstate == TCP_CLOSE && (oldstate == TCP_SYN_SENT || oldstate == TCP_SYN_RECV))
		kind = TCPOTEL_EV_FAILED;
	else if (newstate == TCP_CLOSE && oldstate != TCP_CLOSE)
		kind = TCPOTEL_EV_CLOSE;
	if (!kind && !emit_state_changes)
		goto update;

	__builtin_memset(&a.c, 0, sizeof(a.c));
	read_tuple(&a.c, sk, tp, af, btf);
	if (!receiver_wants(a.c.sport, a.c.dport, info ? info->owner.pid : 0))
		goto update;
	a.c.flags = info ? info->flags : 0;
	if (!now)
		now = bpf_ktime_get_ns();

	if (emit_state_changes && record_wanted(TCPOTEL_EV_STATE, a.c.family, a.c.flags, a.c.sport, a.c.dport))
		emit_record(TCPOTEL_EV_STATE, &a.c, info, sk, oldstate, newstate,
			    info && info->state_ns ? now - info->state_ns : 0, 0, 0, false, now, btf);
	if (!kind)
		goto update;

	records = record_wanted(kind, a.c.family, a.c.flags, a.c.sport, a.c.dport);
	aggs = agg_kinds & KIND_BIT(kind);

	if (kind == TCPOTEL_EV_OPEN) {
		__u64 handshake = info && info->start_ns ? now - info->start_ns : 0;

		if (info)
			info->flags &= ~TCPOTEL_F_PREEXISTING;
		if (oldstate == TCP_SYN_RECV) {
			/*
			 * The child socket only exists from the final ACK on: its own SYN_RECV
			 * lasts microseconds. The SYN-ACK round trip measured on the child is
			 * the passive side's view of the handshake.
			 */
			__u64 synack_ns = (__u64)(RD(btf, tp, srtt_us) >> 3) * 1000;
			if (synack_ns > handshake)
				handshake = synack_ns;
		}
		if (info) {
			info->handshake_ns = handshake;
			a.c.flags = info->flags;
		}
		if (!records && !aggs)
			goto update;
		read_counters(&a.c, sk, tp, a.c.flags, oldstate, btf);
		if (records)
			emit_record(kind, &a.c, info, sk, oldstate, newstate, handshake, 0, 0, true, now, btf);
		if (aggs) {
			agg_event_init(&a, kind, a.c.flags, info ? &info->owner : 0);
			pi = proto_of(info, btf);
			agg_event_proto(&a, pi, btf);
			a.opened = 1;
			agg_observe_positive(&a, 1, handshake);
			if (info) {
				if (!(info->agg & TCPOTEL_AGG_TRACKED)) {
					agg_track(info, 0, 0, 0, 0, 0);
					info->key_proto = a.proto;
				}
				if (!(info->agg & TCPOTEL_AGG_OPEN)) {
					info->agg |= TCPOTEL_AGG_OPEN;
					a.active = 1;
				}
				agg_progress(&a, info, &a.c);
			} else {
				agg_whole_life(&a);
			}
			agg_apply(&a, pi);
		}
	} else if (kind == TCPOTEL_EV_FAILED) {
		__u16 err = RD(btf, sk, sk_err);

		if (!err)
			err = RD(btf, sk, sk_err_soft);
		if (!err && oldstate == TCP_SYN_SENT && info && in_connect()) {
			/* Undone inside connect() itself (the error is only its return
			 * value): its exit reports it. */
			info->deferred = 1;
			goto update;
		}
		if (!records && !aggs)
			goto update;
		read_counters(&a.c, sk, tp, a.c.flags, oldstate, btf);
		if (records)
			emit_record(kind, &a.c, info, sk, oldstate, newstate,
				    info && info->start_ns ? now - info->start_ns : 0, err, 0, true, now, btf);
		if (aggs) {
			agg_event_init(&a, kind, a.c.flags, info ? &info->owner : 0);
			pi = proto_of(info, btf);
			agg_event_proto(&a, pi, btf);
			a.errno = err;
			agg_apply(&a, pi);
			if (info)
				info->agg = 0;
		}
	} else {
		__u16 err = RD(btf, sk, sk_err);
		__u16 abort = 0;

		/* Straight from ESTABLISHED or CLOSE_WAIT to CLOSE, with no error and no
		 * reset received: an abortive close (SO_LINGER 0, unread data, disconnect),
		 * whose RST the kernel sends right after this transition. */
		if ((oldstate == TCP_ESTABLISHED || oldstate == TCP_CLOSE_WAIT) && !err &&
		    !(info && (info->flags & TCPOTEL_F_RST_RECV)))
			abort = TCPOTEL_F_RST_SENT;
		if (!records && !aggs)
			goto update;
		read_counters(&a.c, sk, tp, a.c.flags, oldstate, btf);
		if (records)
			emit_record(kind, &a.c, info, sk, oldstate, newstate,
				    info && info->start_ns ? now - info->start_ns : 0, err, abort, true, now, btf);
		if (aggs) {
			bool tracked = info && (info->agg & TCPOTEL_AGG_TRACKED);

			agg_event_init(&a, kind, a.c.flags | abort,
				       info ? (tracked ? &info->key_owner : &info->owner) : 0);
			pi = proto_of(info, btf);
			agg_event_proto(&a, pi, btf);
			if (tracked)
				agg_rekey(&a, info);
			a.closed = 1;
			if (tracked) {
				agg_progress(&a, info, &a.c);
				if (info->agg & TCPOTEL_AGG_OPEN)
					a.active -= 1;
				info->agg = 0;
			} else {
				agg_whole_life(&a);
			}
			agg_observe_positive(&a, 0, a.c.srtt_us);
			agg_observe_positive(&a, 2, info && info->start_ns ? now - info->start_ns : 0);
			agg_observe_loss(&a, &a.c);
			agg_apply(&a, pi);
		}
	}

update:
	/* The socket's state outlives CLOSE until tcp_destroy_sock: a reset sent right
	 * after an abortive close still finds its owner. */
	if (info && emit_state_changes)
		info->state_ns = now ? now : bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(btf_inet_sock_set_state, const struct sock *sk, const int oldstate, const int newstate)
{
	return on_state_change(sk, oldstate, newstate, true);
}

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(raw_inet_sock_set_state, const struct sock *sk, const int oldstate, const int newstate)
{
	return on_state_change(sk, oldstate, newstate, false);
}

static __always_inline int on_destroy(const struct sock *sk)
{
	__u64 key = (__u64)sk;

	bpf_map_delete_elem(&socks, &key);
	return 0;
}

SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(btf_tcp_destroy_sock, const struct sock *sk)
{
	return on_destroy(sk);
}

SEC("raw_tp/tcp_destroy_sock")
int BPF_PROG(raw_tcp_destroy_sock, const struct sock *sk)
{
	return on_destroy(sk);
}

/* ---------- retransmits and resets ---------- */

static __always_inline int on_retransmit(const struct sock *sk, bool btf)
{
	const struct tcpotel_proto_info *pi = 0;
	struct agg_event a;
	__u64 key = (__u64)sk;
	const struct tcp_sock *tp;
	struct sock_info *info;
	bool records, aggs;
	__u16 af;
	__u8 state;

	if (!sk || sk_protocol(sk, btf) != IPPROTO_TCP)
		return 0;
	af = sk_family(sk, btf);
	if (!family_wanted(af))
		return 0;
	if (btf) {
		tp = bpf_skc_to_tcp_sock((void *)sk);
		if (!tp)
			return 0;
	} else {
		tp = (const struct tcp_sock *)sk;
	}
	info = bpf_map_lookup_elem(&socks, &key);
	__builtin_memset(&a.c, 0, sizeof(a.c));
	read_tuple(&a.c, sk, tp, af, btf);
	if (!receiver_wants(a.c.sport, a.c.dport, info ? info->owner.pid : 0))
		return 0;
	a.c.flags = info ? info->flags : 0;
	records = record_wanted(TCPOTEL_EV_RETRANSMIT, a.c.family, a.c.flags, a.c.sport, a.c.dport);
	aggs = agg_kinds & KIND_BIT(TCPOTEL_EV_RETRANSMIT);
	if (!records && !aggs)
		return 0;
	if (!info)
		count_untracked();
	state = RD(btf, sk, __sk_common.skc_state);
	read_counters(&a.c, sk, tp, a.c.flags, state, btf);
	if (records)
		emit_record(TCPOTEL_EV_RETRANSMIT, &a.c, info, sk, state, state, 0, 0, 0, true, 0, btf);
	if (aggs && info) {
		if (!(info->agg & TCPOTEL_AGG_TRACKED)) {
			/* First seen here: a connection open before we started counts only
			 * this retransmit; another one everything so far. */
			if (info->flags & TCPOTEL_F_PREEXISTING)
				agg_track(info, a.c.acked, a.c.received, a.c.total_retrans ? a.c.total_retrans - 1 : 0,
					  a.c.segs_out, a.c.segs_in);
			else
				agg_track(info, 0, 0, 0, 0, 0);
			pi = proto_of(info, btf);
			agg_event_proto(&a, pi, btf);
			info->key_proto = a.proto;
		}
		agg_event_init(&a, TCPOTEL_EV_RETRANSMIT, a.c.flags, &info->key_owner);
		pi = proto_of(info, btf);
			agg_event_proto(&a, pi, btf);
		agg_rekey(&a, info);
		agg_progress(&a, info, &a.c);
		agg_apply(&a, pi);
	}
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(btf_tcp_retransmit_skb, const struct sock *sk, const struct sk_buff *skb)
{
	return on_retransmit(sk, true);
}

SEC("raw_tp/tcp_retransmit_skb")
int BPF_PROG(raw_tcp_retransmit_skb, const struct sock *sk, const struct sk_buff *skb)
{
	return on_retransmit(sk, false);
}

static __always_inline int on_reset(const struct sock *sk, __u16 dir_flag, __u16 reason, bool btf)
{
	const struct tcpotel_proto_info *pi = 0;
	struct agg_event a;
	__u64 key = (__u64)sk;
	const struct tcp_sock *tp;
	struct sock_info *info;
	bool records, aggs;
	__u16 af;
	__u8 state;

	if (sk_protocol(sk, btf) != IPPROTO_TCP)
		return 0;
	af = sk_family(sk, btf);
	if (!family_wanted(af))
		return 0;
	if (btf) {
		tp = bpf_skc_to_tcp_sock((void *)sk);
		if (!tp)
			return 0;
	} else {
		tp = (const struct tcp_sock *)sk;
	}
	info = bpf_map_lookup_elem(&socks, &key);
	if (info)
		info->flags |= dir_flag;
	__builtin_memset(&a.c, 0, sizeof(a.c));
	read_tuple(&a.c, sk, tp, af, btf);
	if (!receiver_wants(a.c.sport, a.c.dport, info ? info->owner.pid : 0))
		return 0;
	a.c.flags = (info ? info->flags : 0) | dir_flag;
	records = record_wanted(TCPOTEL_EV_RESET, a.c.family, a.c.flags, a.c.sport, a.c.dport);
	aggs = agg_kinds & KIND_BIT(TCPOTEL_EV_RESET);
	if (!records && !aggs)
		return 0;
	state = RD(btf, sk, __sk_common.skc_state);
	read_counters(&a.c, sk, tp, a.c.flags, state, btf);
	if (records)
		emit_record(TCPOTEL_EV_RESET, &a.c, info, sk, state, state, 0, reason, dir_flag, true, 0, btf);
	if (aggs) {
		agg_event_init(&a, TCPOTEL_EV_RESET, info ? info->flags : 0, info ? &info->owner : 0);
		pi = proto_of(info, btf);
			agg_event_proto(&a, pi, btf);
		a.reset_dir = dir_flag == TCPOTEL_F_RST_RECV ? 2 : 1;
		agg_apply(&a, pi);
	}
	return 0;
}

/* A reset answering a segment that matched no socket (e.g. a closed port): take the
 * four-tuple from the segment. The RST goes back to its sender. */
static __always_inline int on_reset_without_socket(const struct sk_buff *skb, __u16 reason)
{
	const struct tcpotel_proto_info *pi = 0;
	struct agg_event a;
	unsigned char *head;
	__u16 nh, th;
	struct tcphdr tcp;
	__u8 version;
	bool records, aggs;

	if (!skb)
		return 0;
	head = BPF_CORE_READ(skb, head);
	nh = BPF_CORE_READ(skb, network_header);
	th = BPF_CORE_READ(skb, transport_header);
	if (bpf_probe_read_kernel(&version, 1, head + nh))
		return 0;
	version >>= 4;
	if (version != 4 && version != 6)
		return 0;
	if (filter_family && filter_family != version)
		return 0;
	if (bpf_probe_read_kernel(&tcp, sizeof(tcp), head + th))
		return 0;
	if (!ports_wanted(bpf_ntohs(tcp.dest), bpf_ntohs(tcp.source)) || filter_pid)
		return 0;
	__builtin_memset(&a.c, 0, sizeof(a.c));
	a.c.family = version;
	a.c.sport = bpf_ntohs(tcp.dest);
	a.c.dport = bpf_ntohs(tcp.source);
	records = record_wanted(TCPOTEL_EV_RESET, a.c.family, 0, a.c.sport, a.c.dport);
	aggs = agg_kinds & KIND_BIT(TCPOTEL_EV_RESET);
	if (!records && !aggs)
		return 0;
	if (version == 4) {
		struct iphdr ip;
		if (!bpf_probe_read_kernel(&ip, sizeof(ip), head + nh)) {
			a.c.saddr[0] = ip.daddr;
			a.c.daddr[0] = ip.saddr;
		}
	} else {
		struct ipv6hdr ip6;
		if (!bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh)) {
			__builtin_memcpy(a.c.saddr, &ip6.daddr, 16);
			__builtin_memcpy(a.c.daddr, &ip6.saddr, 16);
		}
	}
	if (records) {
		struct tcpotel_event *e = reserve(TCPOTEL_EV_RESET);

		if (e) {
			fill_record(e, &a.c, 0, 0, 0, 0, 0, reason, TCPOTEL_F_RST_SENT | TCPOTEL_F_NO_SOCKET, false,
				    bpf_ktime_get_ns());
			fill_proto(e, 0, 0, false);
			submit(e);
		}
	}
	if (aggs) {
		agg_event_init(&a, TCPOTEL_EV_RESET, 0, 0);
		agg_event_proto(&a, 0, false);
		pi = 0;
		a.reset_dir = 1;
		agg_apply(&a, pi);
	}
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(btf_tcp_send_reset, const struct sock *sk, const struct sk_buff *skb)
{
	if (!sk)
		return on_reset_without_socket(skb, 0);
	return on_reset(sk, TCPOTEL_F_RST_SENT, 0, true);
}

SEC("raw_tp/tcp_send_reset")
int BPF_PROG(raw_tcp_send_reset, const struct sock *sk, const struct sk_buff *skb)
{
	if (!sk)
		return on_reset_without_socket(skb, 0);
	return on_reset(sk, TCPOTEL_F_RST_SENT, 0, false);
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(btf_tcp_receive_reset, const struct sock *sk)
{
	return on_reset(sk, TCPOTEL_F_RST_RECV, 0, true);
}

SEC("raw_tp/tcp_receive_reset")
int BPF_PROG(raw_tcp_receive_reset, const struct sock *sk)
{
	return on_reset(sk, TCPOTEL_F_RST_RECV, 0, false);
}

/* ---------- the owner of accepted sockets ---------- */

/* The current task's socket behind an fd: fd -> file -> socket -> sock (NULL if none).
 * The task's fd table is reached with direct BTF loads; the rest with probe reads. */
static __always_inline struct sock *sock_of_fd(long fd)
{
	struct task_struct *task;
	struct fdtable *fdt;
	struct file **fds;
	struct file *file;
	struct socket *sock;
	struct sock *sk;

	if (fd < 0)
		return NULL;
	task = bpf_get_current_task_btf();
	fdt = task->files->fdt;
	if (!fdt || fd >= fdt->max_fds)
		return NULL;
	fds = fdt->fd;
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return NULL;
	if (bpf_probe_read_kernel(&sock, sizeof(sock), &file->private_data) || !sock)
		return NULL;
	if (bpf_probe_read_kernel(&sk, sizeof(sk), &sock->sk))
		return NULL;
	return sk;
}

/* accept()'s exit runs in the owner's context. */
static __always_inline int on_accept_exit(long fd)
{
	__u64 key;
	struct sock_info *info;

	key = (__u64)sock_of_fd(fd);
	if (!key)
		return 0;
	info = bpf_map_lookup_elem(&socks, &key);
	if (!info)
		return 0;
	owner_from_current(&info->owner);
	info->flags |= TCPOTEL_F_OWNER;
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int tp_sys_exit_accept4(struct syscall_trace_exit *ctx)
{
	return on_accept_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int tp_sys_exit_accept(struct syscall_trace_exit *ctx)
{
	return on_accept_exit(ctx->ret);
}

/* Fallback where tracefs cannot be had: every syscall exit, filtered by number. */
SEC("tp_btf/sys_exit")
int BPF_PROG(btf_sys_exit, struct pt_regs *regs, long ret)
{
	long nr = TCPOTEL_SYSCALL_NR(regs);

	if (nr != TCPOTEL_NR_ACCEPT && nr != TCPOTEL_NR_ACCEPT4)
		return 0;
	return on_accept_exit(ret);
}

/* ---------- connects that fail before their first SYN ---------- */

/*
 * connect() can fail before the socket ever reaches SYN_SENT (no route, an unusable
 * address, a policy refusal): no state change tells. Its exit, on an error, reports a
 * failed connect for a TCP socket the state path never saw, with the destination read
 * back from the call's own arguments (saved in the task's registers). Errors of a
 * connect still under way (EINPROGRESS, EALREADY, EINTR) and sockets with a SYN_SENT
 * behind them are left to the state path, unless it left this one to us (deferred).
 */
#define TCPOTEL_EINTR 4
#define TCPOTEL_EISCONN 106
#define TCPOTEL_EALREADY 114
#define TCPOTEL_EINPROGRESS 115

SEC("tracepoint/syscalls/sys_exit_connect")
int tp_sys_exit_connect(struct syscall_trace_exit *ctx)
{
	const struct tcpotel_proto_info *pi = 0;
	struct agg_event a;
	long ret = ctx->ret;
	struct task_struct *task;
	struct pt_regs *regs;
	const void *uaddr;
	__u64 addrlen, key;
	struct sock_info *info;
	struct sock *sk;
	struct owner o = {};
	const struct tcp_sock *tp;
	__u16 af, ufamily, port, flags;
	__u8 addr[16] = {};
	bool records, aggs;

	if (ret >= 0 || ret == -TCPOTEL_EINPROGRESS || ret == -TCPOTEL_EALREADY || ret == -TCPOTEL_EINTR ||
	    ret == -TCPOTEL_EISCONN)
		return 0;
	task = bpf_get_current_task_btf();
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	sk = sock_of_fd((long)PT_REGS_PARM1_CORE_SYSCALL(regs));
	if (!sk || TCPOTEL_SK_PROTOCOL(sk) != IPPROTO_TCP)
		return 0;
	key = (__u64)sk;
	af = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (!family_wanted(af))
		return 0;
	info = bpf_map_lookup_elem(&socks, &key);
	if (info && !info->deferred)
		return 0;
	uaddr = (const void *)PT_REGS_PARM2_CORE_SYSCALL(regs);
	addrlen = PT_REGS_PARM3_CORE_SYSCALL(regs);
	if (bpf_probe_read_user(&ufamily, sizeof(ufamily), uaddr))
		return 0;
	if (ufamily == AF_INET) {
		if (addrlen < sizeof(struct sockaddr_in) ||
		    bpf_probe_read_user(&port, sizeof(port), uaddr + offsetof(struct sockaddr_in, sin_port)) ||
		    bpf_probe_read_user(addr, 4, uaddr + offsetof(struct sockaddr_in, sin_addr)))
			return 0;
	} else if (ufamily == AF_INET6) {
		if (addrlen < sizeof(struct sockaddr_in6) ||
		    bpf_probe_read_user(&port, sizeof(port), uaddr + offsetof(struct sockaddr_in6, sin6_port)) ||
		    bpf_probe_read_user(addr, 16, uaddr + offsetof(struct sockaddr_in6, sin6_addr)))
			return 0;
	} else {
		return 0;
	}
	if (info)
		o = info->owner;
	else
		owner_from_current(&o);
	tp = (const struct tcp_sock *)sk;
	__builtin_memset(&a.c, 0, sizeof(a.c));
	read_tuple(&a.c, sk, tp, af, false);
	/* The destination as asked for: the socket never got it, or lost it again. An IPv4
	 * destination on an IPv6 socket is given v4-mapped, as the socket would hold it. */
	a.c.dport = bpf_ntohs(port);
	if (af == AF_INET6 && ufamily == AF_INET) {
		a.c.daddr[0] = 0;
		a.c.daddr[1] = 0;
		a.c.daddr[2] = bpf_htonl(0xffff);
		__builtin_memcpy(&a.c.daddr[3], addr, 4);
	} else {
		__builtin_memcpy(a.c.daddr, addr, 16);
	}
	if (!receiver_wants(a.c.sport, a.c.dport, o.pid))
		return 0;
	flags = info ? info->flags : TCPOTEL_F_ACTIVE | TCPOTEL_F_OWNER;
	a.c.flags = flags;
	records = record_wanted(TCPOTEL_EV_FAILED, a.c.family, flags, a.c.sport, a.c.dport);
	aggs = agg_kinds & KIND_BIT(TCPOTEL_EV_FAILED);
	if (records) {
		struct tcpotel_event *e = reserve(TCPOTEL_EV_FAILED);

		if (e) {
			__u64 now = bpf_ktime_get_ns();

			fill_record(e, &a.c, info, info ? info_cookie(info, sk, false) :
					      (1ULL << 52) | __sync_fetch_and_add(&next_synthetic_cookie, 1),
				    info ? TCP_SYN_SENT : TCP_CLOSE, TCP_CLOSE,
				    info && info->start_ns ? now - info->start_ns : 0, (__u16)-ret, 0, false, now);
			fill_proto(e, 0, 0, false);
			e->flags = flags;
			e->pid = o.pid;
			e->tid = o.tid;
			e->cgroup_id = o.cgroup_id;
			__builtin_memcpy(e->comm, o.comm, TCPOTEL_COMM_LEN);
			submit(e);
		}
	}
	if (aggs) {
		agg_event_init(&a, TCPOTEL_EV_FAILED, flags, &o);
		agg_event_proto(&a, 0, false);
		pi = 0;
		a.errno = (__u16)-ret;
		agg_apply(&a, pi);
	}
	if (info) {
		info->deferred = 0;
		info->agg = 0;
	}
	return 0;
}

/* ---------- iterators: what already exists, and live counters ---------- */

SEC("iter/task_file")
int iter_task_file(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct socket *sock;
	struct sock *sk;
	struct sock_info *info;
	__u64 key;
	__u16 af;

	if (!task || !file)
		return 0;
	sock = bpf_sock_from_file(file);
	if (!sock)
		return 0;
	sk = sock->sk;
	if (!sk || TCPOTEL_SK_PROTOCOL(sk) != IPPROTO_TCP)
		return 0;
	af = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (!family_wanted(af))
		return 0;

	if (BPF_CORE_READ(sk, __sk_common.skc_state) == TCP_LISTEN) {
		struct listen_key lk = { .netns = sk_netns(sk, false),
					 .port = BPF_CORE_READ(sk, __sk_common.skc_num) };
		struct owner o = {};

		owner_from_task(&o, task);
		bpf_map_update_elem(&listeners, &lk, &o, BPF_NOEXIST);
		return 0;
	}
	key = (__u64)sk;
	info = bpf_map_lookup_elem(&socks, &key);
	if (!info) {
		info = info_create(key, bpf_ktime_get_ns(), TCPOTEL_F_PREEXISTING);
		if (!info)
			return 0;
		info->start_ns = 0;
	}
	if (!(info->flags & TCPOTEL_F_OWNER)) {
		owner_from_task(&info->owner, task);
		info->flags |= TCPOTEL_F_OWNER;
	}
	return 0;
}

SEC("iter/tcp")
int iter_tcp(struct bpf_iter__tcp *ctx)
{
	const struct tcpotel_proto_info *pi = 0;
	struct agg_event *ap;
	__u32 zero = 0;
	struct sock_common *skc = ctx->sk_common;
	struct bpf_iter_meta *meta = ctx->meta;
	struct tcp_sock *tp;
	struct sock *sk;
	struct sock_info *info;
	__u64 key, seq_num, now;
	__u16 af;
	__u8 state, kind;
	bool records, aggs;

	if (!skc)
		return 0;
	af = skc->skc_family;
	if (!family_wanted(af))
		return 0;
	state = skc->skc_state;

	/* An object whose output overflowed the seq buffer is shown again: count it once. */
	seq_num = meta->seq_num;
	if (iter_mode != TCPOTEL_ITER_SNAPSHOT && iter_mode != TCPOTEL_ITER_SAMPLE)
		return 0;
	if (iter_mode == TCPOTEL_ITER_SAMPLE && seq_num >= iter_next_seq) {
		iter_next_seq = seq_num + 1;
		if (state < TCPOTEL_TCP_STATES) {
			if (af == AF_INET6)
				state_counts.v6[state & (TCPOTEL_TCP_STATES - 1)]++;
			else
				state_counts.v4[state & (TCPOTEL_TCP_STATES - 1)]++;
		}
	}

	if (state == TCP_LISTEN || state == TCP_TIME_WAIT || state == TCP_NEW_SYN_RECV ||
	    state == TCP_SYN_SENT || state == TCP_SYN_RECV || state == TCP_CLOSE)
		return 0;
	kind = iter_mode == TCPOTEL_ITER_SNAPSHOT ? TCPOTEL_EV_EXISTING : TCPOTEL_EV_SAMPLE;
	records = record_kinds & KIND_BIT(kind);
	aggs = agg_kinds & KIND_BIT(kind);
	if (!records && !aggs)
		return 0;
	ap = bpf_map_lookup_elem(&iter_agg, &zero);
	if (!ap)
		return 0;
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0;
	sk = (struct sock *)tp;
	key = (__u64)sk;

	__builtin_memset(&ap->c, 0, sizeof(ap->c));
	read_tuple(&ap->c, sk, tp, af, true);
	if (!ports_wanted(ap->c.sport, ap->c.dport))
		return 0;
	info = bpf_map_lookup_elem(&socks, &key);
	if (!info) {
		/* Opened before we attached (or evicted): adopt it. */
		info = info_create(key, bpf_ktime_get_ns(), TCPOTEL_F_PREEXISTING);
		if (!info)
			return 0;
		info->start_ns = 0;
	}
	if (!(info->flags & (TCPOTEL_F_ACTIVE | TCPOTEL_F_PASSIVE)))
		info->flags |= infer_direction(ap->c.netns, ap->c.sport);
	if (!pid_wanted(info->owner.pid))
		return 0;
	ap->c.flags = info->flags;
	read_counters(&ap->c, sk, tp, info->flags, state, true);

	if (kind == TCPOTEL_EV_EXISTING) {
		/* Opened after we attached: already reported by the state-change hook. */
		if (!(info->flags & TCPOTEL_F_PREEXISTING))
			return 0;
	} else if (info->last_acked == ap->c.acked && info->last_received == ap->c.received) {
		return 0; /* idle since the last sample */
	}
	info->last_acked = ap->c.acked;
	info->last_received = ap->c.received;

	now = bpf_ktime_get_ns();
	records = records && record_wanted(kind, ap->c.family, ap->c.flags, ap->c.sport, ap->c.dport);
	if (records) {
		struct tcpotel_event *e = bpf_map_lookup_elem(&iter_record, &zero);

		if (e) {
			fill_record(e, &ap->c, info, info_cookie(info, sk, true), state, state,
				    info->start_ns ? now - info->start_ns : 0, 0, 0, true, now);
			fill_proto(e, info, sk, true);
			e->kind = kind;
			bpf_seq_write(meta->seq, e, sizeof(*e));
		}
	}
	if (aggs) {
		pi = proto_of(info, true);
		if (!(info->agg & TCPOTEL_AGG_TRACKED)) {
			/* Open before we started (or not seen open): active from now on, its
			 * counters so far not ours to count. */
			agg_track(info, ap->c.acked, ap->c.received, ap->c.total_retrans, ap->c.segs_out, ap->c.segs_in);
			info->agg |= TCPOTEL_AGG_OPEN;
			agg_event_init(ap, kind, ap->c.flags, &info->owner);
			agg_event_proto(ap, pi, true);
			info->key_proto = ap->proto;
			ap->active = 1;
		} else if (kind == TCPOTEL_EV_SAMPLE) {
			agg_event_init(ap, kind, ap->c.flags, &info->key_owner);
			agg_event_proto(ap, pi, true);
			agg_rekey(ap, info);
			agg_progress(ap, info, &ap->c);
			agg_observe_positive(ap, 0, ap->c.srtt_us);
		} else {
			/* Already counted: its series still exists in this window. */
			agg_event_init(ap, kind, ap->c.flags, &info->owner);
			agg_event_proto(ap, pi, true);
		}
		agg_apply(ap, pi);
	}
	return 0;
}

/* ---------- what connections carry: their first payload bytes ---------- */

/*
 * cgroup_skb programs on the cgroup v2 root see every packet of every socket in the tree,
 * both ways. Each direction's first payload is looked at once (bpf/protocol.h), what it
 * says kept in the socket's storage; after that a packet costs a storage lookup. Read only:
 * the programs always pass the packet, unchanged.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tcpotel_scratch);
} proto_scratch SEC(".maps");

/* The classifier, verified once on its own (with whatever offsets and lengths). */
__noinline int classify_payload(struct __sk_buff *skb, __u32 off, __u32 len, struct tcpotel_scratch *scratch,
				struct tcpotel_proto_info *out)
{
	if (!skb || !scratch || !out)
		return 0;
	return tcpotel_classify(skb, off, len, TCPOTEL_FROM_EITHER, scratch, out);
}

static __always_inline void inspect(struct __sk_buff *skb, __u8 dir)
{
	struct bpf_sock *bsk = skb->sk;
	struct sock_info *info;
	struct tcpotel_scratch *scratch;
	struct tcpotel_proto_info found;
	const __u8 *data, *end, *th;
	__u32 zero = 0, off, len;
	__u64 key;
	__u8 b;

	if (!detect_protocol || !bsk)
		return;
	/* Where the payload starts: the IP header (no IPv6 extension headers), then TCP's.
	 * Read in place (direct packet access) when the headers are in the linear part, as
	 * they nearly always are; else through the helper. Packets without payload (SYN, ACK,
	 * FIN: most of them) end here, before any lookup. */
	data = (const __u8 *)(long)skb->data;
	end = (const __u8 *)(long)skb->data_end;
	if (skb->protocol == bpf_htons(0x0800)) {
		if (data + 20 <= end) {
			off = (data[0] & 0xf) * 4;
			b = data[9];
		} else if (!bpf_skb_load_bytes(skb, 0, &b, 1)) {
			off = (b & 0xf) * 4;
			if (bpf_skb_load_bytes(skb, 9, &b, 1))
				return;
		} else {
			return;
		}
	} else if (skb->protocol == bpf_htons(0x86DD)) {
		if (data + 40 <= end)
			b = data[6];
		else if (bpf_skb_load_bytes(skb, 6, &b, 1))
			return;
		off = 40;
	} else {
		return;
	}
	if (b != IPPROTO_TCP)
		return;
	off &= 0x3f;
	th = data + off;
	if (th + 13 <= end)
		b = th[12];
	else if (bpf_skb_load_bytes(skb, off + 12, &b, 1))
		return;
	off += (b >> 4) * 4;
	if (skb->len <= off)
		return; /* no payload: SYN, ACK, FIN */
	len = skb->len - off;

	/* The socket's state, as the state-change programs keep it (keyed by its address):
	 * a socket they do not track (open before tcpotel started) is not looked at. */
	bsk = bpf_sk_fullsock(bsk);
	if (!bsk || bsk->protocol != IPPROTO_TCP)
		return;
	key = (__u64)bsk;
	info = bpf_map_lookup_elem(&socks, &key);
	if (!info || info->seen & dir || info->proto.proto > TCPOTEL_PROTO_UNKNOWN)
		return;
	scratch = bpf_map_lookup_elem(&proto_scratch, &zero);
	if (!scratch)
		return;
	classify_payload(skb, off, len, scratch, &found);
	info->seen |= dir;
	if (found.proto > TCPOTEL_PROTO_UNKNOWN)
		info->proto = found;
	else if (info->proto.proto == TCPOTEL_PROTO_NONE)
		info->proto.proto = TCPOTEL_PROTO_UNKNOWN;
}

SEC("cgroup_skb/egress")
int cg_egress(struct __sk_buff *skb)
{
	inspect(skb, 1);
	return 1;
}

SEC("cgroup_skb/ingress")
int cg_ingress(struct __sk_buff *skb)
{
	inspect(skb, 2);
	return 1;
}
