/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The only binary layout shared by the kernel programs, the native addon and
 * the TypeScript decoder (src/receivers/ebpf/record.ts). Fixed-width types,
 * explicit padding, no kernel types. Change it and the layout test fails.
 */
#ifndef TCPOTEL_H
#define TCPOTEL_H

/* Protocol detection's types (enum tcpotel_protocol, struct tcpotel_proto_info, ...): the
 * BPF program includes the whole of protocol.h first; everyone else its types. */
#ifndef TCPOTEL_PROTOCOL_H
#define TCPOTEL_PROTOCOL_TYPES_ONLY
#include "protocol.h"
#undef TCPOTEL_PROTOCOL_TYPES_ONLY
#endif

#define TCPOTEL_COMM_LEN 16
#define TCPOTEL_MAX_PORTS 16
#define TCPOTEL_TCP_STATES 16 /* TCP_ESTABLISHED(1) .. TCP_NEW_SYN_RECV(12), padded */

/* In-kernel aggregation (aggregate pushdown) and in-kernel event filters. */
#define TCPOTEL_AGG_SLOTS 4      /* aggregates computed in the kernel at once */
#define TCPOTEL_AGG_BOUNDS 24    /* explicit bucket bounds per histogram */
#define TCPOTEL_AGG_BUCKETS 25   /* TCPOTEL_AGG_BOUNDS + 1 */
#define TCPOTEL_AGG_HISTS 4      /* rtt (us), handshake (ns), duration (ns), loss (parts per million) */
#define TCPOTEL_CONDS 4          /* conditions of one in-kernel filter */
#define TCPOTEL_PORT_RANGES 8    /* port ranges per condition field */
#define TCPOTEL_CONSUMERS 4      /* record consumers with their own in-kernel filter */


enum tcpotel_kind {
	TCPOTEL_EV_OPEN = 1,       /* connection established: active (connect) or passive (accept) */
	TCPOTEL_EV_CLOSE = 2,      /* connection reached CLOSE, with its final counters */
	TCPOTEL_EV_FAILED = 3,     /* SYN_SENT -> CLOSE: connect failed, error = sk_err */
	TCPOTEL_EV_RETRANSMIT = 4, /* one retransmitted segment */
	TCPOTEL_EV_RESET = 5,      /* RST sent or received (flags say which) */
	TCPOTEL_EV_STATE = 6,      /* any state transition (opt-in) */
	TCPOTEL_EV_EXISTING = 7,   /* a connection already open when tcpotel started (iterator) */
	TCPOTEL_EV_SAMPLE = 8,     /* live counters of an open connection (iterator) */
	TCPOTEL_EV_KINDS = 9,
};

enum tcpotel_flag {
	TCPOTEL_F_ACTIVE = 1 << 0,      /* this end called connect() */
	TCPOTEL_F_PASSIVE = 1 << 1,     /* this end accepted */
	TCPOTEL_F_PREEXISTING = 1 << 2, /* opened before tcpotel started */
	TCPOTEL_F_RST_SENT = 1 << 3,    /* we sent a reset on this connection */
	TCPOTEL_F_RST_RECV = 1 << 4,    /* we received a reset on this connection */
	TCPOTEL_F_OWNER = 1 << 5,       /* pid/comm/cgroup are known */
	TCPOTEL_F_UNTRACKED = 1 << 6,   /* no per-socket state was found (evicted or never seen) */
	TCPOTEL_F_NO_SOCKET = 1 << 7,   /* reset sent without a socket (closed port) */
	TCPOTEL_F_DETECT = 1 << 8,      /* protocol detection is on: proto/name fields are meaningful */
};

/* Per-socket aggregate tracking (struct sock_info.agg). */
enum tcpotel_agg_track {
	TCPOTEL_AGG_TRACKED = 1 << 0, /* the aggregates have seen the connection (baselines valid) */
	TCPOTEL_AGG_OPEN = 1 << 1,    /* it counts in tcp.connections.active */
};

/* Key fields of an in-kernel aggregate (struct tcpotel_agg_spec.key). */
enum tcpotel_key_field {
	TCPOTEL_K_FAMILY = 1 << 0, /* network.type */
	TCPOTEL_K_ROLE = 1 << 1,   /* network.tcp.handshake.role (and client.* / server.* need it) */
	TCPOTEL_K_PID = 1 << 2,    /* process.pid */
	TCPOTEL_K_COMM = 1 << 3,   /* process.executable.name */
	TCPOTEL_K_CGROUP = 1 << 4, /* tcp.cgroup.id */
	TCPOTEL_K_NETNS = 1 << 5,  /* tcp.netns.inode */
	TCPOTEL_K_PROTO = 1 << 6,  /* network.protocol.name */
	TCPOTEL_K_NAME = 1 << 7,   /* tls.server.name */
};

/* Where an address or port key field comes from. */
enum tcpotel_endpoint_src {
	TCPOTEL_SRC_NONE = 0,
	TCPOTEL_SRC_LOCAL = 1,
	TCPOTEL_SRC_REMOTE = 2,
	TCPOTEL_SRC_CLIENT = 3, /* the end that connected: zero when the direction is unknown */
	TCPOTEL_SRC_SERVER = 4,
};

/* Directions a filter condition accepts (struct tcpotel_cond.directions). */
enum tcpotel_dir_bit {
	TCPOTEL_DIR_OUTBOUND = 1 << 0,
	TCPOTEL_DIR_INBOUND = 1 << 1,
	TCPOTEL_DIR_UNKNOWN = 1 << 2,
};

/* Iterator modes, written to .bss before each iterator run. */
enum tcpotel_iter_mode {
	TCPOTEL_ITER_SNAPSHOT = 1, /* emit EXISTING records and adopt the sockets */
	TCPOTEL_ITER_SAMPLE = 2,   /* emit SAMPLE records for sockets whose bytes changed */
};

struct tcpotel_event {
	__u64 ts_ns;          /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 cookie;         /* socket cookie (SO_COOKIE / inet_diag idiag_cookie) */
	__u64 cgroup_id;      /* cgroup v2 id of the owner */
	__u64 duration_ns;    /* OPEN: handshake; CLOSE: lifetime; STATE: time in oldstate */
	__u64 bytes_acked;    /* bytes sent and acknowledged by the peer */
	__u64 bytes_received; /* bytes received in order */
	__u64 bytes_retrans;  /* bytes retransmitted */
	__u64 handshake_ns;   /* OPEN, CLOSE, SAMPLE: SYN_SENT/SYN_RECV -> ESTABLISHED; 0 when unknown */
	__u32 segs_in;
	__u32 segs_out;
	__u32 total_retrans;  /* retransmitted segments over the connection's life */
	__u32 srtt_us;        /* smoothed RTT, microseconds */
	__u32 pid;            /* tgid: the process */
	__u32 tid;            /* the thread */
	__u32 netns;          /* network namespace inode */
	__u16 sport;          /* local port, host order */
	__u16 dport;          /* remote port, host order */
	__u8 saddr[16];       /* local address; IPv4 in the first 4 bytes */
	__u8 daddr[16];       /* remote address */
	__u8 kind;            /* enum tcpotel_kind */
	__u8 family;          /* 4 or 6 */
	__u8 oldstate;
	__u8 newstate;
	__u16 flags;          /* enum tcpotel_flag */
	__u16 error;          /* FAILED: sk_err (errno); RESET: sk_rst_reason when known */
	char comm[TCPOTEL_COMM_LEN];
	__u32 lost;           /* tcp_sock.lost: segments the kernel deemed lost (retransmits included) */
	__u8 proto;           /* enum tcpotel_protocol */
	__u8 http_method;     /* enum tcpotel_http_method (http) */
	__u16 tls_version;    /* the TLS record version of its first handshake record (tls) */
	char name[TCPOTEL_NAME_LEN]; /* TLS server name (SNI) or HTTP Host, NUL-padded */
};

/* Per-CPU counters, summed by user space. */
struct tcpotel_stats {
	__u64 produced[TCPOTEL_EV_KINDS]; /* events the kernel tried to emit, by kind */
	__u64 dropped[TCPOTEL_EV_KINDS];  /* failed ring-buffer reserves, by kind */
	__u64 untracked;                  /* events for sockets with no per-socket state */
	__u64 filtered;                   /* events suppressed by load-time filters */
	__u64 agg_overflow[TCPOTEL_AGG_SLOTS]; /* updates folded into an aggregate's overflow series */
	__u64 agg_map_full[TCPOTEL_AGG_SLOTS]; /* updates lost: the aggregate's map was full */
};

/* One port range, inclusive. */
struct tcpotel_port_range {
	__u16 lo;
	__u16 hi;
};

/*
 * One condition of an in-kernel filter, as a `filter` processor's matchers: every field
 * given must match (an empty field matches anything). `negate`: the event passes when the
 * condition does not match (an `exclude`).
 */
struct tcpotel_cond {
	__u32 kinds;      /* bit (1 << enum tcpotel_kind); 0: any kind */
	__u8 negate;
	__u8 family;      /* 0 any, 4 or 6 */
	__u8 directions;  /* enum tcpotel_dir_bit; 0 any */
	__u8 nports;      /* ranges in ports[]: either end */
	__u8 nlocal;      /* ranges in local[] */
	__u8 nremote;     /* ranges in remote[] */
	__u8 pad[2];
	struct tcpotel_port_range ports[TCPOTEL_PORT_RANGES];
	struct tcpotel_port_range local[TCPOTEL_PORT_RANGES];
	struct tcpotel_port_range remote[TCPOTEL_PORT_RANGES];
};

/* An in-kernel filter: the event passes when every condition passes. */
struct tcpotel_filter {
	__u32 nconds;
	__u32 pad;
	struct tcpotel_cond conds[TCPOTEL_CONDS];
};

/* One aggregate computed in the kernel (read-only data, set by user space before load). */
struct tcpotel_agg_spec {
	__u32 key;                          /* enum tcpotel_key_field */
	__u8 addr[2];                       /* enum tcpotel_endpoint_src of the two address fields */
	__u8 port[2];                       /* ... of the two port fields */
	__u32 max_series;                   /* series per window; more fold into the overflow series */
	__u32 nbounds[TCPOTEL_AGG_HISTS];
	/* Upper bounds in integer units (rtt: us, loss: ppm, others: ns): an observation v goes
	 * to the first bucket i with v <= bounds[i], else to bucket nbounds. */
	__u64 bounds[TCPOTEL_AGG_HISTS][TCPOTEL_AGG_BOUNDS];
	struct tcpotel_filter filter;
};

/* A series of an in-kernel aggregate: the key fields its spec asks for, the rest zero. */
struct tcpotel_agg_key {
	__u8 gen;       /* window generation (user space flips it at each window's end) */
	__u8 overflow;  /* 1: the series that takes what the series cap refused */
	__u8 family;    /* 4 or 6 when an address or network.type is keyed, else 0 */
	__u8 role;      /* 1 client, 2 server, 0 unknown (or not keyed) */
	__u16 errcode;  /* 0: the series' row; else a row of its failed connects with this errno */
	__u16 port[2];
	__u8 proto;     /* enum tcpotel_protocol, when keyed */
	__u8 pad0;
	__u32 pid;
	__u32 netns;
	__u32 pad1;
	__u64 cgroup;
	__u8 addr[2][16];
	char comm[TCPOTEL_COMM_LEN];
	/* Last: a map not keyed on the name is made with a key that stops before it. */
	char name[TCPOTEL_NAME_LEN];
};

/* An explicit-bucket histogram in integer units. min is kept inverted (~min), so that a
 * zeroed row means "no minimum yet" and both extremes are kept with one atomic max. */
struct tcpotel_agg_hist {
	__u64 count;
	__u64 sum;
	__u64 max;
	__u64 inv_min;
	__u32 buckets[TCPOTEL_AGG_BUCKETS];
	__u32 pad;
};

/* A series' counters over one window (per CPU for per-CPU maps). */
struct tcpotel_agg_value {
	__u64 opened;
	__u64 closed;
	__s64 active;
	__u64 tx;
	__u64 rx;
	__u64 retrans;
	__u64 resets_sent;
	__u64 resets_received;
	__u64 segs_out;
	__u64 segs_in;
	__u64 failed;   /* rows with errno != 0: failed connects with that errno */
	struct tcpotel_agg_hist hist[TCPOTEL_AGG_HISTS];
};

/* Socket counts by family and state, filled by the iterator in SAMPLE mode. */
struct tcpotel_state_counts {
	__u64 v4[TCPOTEL_TCP_STATES];
	__u64 v6[TCPOTEL_TCP_STATES];
};

#endif /* TCPOTEL_H */
