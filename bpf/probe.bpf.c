// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Feature probes: the smallest program of each kind tcpotel could use. User space loads
 * and attaches them one at a time (src/receivers/ebpf/features.ts) to choose between twin
 * programs and to tell the user, in `tcpotel doctor`, what works on this kernel and why not.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} probe_ring SEC(".maps");

__u64 hits = 0;

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(probe_tp_btf, const struct sock *sk, const int oldstate, const int newstate)
{
	__sync_fetch_and_add(&hits, 1);
	return 0;
}

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(probe_raw_tp, const struct sock *sk, const int oldstate, const int newstate)
{
	__sync_fetch_and_add(&hits, 1);
	return 0;
}

SEC("tracepoint/sock/inet_sock_set_state")
int probe_tracepoint(void *ctx)
{
	__sync_fetch_and_add(&hits, 1);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int probe_syscall_tracepoint(void *ctx)
{
	__sync_fetch_and_add(&hits, 1);
	return 0;
}

SEC("iter/tcp")
int probe_iter_tcp(struct bpf_iter__tcp *ctx)
{
	return 0;
}

SEC("iter/task_file")
int probe_iter_task_file(struct bpf_iter__task_file *ctx)
{
	struct file *file = ctx->file;

	if (file && bpf_sock_from_file(file))
		__sync_fetch_and_add(&hits, 1);
	return 0;
}

SEC("raw_tp/sys_enter")
int probe_ringbuf(void *ctx)
{
	__u64 *slot = bpf_ringbuf_reserve(&probe_ring, sizeof(*slot), 0);

	if (slot)
		bpf_ringbuf_discard(slot, 0);
	return 0;
}

SEC("sockops")
int probe_sockops(struct bpf_sock_ops *skops)
{
	return 1;
}

/* Protocol detection reads the first payload bytes of each socket here (and keeps what it
 * found in socket storage). Always passes the packet. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} probe_storage SEC(".maps");

SEC("cgroup_skb/egress")
int probe_cgroup_skb(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	__u8 first;

	if (sk)
		sk = bpf_sk_fullsock(sk);
	if (sk)
		bpf_sk_storage_get(&probe_storage, sk, 0, 0);
	bpf_skb_load_bytes(skb, 0, &first, 1);
	return 1;
}

SEC("kprobe/tcp_v4_connect")
int BPF_KPROBE(probe_kprobe)
{
	return 0;
}

SEC("fentry/tcp_v4_connect")
int BPF_PROG(probe_fentry)
{
	return 0;
}
