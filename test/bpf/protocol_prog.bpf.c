// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Test program for bpf/protocol.h: the classifier over bpf_skb_load_bytes in cgroup_skb
 * egress and ingress programs, as the kernel's verifier sees it. Classifies the first
 * packet with payload of each (direction, family, ports) within a port range and keeps the
 * result in a map, which test/bpf/protocol_loader.c prints. Never changes or drops a packet.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define TCPOTEL_LOAD(ctx, off, dst, len) bpf_skb_load_bytes(ctx, off, dst, len)
#include "protocol.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_TCP_ 6

struct proto_cfg {
	__u16 port_min, port_max;  /* packets with either port in range */
	__u32 always;              /* 1: classify every packet, overwrite (for BPF_PROG_TEST_RUN);
				    * 2: the same without classifying (the cost of the rest) */
	__s32 hint;                /* passed to tcpotel_classify: a run-time value, as an includer's would be */
};

struct proto_key {
	__u8 family;               /* 4 or 6 */
	__u8 egress;
	__u16 sport, dport;        /* host order */
	__u16 pad;
};

struct proto_val {
	struct tcpotel_proto_info info;
	__u32 payload_len;
	__u32 payload_off;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct proto_cfg);
} proto_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct proto_key);
	__type(value, struct proto_val);
} proto_results SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tcpotel_scratch);
} proto_scratch SEC(".maps");

static __always_inline void handle(struct __sk_buff *skb, __u8 egress)
{
	struct proto_key key = { .egress = egress };
	struct tcphdr th;
	struct proto_val v;
	struct proto_cfg *cfg;
	struct tcpotel_scratch *s;
	__u32 zero = 0, off;

	cfg = bpf_map_lookup_elem(&proto_config, &zero);
	if (!cfg)
		return;
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)) || ip.protocol != IPPROTO_TCP_)
			return;
		if (ip.frag_off & bpf_htons(0x3fff))      /* a fragment: no TCP header here */
			return;
		off = ip.ihl * 4;
		key.family = 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		/* Extension headers are not followed: TCP directly after the fixed header only. */
		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)) || ip6.nexthdr != IPPROTO_TCP_)
			return;
		off = sizeof(ip6);
		key.family = 6;
	} else {
		return;
	}
	if (bpf_skb_load_bytes(skb, off, &th, sizeof(th)))
		return;
	key.sport = bpf_ntohs(th.source);
	key.dport = bpf_ntohs(th.dest);
	if ((key.sport < cfg->port_min || key.sport > cfg->port_max) &&
	    (key.dport < cfg->port_min || key.dport > cfg->port_max))
		return;
	off += th.doff * 4;
	if (skb->len <= off)
		return;                                   /* no payload: SYN, ACK, FIN */
	if (!cfg->always && bpf_map_lookup_elem(&proto_results, &key))
		return;                                   /* this direction was classified */
	s = bpf_map_lookup_elem(&proto_scratch, &zero);
	if (!s)
		return;
	if (cfg->always == 2)
		__builtin_memset(&v.info, 0, sizeof(v.info));
	else
		tcpotel_classify(skb, off, skb->len - off, cfg->hint, s, &v.info);
	v.payload_len = skb->len - off;
	v.payload_off = off;
	bpf_map_update_elem(&proto_results, &key, &v, BPF_ANY);
}

SEC("cgroup_skb/egress")
int protocol_egress(struct __sk_buff *skb)
{
	handle(skb, 1);
	return 1;
}

SEC("cgroup_skb/ingress")
int protocol_ingress(struct __sk_buff *skb)
{
	handle(skb, 0);
	return 1;
}
