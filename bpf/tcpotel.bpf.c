// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tcpotel kernel side: every TCP connection, without kprobes or fentry.
 *
 * Hooks (twins chosen at load time by user space, see src/receivers/ebpf/features.ts):
 *   sock:inet_sock_set_state   tp_btf | raw_tp        opens, closes, failures, state changes
 *   tcp:tcp_retransmit_skb     tp_btf | raw_tp        retransmits
 *   tcp:tcp_send_reset         tp_btf | raw_tp        resets sent
 *   tcp:tcp_receive_reset      tp_btf | raw_tp        resets received
 *   syscalls:sys_exit_accept*  tracepoint | tp_btf sys_exit   owner of accepted sockets
 *   iter/task_file, iter/tcp                          connections that already exist, live counters
 *
 * Owners (pid, comm, cgroup) are captured in process context only (connect, listen,
 * accept's exit, close) and kept per socket: most state changes run in softirq context,
 * where `current` is whoever happened to be running.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "tcpotel.h"
#include "compat.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Load-time configuration (read-only data, set between open and load). */
const volatile __u8 filter_family = 0;               /* 0: both, 4 or 6 */
const volatile __u32 filter_pid = 0;                 /* 0: any process */
const volatile __u32 filter_nports = 0;              /* 0: any port */
const volatile __u16 filter_ports[TCPOTEL_MAX_PORTS] = {};
const volatile bool emit_state_changes = false;
const volatile __u64 wakeup_bytes = 0;               /* 0: wake the consumer on every event */

/* Iterator control, written by user space before each iterator run. */
__u32 iter_mode = 0;
__u64 next_synthetic_cookie = 0;
__u64 iter_next_seq = 0;
struct tcpotel_state_counts state_counts = {};

struct owner {
	__u64 cgroup_id;
	__u32 pid;
	__u32 tid;
	char comm[TCPOTEL_COMM_LEN];
};

struct sock_info {
	__u64 cookie;
	__u64 start_ns;      /* connect() or SYN_RECV; 0 when unknown (pre-existing) */
	__u64 state_ns;      /* when the current state was entered */
	__u64 last_acked;    /* counters at the last SAMPLE, to skip idle connections */
	__u64 last_received;
	__u64 handshake_ns;
	struct owner owner;
	__u16 flags;
	__u8 pad[6];
};

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

static __always_inline __u32 sk_netns(const struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

static __always_inline __u8 family_of(__u16 af)
{
	return af == AF_INET6 ? 6 : 4;
}

static __always_inline void read_tuple(struct tcpotel_event *e, const struct sock *sk, __u16 af)
{
	const struct inet_sock *inet = (const struct inet_sock *)sk;

	e->family = family_of(af);
	/* skc_num is already 0 at X->CLOSE: inet_sport still holds the local port. */
	e->sport = bpf_ntohs(BPF_CORE_READ(inet, inet_sport));
	e->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (af == AF_INET6) {
		bpf_core_read(e->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(e->daddr, 16, &sk->__sk_common.skc_v6_daddr);
	} else {
		bpf_core_read(e->saddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(e->daddr, 4, &sk->__sk_common.skc_daddr);
	}
	e->netns = sk_netns(sk);
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
static __always_inline void read_counters(struct tcpotel_event *e, const struct sock *sk,
					  __u16 flags, __u8 state)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	__u64 acked = BPF_CORE_READ(tp, bytes_acked);
	__u64 received = BPF_CORE_READ(tp, bytes_received);
	unsigned long sk_flags = BPF_CORE_READ(sk, __sk_common.skc_flags);

	if ((flags & TCPOTEL_F_ACTIVE) && acked)
		acked--;
	if (fin_sent_in(state) && acked &&
	    BPF_CORE_READ(tp, snd_una) == BPF_CORE_READ(tp, write_seq))
		acked--;
	if ((sk_flags & (1UL << bpf_core_enum_value(enum sock_flags, SOCK_DONE))) && received)
		received--; /* SOCK_DONE: the peer's FIN was received */
	e->bytes_acked = acked;
	e->bytes_received = received;
	e->segs_in = BPF_CORE_READ(tp, segs_in);
	e->segs_out = BPF_CORE_READ(tp, segs_out);
	e->total_retrans = BPF_CORE_READ(tp, total_retrans);
	e->srtt_us = BPF_CORE_READ(tp, srtt_us) >> 3;
	if (bpf_core_field_exists(tp->bytes_retrans))
		e->bytes_retrans = BPF_CORE_READ(tp, bytes_retrans);
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
	o->pid = BPF_CORE_READ(task, tgid);
	o->tid = BPF_CORE_READ(task, pid);
	o->cgroup_id = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
	BPF_CORE_READ_STR_INTO(&o->comm, task, comm);
}

static __always_inline void copy_owner(struct tcpotel_event *e, const struct sock_info *info)
{
	e->pid = info->owner.pid;
	e->tid = info->owner.tid;
	e->cgroup_id = info->owner.cgroup_id;
	__builtin_memcpy(e->comm, info->owner.comm, TCPOTEL_COMM_LEN);
}

/* ---------- load-time filters ---------- */

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
	__builtin_memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->ts_ns = bpf_ktime_get_ns();
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

/* A filtered-out event is counted, never produced. */
static __always_inline bool wanted(const struct sock *sk, const struct sock_info *info)
{
	const struct inet_sock *inet = (const struct inet_sock *)sk;
	__u16 sport, dport;
	struct tcpotel_stats *st;

	if (filter_nports == 0 && filter_pid == 0)
		return true;
	sport = bpf_ntohs(BPF_CORE_READ(inet, inet_sport));
	dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (ports_wanted(sport, dport) && pid_wanted(info ? info->owner.pid : 0))
		return true;
	st = stats_get();
	if (st)
		__sync_fetch_and_add(&st->filtered, 1);
	return false;
}

static __always_inline void emit_sock_event(__u8 kind, const struct sock *sk, __u16 af,
					    const struct sock_info *info, __u8 oldstate,
					    __u8 newstate, __u64 duration_ns, __u16 error,
					    __u16 extra_flags, bool counters)
{
	struct tcpotel_event *e = reserve(kind);

	if (!e)
		return;
	read_tuple(e, sk, af);
	if (counters)
		read_counters(e, sk, info ? info->flags : 0, oldstate);
	e->oldstate = oldstate;
	e->newstate = newstate;
	e->duration_ns = duration_ns;
	e->error = error;
	e->flags = extra_flags;
	if (info) {
		e->cookie = info->cookie;
		e->flags |= info->flags;
		e->handshake_ns = info->handshake_ns;
		copy_owner(e, info);
	} else {
		e->flags |= TCPOTEL_F_UNTRACKED;
	}
	submit(e);
}

/* connect() in progress, per thread: its destination (see the connect section below). */
struct connect_args {
	__u64 start_ns;
	__s64 fd;
	__u16 family;
	__u16 port;
	__u8 addr[16];
	/* The state path saw this connect fail inside the call with no error on the socket
	 * (no ephemeral port: EADDRNOTAVAIL): the syscall's exit reports it, with its errno. */
	__u64 deferred_sk;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct connect_args);
} connecting SEC(".maps");

/* ---------- state changes ---------- */

static __always_inline struct sock_info *info_create(__u64 key, __u64 cookie, __u64 now, __u16 flags)
{
	struct sock_info fresh = {};

	/* Where the kernel's cookie cannot be had (raw_tp), number the socket ourselves,
	 * above 2^52 so that it never meets a real cookie and stays exact in a JS number. */
	if (!cookie)
		cookie = (1ULL << 52) | __sync_fetch_and_add(&next_synthetic_cookie, 1);
	fresh.cookie = cookie;
	fresh.start_ns = now;
	fresh.state_ns = now;
	fresh.flags = flags;
	bpf_map_update_elem(&socks, &key, &fresh, BPF_ANY);
	return bpf_map_lookup_elem(&socks, &key);
}

/* For a connection we did not see open: a local port that is listening means it was accepted. */
static __always_inline __u16 infer_direction(__u32 netns, __u16 local_port)
{
	struct listen_key lk = { .netns = netns, .port = local_port };

	return bpf_map_lookup_elem(&listeners, &lk) ? TCPOTEL_F_PASSIVE : TCPOTEL_F_ACTIVE;
}

static __always_inline int on_state_change(const struct sock *sk, int oldstate, int newstate,
					   __u64 cookie)
{
	__u64 key = (__u64)sk;
	__u64 now = bpf_ktime_get_ns();
	struct sock_info *info;
	__u16 af;

	if (TCPOTEL_SK_PROTOCOL(sk) != IPPROTO_TCP)
		return 0;
	af = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (!family_wanted(af))
		return 0;

	if (newstate == TCP_LISTEN) {
		/* listen(): process context. Children inherit this owner until accept(). */
		struct listen_key lk = { .netns = sk_netns(sk),
					 .port = BPF_CORE_READ(sk, __sk_common.skc_num) };
		struct owner o = {};

		owner_from_current(&o);
		bpf_map_update_elem(&listeners, &lk, &o, BPF_ANY);
		return 0;
	}
	if (oldstate == TCP_LISTEN) {
		if (newstate == TCP_CLOSE) {
			struct listen_key lk = { .netns = sk_netns(sk),
						 .port = bpf_ntohs(BPF_CORE_READ((const struct inet_sock *)sk, inet_sport)) };
			bpf_map_delete_elem(&listeners, &lk);
			return 0;
		}
	}

	info = bpf_map_lookup_elem(&socks, &key);
	if (newstate == TCP_SYN_SENT) {
		/* connect(): process context. */
		info = info_create(key, cookie, now, TCPOTEL_F_ACTIVE | TCPOTEL_F_OWNER);
		if (info)
			owner_from_current(&info->owner);
	} else if (oldstate == TCP_LISTEN && newstate == TCP_SYN_RECV) {
		/* A child cloned from its listener, in softirq context: borrow the listener's owner. */
		struct listen_key lk = { .netns = sk_netns(sk),
					 .port = BPF_CORE_READ(sk, __sk_common.skc_num) };
		struct owner *lo = bpf_map_lookup_elem(&listeners, &lk);

		info = info_create(key, cookie, now, TCPOTEL_F_PASSIVE);
		if (info && lo) {
			info->owner = *lo;
			info->flags |= TCPOTEL_F_OWNER;
		}
	} else if (!info && newstate == TCP_CLOSE) {
		count_untracked();
	} else if (!info) {
		/* Opened before we attached: adopt it so that its close is complete. */
		__u16 dir = oldstate == TCP_SYN_SENT ? TCPOTEL_F_ACTIVE :
			    oldstate == TCP_SYN_RECV ? TCPOTEL_F_PASSIVE :
			    TCPOTEL_F_PREEXISTING |
				    infer_direction(sk_netns(sk), bpf_ntohs(BPF_CORE_READ(
					    (const struct inet_sock *)sk, inet_sport)));
		info = info_create(key, cookie, now, dir);
		if (info && (dir & TCPOTEL_F_PREEXISTING))
			info->start_ns = 0;
		count_untracked();
	}

	if (info && !info->cookie)
		info->cookie = cookie;

	if ((newstate == TCP_FIN_WAIT1 && oldstate == TCP_ESTABLISHED) ||
	    (newstate == TCP_LAST_ACK && oldstate == TCP_CLOSE_WAIT)) {
		/* close() or shutdown() by the owner: process context. */
		if (info && !(info->flags & TCPOTEL_F_OWNER)) {
			owner_from_current(&info->owner);
			info->flags |= TCPOTEL_F_OWNER;
		}
	}

	if (!wanted(sk, info))
		goto update;

	if (emit_state_changes)
		emit_sock_event(TCPOTEL_EV_STATE, sk, af, info, oldstate, newstate,
				info && info->state_ns ? now - info->state_ns : 0, 0, 0, false);

	if (newstate == TCP_ESTABLISHED && (oldstate == TCP_SYN_SENT || oldstate == TCP_SYN_RECV)) {
		__u64 handshake = info && info->start_ns ? now - info->start_ns : 0;

		if (info)
			info->flags &= ~TCPOTEL_F_PREEXISTING;
		if (oldstate == TCP_SYN_RECV) {
			/*
			 * The child socket only exists from the final ACK on: its own SYN_RECV
			 * lasts microseconds. The SYN-ACK round trip measured on the child is
			 * the passive side's view of the handshake.
			 */
			__u64 synack_ns = (__u64)(BPF_CORE_READ((const struct tcp_sock *)sk, srtt_us) >> 3) * 1000;
			if (synack_ns > handshake)
				handshake = synack_ns;
		}
		if (info)
			info->handshake_ns = handshake;
		emit_sock_event(TCPOTEL_EV_OPEN, sk, af, info, oldstate, newstate, handshake, 0, 0, true);
	} else if (newstate == TCP_CLOSE) {
		if (oldstate == TCP_SYN_SENT || oldstate == TCP_SYN_RECV) {
			__u16 err = BPF_CORE_READ(sk, sk_err);
			if (!err)
				err = BPF_CORE_READ(sk, sk_err_soft);
			if (!err && oldstate == TCP_SYN_SENT) {
				/* Undone inside connect() itself (the error is only its return
				 * value): its exit reports it. */
				__u32 tid = (__u32)bpf_get_current_pid_tgid();
				struct connect_args *ca = bpf_map_lookup_elem(&connecting, &tid);

				if (ca) {
					ca->deferred_sk = key;
					goto update;
				}
			}
			emit_sock_event(TCPOTEL_EV_FAILED, sk, af, info, oldstate, newstate,
					info && info->start_ns ? now - info->start_ns : 0, err, 0, true);
		} else if (oldstate != TCP_CLOSE) {
			__u16 err = BPF_CORE_READ(sk, sk_err);
			__u16 abort = 0;

			/* Straight from ESTABLISHED or CLOSE_WAIT to CLOSE, with no error and no
			 * reset received: an abortive close (SO_LINGER 0, unread data, disconnect),
			 * whose RST the kernel sends right after this transition. */
			if ((oldstate == TCP_ESTABLISHED || oldstate == TCP_CLOSE_WAIT) && !err &&
			    !(info && (info->flags & TCPOTEL_F_RST_RECV)))
				abort = TCPOTEL_F_RST_SENT;
			emit_sock_event(TCPOTEL_EV_CLOSE, sk, af, info, oldstate, newstate,
					info && info->start_ns ? now - info->start_ns : 0, err, abort,
					true);
		}
	}

update:
	/* The socket's state outlives CLOSE until tcp_destroy_sock: a reset sent right
	 * after an abortive close still finds its owner. */
	if (info)
		info->state_ns = now;
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(btf_inet_sock_set_state, const struct sock *sk, const int oldstate, const int newstate)
{
	/* Only ask for (and so create) a cookie where a connection begins. */
	__u64 cookie = 0;

	if (newstate == TCP_SYN_SENT || newstate == TCP_SYN_RECV ||
	    newstate == TCP_ESTABLISHED || newstate == TCP_CLOSE)
		cookie = bpf_get_socket_cookie((void *)sk);
	return on_state_change(sk, oldstate, newstate, cookie);
}

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(raw_inet_sock_set_state, const struct sock *sk, const int oldstate, const int newstate)
{
	return on_state_change(sk, oldstate, newstate, TCPOTEL_SK_COOKIE_FIELD(sk));
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

static __always_inline int on_retransmit(const struct sock *sk)
{
	__u64 key = (__u64)sk;
	struct sock_info *info;
	__u16 af;
	__u8 state;

	if (!sk || TCPOTEL_SK_PROTOCOL(sk) != IPPROTO_TCP)
		return 0;
	af = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (!family_wanted(af))
		return 0;
	info = bpf_map_lookup_elem(&socks, &key);
	if (!wanted(sk, info))
		return 0;
	if (!info)
		count_untracked();
	state = BPF_CORE_READ(sk, __sk_common.skc_state);
	emit_sock_event(TCPOTEL_EV_RETRANSMIT, sk, af, info, state, state, 0, 0, 0, true);
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(btf_tcp_retransmit_skb, const struct sock *sk, const struct sk_buff *skb)
{
	return on_retransmit(sk);
}

SEC("raw_tp/tcp_retransmit_skb")
int BPF_PROG(raw_tcp_retransmit_skb, const struct sock *sk, const struct sk_buff *skb)
{
	return on_retransmit(sk);
}

static __always_inline int on_reset(const struct sock *sk, __u16 dir_flag, __u16 reason)
{
	__u64 key = (__u64)sk;
	struct sock_info *info;
	__u16 af;
	__u8 state;

	if (TCPOTEL_SK_PROTOCOL(sk) != IPPROTO_TCP)
		return 0;
	af = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (!family_wanted(af))
		return 0;
	info = bpf_map_lookup_elem(&socks, &key);
	if (info)
		info->flags |= dir_flag;
	if (!wanted(sk, info))
		return 0;
	state = BPF_CORE_READ(sk, __sk_common.skc_state);
	emit_sock_event(TCPOTEL_EV_RESET, sk, af, info, state, state, 0, reason, dir_flag, true);
	return 0;
}

/* A reset answering a segment that matched no socket (e.g. a closed port): take the
 * four-tuple from the segment. The RST goes back to its sender. */
static __always_inline int on_reset_without_socket(const struct sk_buff *skb, __u16 reason)
{
	unsigned char *head;
	__u16 nh, th;
	struct tcphdr tcp;
	struct tcpotel_event *e;
	__u8 version;

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
	e = reserve(TCPOTEL_EV_RESET);
	if (!e)
		return 0;
	e->family = version;
	e->sport = bpf_ntohs(tcp.dest);
	e->dport = bpf_ntohs(tcp.source);
	if (version == 4) {
		struct iphdr ip;
		if (!bpf_probe_read_kernel(&ip, sizeof(ip), head + nh)) {
			__builtin_memcpy(e->saddr, &ip.daddr, 4);
			__builtin_memcpy(e->daddr, &ip.saddr, 4);
		}
	} else {
		struct ipv6hdr ip6;
		if (!bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh)) {
			__builtin_memcpy(e->saddr, &ip6.daddr, 16);
			__builtin_memcpy(e->daddr, &ip6.saddr, 16);
		}
	}
	e->error = reason;
	e->flags = TCPOTEL_F_RST_SENT | TCPOTEL_F_NO_SOCKET | TCPOTEL_F_UNTRACKED;
	submit(e);
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(btf_tcp_send_reset, const struct sock *sk, const struct sk_buff *skb)
{
	if (!sk)
		return on_reset_without_socket(skb, 0);
	return on_reset(sk, TCPOTEL_F_RST_SENT, 0);
}

SEC("raw_tp/tcp_send_reset")
int BPF_PROG(raw_tcp_send_reset, const struct sock *sk, const struct sk_buff *skb)
{
	if (!sk)
		return on_reset_without_socket(skb, 0);
	return on_reset(sk, TCPOTEL_F_RST_SENT, 0);
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(btf_tcp_receive_reset, const struct sock *sk)
{
	return on_reset(sk, TCPOTEL_F_RST_RECV, 0);
}

SEC("raw_tp/tcp_receive_reset")
int BPF_PROG(raw_tcp_receive_reset, const struct sock *sk)
{
	return on_reset(sk, TCPOTEL_F_RST_RECV, 0);
}

/* ---------- the owner of accepted sockets ---------- */

/* The current task's socket behind an fd: fd -> file -> socket -> sock (NULL if none). */
static __always_inline struct sock *sock_of_fd(long fd)
{
	struct task_struct *task;
	struct fdtable *fdt;
	struct file **fds;
	struct file *file;
	struct socket *sock;

	if (fd < 0)
		return NULL;
	task = (struct task_struct *)bpf_get_current_task();
	fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return NULL;
	sock = BPF_CORE_READ(file, private_data);
	if (!sock)
		return NULL;
	return BPF_CORE_READ(sock, sk);
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
 * address, a policy refusal): no state change tells. Its entry records the destination
 * per thread; its exit, on an error, reports a failed connect for a TCP socket the state
 * path never saw. Errors of a connect still under way (EINPROGRESS, EALREADY, EINTR) and
 * sockets with a SYN_SENT behind them are left to the state path.
 */
#define TCPOTEL_EINTR 4
#define TCPOTEL_EISCONN 106
#define TCPOTEL_EALREADY 114
#define TCPOTEL_EINPROGRESS 115


SEC("tracepoint/syscalls/sys_enter_connect")
int tp_sys_enter_connect(struct syscall_trace_enter *ctx)
{
	const void *uaddr = (const void *)ctx->args[1];
	struct connect_args a = {};
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u16 port;

	if (bpf_probe_read_user(&a.family, sizeof(a.family), uaddr) || !family_wanted(a.family))
		return 0;
	if (a.family == AF_INET) {
		if (ctx->args[2] < sizeof(struct sockaddr_in) ||
		    bpf_probe_read_user(&port, sizeof(port), uaddr + offsetof(struct sockaddr_in, sin_port)) ||
		    bpf_probe_read_user(a.addr, 4, uaddr + offsetof(struct sockaddr_in, sin_addr)))
			return 0;
	} else {
		if (ctx->args[2] < sizeof(struct sockaddr_in6) ||
		    bpf_probe_read_user(&port, sizeof(port), uaddr + offsetof(struct sockaddr_in6, sin6_port)) ||
		    bpf_probe_read_user(a.addr, 16, uaddr + offsetof(struct sockaddr_in6, sin6_addr)))
			return 0;
	}
	a.port = bpf_ntohs(port);
	a.fd = (__s64)ctx->args[0];
	a.start_ns = bpf_ktime_get_ns();
	bpf_map_update_elem(&connecting, &tid, &a, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int tp_sys_exit_connect(struct syscall_trace_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct connect_args *ap = bpf_map_lookup_elem(&connecting, &tid);
	struct connect_args a;
	struct tcpotel_event *e;
	struct sock_info *info;
	struct sock *sk;
	struct owner o = {};
	long ret = ctx->ret;
	__u64 key;
	__u16 af, sport;

	if (!ap)
		return 0;
	a = *ap;
	bpf_map_delete_elem(&connecting, &tid);
	if (ret >= 0 || ret == -TCPOTEL_EINPROGRESS || ret == -TCPOTEL_EALREADY ||
	    ret == -TCPOTEL_EINTR || ret == -TCPOTEL_EISCONN)
		return 0;
	sk = sock_of_fd(a.fd);
	if (!sk || TCPOTEL_SK_PROTOCOL(sk) != IPPROTO_TCP)
		return 0;
	key = (__u64)sk;
	af = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (!family_wanted(af))
		return 0;
	/* A socket that reached SYN_SENT is the state path's to report, unless it left this
	 * failure, undone inside the call, to us (deferred_sk). */
	info = bpf_map_lookup_elem(&socks, &key);
	if (info && a.deferred_sk != key)
		return 0;
	if (info)
		o = info->owner;
	else
		owner_from_current(&o);
	sport = bpf_ntohs(BPF_CORE_READ((const struct inet_sock *)sk, inet_sport));
	if ((filter_nports || filter_pid) && !(ports_wanted(sport, a.port) && pid_wanted(o.pid))) {
		struct tcpotel_stats *st = stats_get();

		if (st)
			__sync_fetch_and_add(&st->filtered, 1);
		return 0;
	}
	e = reserve(TCPOTEL_EV_FAILED);
	if (!e)
		return 0;
	read_tuple(e, sk, af);
	/* The destination as asked for: the socket never got it, or lost it again. An IPv4
	 * destination on an IPv6 socket is given v4-mapped, as the socket would hold it. */
	e->dport = a.port;
	if (af == AF_INET6 && a.family == AF_INET) {
		__builtin_memset(e->daddr, 0, 10);
		e->daddr[10] = 0xff;
		e->daddr[11] = 0xff;
		__builtin_memcpy(&e->daddr[12], a.addr, 4);
	} else {
		__builtin_memcpy(e->daddr, a.addr, 16);
	}
	e->oldstate = info ? TCP_SYN_SENT : TCP_CLOSE;
	e->newstate = TCP_CLOSE;
	e->duration_ns = bpf_ktime_get_ns() - a.start_ns;
	e->error = (__u16)-ret;
	if (info) {
		e->cookie = info->cookie;
		e->flags = info->flags;
	} else {
		e->cookie = (1ULL << 52) | __sync_fetch_and_add(&next_synthetic_cookie, 1);
		e->flags = TCPOTEL_F_ACTIVE | TCPOTEL_F_OWNER;
	}
	e->pid = o.pid;
	e->tid = o.tid;
	e->cgroup_id = o.cgroup_id;
	__builtin_memcpy(e->comm, o.comm, TCPOTEL_COMM_LEN);
	submit(e);
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
		struct listen_key lk = { .netns = sk_netns(sk),
					 .port = BPF_CORE_READ(sk, __sk_common.skc_num) };
		struct owner o = {};

		owner_from_task(&o, task);
		bpf_map_update_elem(&listeners, &lk, &o, BPF_NOEXIST);
		return 0;
	}
	key = (__u64)sk;
	info = bpf_map_lookup_elem(&socks, &key);
	if (!info) {
		info = info_create(key, bpf_get_socket_cookie(sk), bpf_ktime_get_ns(),
				   TCPOTEL_F_PREEXISTING);
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
	struct sock_common *skc = ctx->sk_common;
	struct bpf_iter_meta *meta = ctx->meta;
	struct tcp_sock *tp;
	struct sock *sk;
	struct sock_info *info;
	struct tcpotel_event e = {};
	__u64 key, seq_num;
	__u16 af;
	__u8 state;

	if (!skc)
		return 0;
	af = BPF_CORE_READ(skc, skc_family);
	if (!family_wanted(af))
		return 0;
	state = BPF_CORE_READ(skc, skc_state);

	/* An object whose output overflowed the seq buffer is shown again: count it once. */
	seq_num = BPF_CORE_READ(meta, seq_num);
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
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0;
	sk = (struct sock *)tp;
	key = (__u64)sk;

	e.kind = iter_mode == TCPOTEL_ITER_SNAPSHOT ? TCPOTEL_EV_EXISTING : TCPOTEL_EV_SAMPLE;
	read_tuple(&e, sk, af);
	if (!ports_wanted(e.sport, e.dport))
		return 0;
	info = bpf_map_lookup_elem(&socks, &key);
	if (!info) {
		/* Opened before we attached (or evicted): adopt it. */
		info = info_create(key, bpf_get_socket_cookie(sk), bpf_ktime_get_ns(),
				   TCPOTEL_F_PREEXISTING);
		if (!info)
			return 0;
		info->start_ns = 0;
	} else if (!info->cookie) {
		info->cookie = bpf_get_socket_cookie(sk);
	}
	if (!(info->flags & (TCPOTEL_F_ACTIVE | TCPOTEL_F_PASSIVE)))
		info->flags |= infer_direction(e.netns, e.sport);
	if (!pid_wanted(info->owner.pid))
		return 0;
	read_counters(&e, sk, info->flags, state);

	if (e.kind == TCPOTEL_EV_EXISTING) {
		/* Opened after we attached: already reported by the state-change hook. */
		if (!(info->flags & TCPOTEL_F_PREEXISTING))
			return 0;
	} else if (info->last_acked == e.bytes_acked && info->last_received == e.bytes_received) {
		return 0; /* idle since the last sample */
	}
	info->last_acked = e.bytes_acked;
	info->last_received = e.bytes_received;

	e.ts_ns = bpf_ktime_get_ns();
	e.oldstate = state;
	e.newstate = state;
	e.cookie = info->cookie;
	e.flags = info->flags;
	e.handshake_ns = info->handshake_ns;
	copy_owner(&e, info);
	if (info->start_ns)
		e.duration_ns = e.ts_ns - info->start_ns;
	bpf_seq_write(meta->seq, &e, sizeof(e));
	return 0;
}
