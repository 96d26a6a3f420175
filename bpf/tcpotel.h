/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The only binary layout shared by the kernel programs, the native addon and
 * the TypeScript decoder (src/receivers/ebpf/record.ts). Fixed-width types,
 * explicit padding, no kernel types. Change it and the layout test fails.
 */
#ifndef TCPOTEL_H
#define TCPOTEL_H

#define TCPOTEL_COMM_LEN 16
#define TCPOTEL_MAX_PORTS 16
#define TCPOTEL_TCP_STATES 16 /* TCP_ESTABLISHED(1) .. TCP_NEW_SYN_RECV(12), padded */

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
};

/* Per-CPU counters, summed by user space. */
struct tcpotel_stats {
	__u64 produced[TCPOTEL_EV_KINDS]; /* events the kernel tried to emit, by kind */
	__u64 dropped[TCPOTEL_EV_KINDS];  /* failed ring-buffer reserves, by kind */
	__u64 untracked;                  /* events for sockets with no per-socket state */
	__u64 filtered;                   /* events suppressed by load-time filters */
};

/* Socket counts by family and state, filled by the iterator in SAMPLE mode. */
struct tcpotel_state_counts {
	__u64 v4[TCPOTEL_TCP_STATES];
	__u64 v6[TCPOTEL_TCP_STATES];
};

#endif /* TCPOTEL_H */
