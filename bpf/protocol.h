/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Application protocol of one direction of a TCP connection, from its first payload bytes
 * (never from ports: ports lie). One header (over 500 lines): every parser is inlined into
 * one classifier the verifier checks as a whole. Self-contained so that the same code runs in a BPF program
 * and in a plain C test harness:
 *
 *   #define TCPOTEL_LOAD(ctx, off, dst, len)  bpf_skb_load_bytes(ctx, off, dst, len)
 *   #include "protocol.h"
 *   ...
 *   tcpotel_classify(skb, payload_off, payload_len, hint, scratch, &info);
 *
 * User space reading the results includes it with TCPOTEL_PROTOCOL_TYPES_ONLY defined: the
 * enums and structs, no code. A types-only include may precede the full one.
 *
 * The includer provides __u8/__u16/__u32 (vmlinux.h or linux/types.h), __always_inline, and
 * TCPOTEL_LOAD(ctx, off, dst, len): copy len bytes at byte offset off of ctx into dst, 0 on
 * success, non-zero when [off, off + len) is not all there (bpf_skb_load_bytes' contract).
 * len is 1..TCPOTEL_PEEK_LEN; off is payload_off plus at most payload_len.
 *
 * Cost model: one load of the first TCPOTEL_PEEK_LEN bytes (or fewer) into the caller's
 * scratch buffer, then byte tests on it; a TLS ClientHello is walked from those bytes and,
 * past them, with small loads at the offsets its length fields give, so the SNI is found
 * wherever it is in the segment. Every loop has a constant bound; loop bodies branch only
 * to leave (see "verifier" below). Measured on Linux 6.18 (test/bpf/protocol.test.ts):
 * about 56k instructions processed by the verifier for the classifier alone, 120 bytes of
 * stack (spills and two 4-byte buffers), 30-250 ns per call (grpc's search up to ~400).
 * The scratch (struct tcpotel_scratch, 272 bytes) belongs to the caller: a per-CPU array
 * value in BPF.
 *
 * Not classified: anything whose signature starts after the first segment of the direction
 * (it keeps no state across packets), IPv6 extension headers (the caller's concern), TLS
 * records other than handshakes, HTTP/2 with prior knowledge sent after a ClientHello (that
 * is tls), gRPC whose content-type comes in a later segment (grpc-js waits for the
 * server's SETTINGS: its first segment says http2).
 *
 * Privacy: the only payload bytes ever copied to the result are the TLS SNI or the HTTP
 * Host value, and only their hostname characters ([A-Za-z0-9.-_], ':' inside [IPv6]),
 * lower-cased; the copy stops at the first other character. The scratch buffer does hold
 * the first payload bytes: it must never be copied anywhere.
 */
#ifndef TCPOTEL_PROTOCOL_H
#define TCPOTEL_PROTOCOL_H

enum tcpotel_protocol {
	TCPOTEL_PROTO_NONE = 0,    /* not classified yet: no payload seen (try the next packet) */
	TCPOTEL_PROTO_UNKNOWN,     /* payload seen, no signature matched */
	TCPOTEL_PROTO_HTTP,        /* HTTP/1.x request line, or a response status line */
	TCPOTEL_PROTO_HTTP2,       /* the client connection preface */
	TCPOTEL_PROTO_GRPC,        /* HTTP/2 preface + content-type application/grpc in the same bytes */
	TCPOTEL_PROTO_TLS,         /* a TLS handshake record */
	TCPOTEL_PROTO_SSH,         /* "SSH-" identification string, either side */
	TCPOTEL_PROTO_POSTGRESQL,  /* startup message, SSLRequest, GSSENCRequest, CancelRequest */
	TCPOTEL_PROTO_MYSQL,       /* the server's greeting (protocol 10) */
	TCPOTEL_PROTO_REDIS,       /* RESP array of bulk strings, or an inline PING/AUTH/HELLO... */
	TCPOTEL_PROTO_MONGODB,     /* wire message header with OP_MSG / OP_QUERY (OP_REPLY from servers) */
	TCPOTEL_PROTO_DNS,         /* DNS over TCP: length prefix + header */
	TCPOTEL_PROTO_MQTT,        /* CONNECT packet, MQTT 3.1 / 3.1.1 / 5 */
	TCPOTEL_PROTO_AMQP,        /* AMQP 0-9-1 or 1.0 protocol header */
	TCPOTEL_PROTO_KAFKA,       /* request header (best effort) */
	TCPOTEL_PROTO_COUNT,
};

enum tcpotel_http_method {
	TCPOTEL_HTTP_NONE = 0,
	TCPOTEL_HTTP_GET,
	TCPOTEL_HTTP_HEAD,
	TCPOTEL_HTTP_POST,
	TCPOTEL_HTTP_PUT,
	TCPOTEL_HTTP_DELETE,
	TCPOTEL_HTTP_CONNECT,
	TCPOTEL_HTTP_OPTIONS,
	TCPOTEL_HTTP_TRACE,
	TCPOTEL_HTTP_PATCH,
	TCPOTEL_HTTP_OTHER,        /* an upper-case token before a request line ending in HTTP/1.x */
};

/* The direction hint: whose bytes these are, when the caller knows. It only gates signatures
 * that are weak or one-sided (Kafka, MongoDB requests, DNS queries, Redis inline commands,
 * PostgreSQL from clients; MySQL greetings, DNS responses from servers). */
#define TCPOTEL_FROM_SERVER 0
#define TCPOTEL_FROM_CLIENT 1
#define TCPOTEL_FROM_EITHER (-1)

/* Bytes looked at by the text signatures (HTTP Host search, gRPC content-type search). A
 * power of two: indexes are masked with it, which is what lets the verifier accept them. */
#ifndef TCPOTEL_PEEK_LEN
#define TCPOTEL_PEEK_LEN 256
#endif
#define TCPOTEL_PEEK_MASK (TCPOTEL_PEEK_LEN - 1)

#define TCPOTEL_NAME_LEN 64        /* SNI or Host kept; longer ones are cut (TCPOTEL_PF_NAME_CUT) */

/* flags */
#define TCPOTEL_PF_NAME_CUT 0x01   /* the name was longer than TCPOTEL_NAME_LEN: its first 64 bytes */
#define TCPOTEL_PF_PARTIAL  0x02   /* the bytes ended before what was being parsed did: a ClientHello
				    * longer than the segment, a request line or headers past the
				    * bytes read (no Host then), or under 8 bytes that matched nothing */
#define TCPOTEL_PF_SERVER   0x04   /* a server's message: HTTP response, TLS ServerHello, MySQL
				    * greeting, DNS response, MongoDB reply */

struct tcpotel_proto_info {
	__u8 proto;                /* enum tcpotel_protocol */
	__u8 method;               /* enum tcpotel_http_method, for http */
	__u16 tls_version;         /* the hello's legacy_version, else the record header's (0x0300..0x0304), for tls */
	__u8 name_len;             /* bytes of name used, 0..TCPOTEL_NAME_LEN (not NUL-terminated when 64) */
	__u8 flags;                /* TCPOTEL_PF_* */
	__u8 pad[2];
	char name[TCPOTEL_NAME_LEN]; /* TLS SNI or HTTP Host (without port), lower case; zero-filled */
};

/* The caller's scratch space (in BPF: a per-CPU array value; it is too big for the stack).
 * Besides the peeked bytes it carries the few values that cross a loop: see TCPOTEL_GET. */
struct tcpotel_scratch {
	__u8 peek[TCPOTEL_PEEK_LEN];
	__u32 n;                   /* bytes in peek */
	__u32 t;                   /* length of the first token (text protocols) */
	__u32 e;                   /* index of the request line's '\n', 0 when not within peek */
	__u32 v;                   /* the last loop's result */
};

#endif /* TCPOTEL_PROTOCOL_H */

/* The code: once, and not for TCPOTEL_PROTOCOL_TYPES_ONLY (so a types-only include, say
 * through a shared header, may come before the full one). */
#if !defined(TCPOTEL_PROTOCOL_TYPES_ONLY) && !defined(TCPOTEL_PROTOCOL_CODE_H)
#define TCPOTEL_PROTOCOL_CODE_H
#ifndef TCPOTEL_LOAD
#error "protocol.h: define TCPOTEL_LOAD(ctx, off, dst, len) first (bpf_skb_load_bytes semantics)"
#endif

/*
 * How this code stays within the verifier's budget (1M instructions walked) on every kernel
 * with bounded loops (5.3+), without bpf_loop:
 *  - The verifier walks a bounded loop once per iteration, with the counter as a constant,
 *    and inside a loop it keeps a state for pruning only every ~20 jumps. A branch in the
 *    body that rejoins the loop therefore runs ahead unpruned and splits again at every
 *    iteration. So loop bodies branch only to leave the loop; the tests inside are
 *    arithmetic (tcpotel_eq, tcpotel_lt, bitmaps), hidden from LLVM (TCPOTEL_HIDE) so that it
 *    does not turn them back into branches.
 *  - A loop that leaves at iteration k hands a different constant to what follows, and a
 *    later comparison on it makes it "precise": the walks no longer merge. So values that
 *    cross a loop go through the scratch struct (TCPOTEL_PUT / TCPOTEL_GET, volatile) and
 *    are read back as unknowns; the peeked bytes are re-read after a compiler fence.
 */
#define TCPOTEL_HIDE(x) asm volatile("" : "+r"(x))
#define TCPOTEL_FENCE() asm volatile("" ::: "memory")
#define TCPOTEL_PUT(s, f, x) (*(volatile __u32 *)&(s)->f = (x))
#define TCPOTEL_GET(s, f) (*(volatile __u32 *)&(s)->f)
#define TCPOTEL_C4(a, b, c, d) (((__u32)(a) << 24) | ((__u32)(b) << 16) | ((__u32)(c) << 8) | (__u32)(d))

/* 1 if a == b, else 0, without a branch: x | -x has its top bit set for any x != 0. */
static __always_inline __u64 tcpotel_eq(__u64 a, __u64 b)
{
	__u64 x = a ^ b;

	x |= -x;
	TCPOTEL_HIDE(x);
	return (x >> 63) ^ 1;
}

/* 1 if a < b, else 0, without a branch (a, b < 2^63). */
static __always_inline __u64 tcpotel_lt(__u64 a, __u64 b)
{
	__u64 x = a - b;

	TCPOTEL_HIDE(x);
	return x >> 63;
}

/* Hostname bytes [-.0-9A-Z_a-z] as bitmaps over 0..63 and 64..127. */
#define TCPOTEL_HOST_LO ((1ULL << '-') | (1ULL << '.') | (0x3ffULL << '0'))
#define TCPOTEL_HOST_HI ((0x3ffffffULL << ('A' - 64)) | (1ULL << ('_' - 64)) | (0x3ffffffULL << ('a' - 64)))
#define TCPOTEL_UPPER_HI (0x3ffffffULL << ('A' - 64))

static __always_inline __u64 tcpotel_hostbit(__u64 c)
{
	__u64 sh = c & 63, half = c >> 6;

	return (((TCPOTEL_HOST_LO >> sh) & tcpotel_eq(half, 0)) | ((TCPOTEL_HOST_HI >> sh) & tcpotel_eq(half, 1))) & 1;
}

static __always_inline __u64 tcpotel_lower(__u64 c)
{
	return c | ((((TCPOTEL_UPPER_HI >> (c & 63)) & tcpotel_eq(c >> 6, 1)) & 1) << 5);
}

/* Every peek read goes through the mask. Bytes at or past n are stale (an earlier packet's):
 * each caller checks its index against n first. */
static __always_inline __u32 tcpotel_pk(const struct tcpotel_scratch *s, __u32 i)
{
	return s->peek[i & TCPOTEL_PEEK_MASK];
}

static __always_inline __u32 tcpotel_be16(const struct tcpotel_scratch *s, __u32 i)
{
	return (tcpotel_pk(s, i) << 8) | tcpotel_pk(s, i + 1);
}

static __always_inline __u32 tcpotel_be32(const struct tcpotel_scratch *s, __u32 i)
{
	return (tcpotel_pk(s, i) << 24) | (tcpotel_pk(s, i + 1) << 16) | (tcpotel_pk(s, i + 2) << 8) |
	       tcpotel_pk(s, i + 3);
}

static __always_inline __u32 tcpotel_le32(const struct tcpotel_scratch *s, __u32 i)
{
	return tcpotel_pk(s, i) | (tcpotel_pk(s, i + 1) << 8) | (tcpotel_pk(s, i + 2) << 16) |
	       (tcpotel_pk(s, i + 3) << 24);
}

static __always_inline int tcpotel_is_digit(__u32 c)
{
	return c - '0' <= 9;
}

static __always_inline int tcpotel_is_upper(__u32 c)
{
	return c - 'A' <= 25;
}

/* A ClientHello field at payload offset p, big-endian, 1 or 2 bytes; -1 when not there.
 * From the peeked bytes when they hold it (no helper call), else loaded. Not for use in
 * loops: the two ways would be two verifier paths per iteration. */
static __always_inline int tcpotel_field(void *ctx, __u32 off, const struct tcpotel_scratch *s, __u32 n, __u32 p,
					 __u32 size)
{
	__u8 b[2];

	if (p + size <= n)
		return size == 1 ? tcpotel_pk(s, p) : tcpotel_be16(s, p);
	if (TCPOTEL_LOAD(ctx, off + p, b, size))
		return -1;
	return size == 1 ? b[0] : (b[0] << 8) | b[1];
}

/*
 * TLS: record header (type 0x16, version 3.0..3.4, length), handshake header; for a
 * ClientHello, the SNI: session id, cipher suites and compression methods are skipped by
 * their lengths, then up to TCPOTEL_TLS_MAX_EXT extensions are walked to server_name.
 * Every offset is checked against the bytes present (len) and the record; a ClientHello
 * cut by the segment end gives tls with TCPOTEL_PF_PARTIAL, and a name only if the whole
 * name is inside the segment.
 */
#ifndef TCPOTEL_TLS_MAX_EXT
#define TCPOTEL_TLS_MAX_EXT 32
#endif

static __always_inline int tcpotel_tls(void *ctx, __u32 off, __u32 len, struct tcpotel_scratch *s,
				       struct tcpotel_proto_info *out)
{
	__u32 n = TCPOTEL_GET(s, n), rlen, end, p, ext_end, i, q, nl, want, found = 0;
	int v;

	if (n < 5)
		return TCPOTEL_PROTO_UNKNOWN;
	rlen = tcpotel_be16(s, 3);
	if (tcpotel_pk(s, 1) != 3 || tcpotel_pk(s, 2) > 4 || rlen < 4 || rlen > 16384 + 2048)
		return TCPOTEL_PROTO_UNKNOWN;
	out->tls_version = 0x0300 | tcpotel_pk(s, 2);
	end = 5 + rlen;
	if (end > len) {
		out->flags |= TCPOTEL_PF_PARTIAL;
		end = len;
	}
	if (n < 6)
		return TCPOTEL_PROTO_TLS;
	if (tcpotel_pk(s, 5) == 2)
		out->flags |= TCPOTEL_PF_SERVER;
	/* The hello's own version (legacy_version): the record layer of a first ClientHello
	 * says 3.1 whatever is offered; the hello says 3.3 for TLS 1.2 and 1.3 (whose version
	 * is negotiated in an extension), 3.1 for a TLS 1.0 client. */
	if (n >= 11 && (tcpotel_pk(s, 5) == 1 || tcpotel_pk(s, 5) == 2) && tcpotel_pk(s, 9) == 3 &&
	    tcpotel_pk(s, 10) <= 4)
		out->tls_version = 0x0300 | tcpotel_pk(s, 10);
	if (tcpotel_pk(s, 5) != 1)
		return TCPOTEL_PROTO_TLS;

	/* ClientHello: 4 handshake header, 2 version, 32 random, then the session id. */
	p = 5 + 4 + 2 + 32;
	v = tcpotel_field(ctx, off, s, n, p, 1);
	if (v < 0 || v > 32)
		return TCPOTEL_PROTO_TLS;
	p += 1 + v;
	v = tcpotel_field(ctx, off, s, n, p, 2);
	if (v < 0)
		return TCPOTEL_PROTO_TLS;
	p += 2 + v;
	v = tcpotel_field(ctx, off, s, n, p, 1);
	if (v < 0)
		return TCPOTEL_PROTO_TLS;
	p += 1 + v;
	v = tcpotel_field(ctx, off, s, n, p, 2);
	if (v < 0)
		return TCPOTEL_PROTO_TLS;
	p += 2;
	ext_end = p + v;
	if (ext_end > end)
		ext_end = end;

	for (i = 0; i < TCPOTEL_TLS_MAX_EXT; i++) {
		__u8 h[4];

		if (p + 4 > ext_end || TCPOTEL_LOAD(ctx, off + p, h, 4))
			return TCPOTEL_PROTO_TLS;
		if ((h[0] | h[1]) == 0) {
			found = 1;
			break;
		}
		p += 4 + ((h[2] << 8) | h[3]);
	}
	if (!found)
		return TCPOTEL_PROTO_TLS;

	/* server_name: list length (2), name type (1, host_name = 0), name length (2), name. */
	TCPOTEL_FENCE();
	n = TCPOTEL_GET(s, n);
	v = tcpotel_field(ctx, off, s, n, p + 6, 1);
	if (v != 0)
		return TCPOTEL_PROTO_TLS;
	v = tcpotel_field(ctx, off, s, n, p + 7, 2);
	if (v <= 0)
		return TCPOTEL_PROTO_TLS;
	want = v;
	q = p + 9;
	if (q + want > ext_end)         /* cut by the segment (or lying lengths): no name */
		return TCPOTEL_PROTO_TLS;
	nl = want;
	if (nl > TCPOTEL_NAME_LEN)
		nl = TCPOTEL_NAME_LEN;
	/* 1..TCPOTEL_NAME_LEN in a form the verifier can bound (nl is already in that range).
	 * The peeked bytes are not needed any more: the name goes through them. */
	nl = ((nl - 1) & (TCPOTEL_NAME_LEN - 1)) + 1;
	if (TCPOTEL_LOAD(ctx, off + q, s->peek, nl))
		return TCPOTEL_PROTO_TLS;
	TCPOTEL_PUT(s, v, nl);
	nl = TCPOTEL_GET(s, v);
	for (i = 0; i < TCPOTEL_NAME_LEN; i++) {
		__u64 c = s->peek[i];

		if (!(tcpotel_hostbit(c) & tcpotel_lt(i, nl)))
			break;
		out->name[i] = tcpotel_lower(c);
	}
	TCPOTEL_PUT(s, v, i);
	i = TCPOTEL_GET(s, v);
	out->name_len = i;
	if (i == TCPOTEL_NAME_LEN && want > TCPOTEL_NAME_LEN)
		out->flags |= TCPOTEL_PF_NAME_CUT;
	return TCPOTEL_PROTO_TLS;
}

/* "application/grpc" after the HTTP/2 preface: in plain text, or HPACK-Huffman-coded (exactly
 * 11 bytes, 88 bits, so also the prefix of "application/grpc+proto"), which is what nghttp2
 * and most encoders send. Two rolling 8-byte windows over the peeked bytes. */
#define TCPOTEL_GRPC_HI 0x6170706c69636174ULL   /* "applicat" */
#define TCPOTEL_GRPC_LO 0x696f6e2f67727063ULL   /* "ion/grpc" */
#define TCPOTEL_GRPC_HUF_HI 0x1d75d0ULL         /* Huffman("application/grpc"), 11 bytes */
#define TCPOTEL_GRPC_HUF_LO 0x620d263d4c4d6564ULL

static __always_inline int tcpotel_grpc(struct tcpotel_scratch *s)
{
	__u32 k, i, lim = TCPOTEL_GET(s, n);
	__u64 hi = 0, lo = 0, hit;

	TCPOTEL_PUT(s, v, 0);
	for (k = 0; k < TCPOTEL_PEEK_LEN - 24; k++) {
		i = 24 + k;
		if (i >= lim)
			break;
		hi = (hi << 8) | (lo >> 56);
		lo = (lo << 8) | tcpotel_pk(s, i);
		hit = (tcpotel_eq(hi, TCPOTEL_GRPC_HI) & tcpotel_eq(lo, TCPOTEL_GRPC_LO)) |
		      (tcpotel_eq(hi & 0xffffff, TCPOTEL_GRPC_HUF_HI) & tcpotel_eq(lo, TCPOTEL_GRPC_HUF_LO));
		if (hit) {
			TCPOTEL_PUT(s, v, 1);
			break;
		}
	}
	return TCPOTEL_GET(s, v);
}

/*
 * The HTTP Host value of a request whose request line ends at s->e (its '\n'): the first
 * header line named "host" (any case) within the peeked bytes; OWS skipped; the value up to
 * the first non-hostname byte (so the port goes); "[v6]" kept without brackets.
 */
#define TCPOTEL_NO_HOST 0xffffffffU

static __always_inline void tcpotel_http_host(struct tcpotel_scratch *s, struct tcpotel_proto_info *out)
{
	__u32 i, k, e, hv, lim, cnt;
	__u64 w = 0, c, v6;

	/* A rolling window over the header bytes: "\nhost:" found, or "\n\r" / "\n\n" (the end
	 * of the headers, no Host), or the bytes ran out. */
	e = TCPOTEL_GET(s, e);
	lim = TCPOTEL_GET(s, n);
	TCPOTEL_PUT(s, v, 0);
	for (k = 0; k < TCPOTEL_PEEK_LEN; k++) {
		i = e + k;
		if (i >= lim)
			break;
		w = (w << 8) | tcpotel_pk(s, i);
		if (tcpotel_eq(w & 0xffdfdfdfdfffULL, 0x0a484f53543aULL)) {
			TCPOTEL_PUT(s, v, i + 1);
			break;
		}
		if (tcpotel_eq(w & 0xffff, 0x0a0d) | tcpotel_eq(w & 0xffff, 0x0a0a)) {
			TCPOTEL_PUT(s, v, TCPOTEL_NO_HOST);
			break;
		}
	}
	hv = TCPOTEL_GET(s, v);
	if (hv == TCPOTEL_NO_HOST)
		return;
	if (!hv) {
		out->flags |= TCPOTEL_PF_PARTIAL;       /* the headers go on past the bytes read */
		return;
	}

	lim = TCPOTEL_GET(s, n);
	for (k = 0; k < 8; k++) {
		c = tcpotel_pk(s, hv);
		if (!(tcpotel_lt(hv, lim) & (tcpotel_eq(c, ' ') | tcpotel_eq(c, '\t'))))
			break;
		hv++;
	}
	TCPOTEL_PUT(s, v, hv);

	hv = TCPOTEL_GET(s, v);
	lim = TCPOTEL_GET(s, n);
	v6 = tcpotel_lt(hv, lim) & tcpotel_eq(tcpotel_pk(s, hv), '[');
	hv += v6;
	for (k = 0; k < TCPOTEL_NAME_LEN; k++) {
		c = tcpotel_pk(s, hv + k);
		if (!((tcpotel_hostbit(c) | (v6 & tcpotel_eq(c, ':'))) & tcpotel_lt(hv + k, lim)))
			break;
		out->name[k] = tcpotel_lower(c);
	}
	TCPOTEL_PUT(s, v, k);
	cnt = TCPOTEL_GET(s, v);
	/* A value running into the end of the bytes read may be cut: no name then. */
	if (hv + cnt >= lim) {
		__builtin_memset(out->name, 0, TCPOTEL_NAME_LEN);
		out->flags |= TCPOTEL_PF_PARTIAL;
		return;
	}
	c = tcpotel_pk(s, hv + cnt);
	if (cnt == TCPOTEL_NAME_LEN && (tcpotel_hostbit(c) | (v6 & tcpotel_eq(c, ':'))))
		out->flags |= TCPOTEL_PF_NAME_CUT;
	out->name_len = cnt;
}

/* An HTTP/1.x request: the method token (s->t bytes), a request line that ends in
 * " HTTP/1.x\r\n" within the bytes read, else a known method and a plausible target. */
static __always_inline int tcpotel_http_request(struct tcpotel_scratch *s, struct tcpotel_proto_info *out)
{
	__u32 k, e, t, n, w0, m = TCPOTEL_HTTP_OTHER;

	/* The end of the request line, if within the bytes read. */
	n = TCPOTEL_GET(s, n);
	TCPOTEL_PUT(s, e, 0);
	for (k = 0; k < TCPOTEL_PEEK_LEN; k++) {
		if (k >= n)
			break;
		if (tcpotel_pk(s, k) == '\n') {
			TCPOTEL_PUT(s, e, k);
			break;
		}
	}
	TCPOTEL_FENCE();

	e = TCPOTEL_GET(s, e);
	t = TCPOTEL_GET(s, t);
	n = TCPOTEL_GET(s, n);
	w0 = tcpotel_be32(s, 0);
	if (t == 3 && w0 == TCPOTEL_C4('G', 'E', 'T', ' '))
		m = TCPOTEL_HTTP_GET;
	else if (t == 3 && w0 == TCPOTEL_C4('P', 'U', 'T', ' '))
		m = TCPOTEL_HTTP_PUT;
	else if (t == 4 && w0 == TCPOTEL_C4('H', 'E', 'A', 'D'))
		m = TCPOTEL_HTTP_HEAD;
	else if (t == 4 && w0 == TCPOTEL_C4('P', 'O', 'S', 'T'))
		m = TCPOTEL_HTTP_POST;
	else if (t == 5 && w0 == TCPOTEL_C4('P', 'A', 'T', 'C') && tcpotel_pk(s, 4) == 'H')
		m = TCPOTEL_HTTP_PATCH;
	else if (t == 5 && w0 == TCPOTEL_C4('T', 'R', 'A', 'C') && tcpotel_pk(s, 4) == 'E')
		m = TCPOTEL_HTTP_TRACE;
	else if (t == 6 && w0 == TCPOTEL_C4('D', 'E', 'L', 'E') && tcpotel_be16(s, 4) == (('T' << 8) | 'E'))
		m = TCPOTEL_HTTP_DELETE;
	else if (t == 7 && w0 == TCPOTEL_C4('C', 'O', 'N', 'N') && tcpotel_be32(s, 3) == TCPOTEL_C4('N', 'E', 'C', 'T'))
		m = TCPOTEL_HTTP_CONNECT;
	else if (t == 7 && w0 == TCPOTEL_C4('O', 'P', 'T', 'I') && tcpotel_be32(s, 3) == TCPOTEL_C4('I', 'O', 'N', 'S'))
		m = TCPOTEL_HTTP_OPTIONS;

	if (!e) {
		/* The line goes past the bytes read: a known method followed by a request target
		 * ("/", "*", "http://", or CONNECT's authority) is taken as HTTP. */
		if (m == TCPOTEL_HTTP_OTHER || t + 1 >= n)
			return TCPOTEL_PROTO_UNKNOWN;
		k = tcpotel_pk(s, t + 1);
		if (k != '/' && k != '*' && k != 'h' && m != TCPOTEL_HTTP_CONNECT)
			return TCPOTEL_PROTO_UNKNOWN;
		out->method = m;
		out->flags |= TCPOTEL_PF_PARTIAL;
		return TCPOTEL_PROTO_HTTP;
	}
	if (e < t + 11 || tcpotel_pk(s, e - 1) != '\r' || tcpotel_be32(s, e - 10) != TCPOTEL_C4(' ', 'H', 'T', 'T') ||
	    tcpotel_be32(s, e - 6) != TCPOTEL_C4('P', '/', '1', '.') || !tcpotel_is_digit(tcpotel_pk(s, e - 2)))
		return TCPOTEL_PROTO_UNKNOWN;
	out->method = m;
	TCPOTEL_FENCE();
	tcpotel_http_host(s, out);
	return TCPOTEL_PROTO_HTTP;
}

/*
 * Text protocols starting with an upper-case letter: HTTP/1.x request and status lines,
 * the HTTP/2 preface, SSH, AMQP, Redis inline commands.
 */
static __always_inline int tcpotel_text(struct tcpotel_scratch *s, int hint, struct tcpotel_proto_info *out)
{
	__u32 n = TCPOTEL_GET(s, n), w0 = tcpotel_be32(s, 0), w4 = tcpotel_be32(s, 4), t, k;

	if (n >= 16 && w0 == TCPOTEL_C4('P', 'R', 'I', ' ') && w4 == TCPOTEL_C4('*', ' ', 'H', 'T') &&
	    tcpotel_be32(s, 8) == TCPOTEL_C4('T', 'P', '/', '2') && tcpotel_be32(s, 12) == TCPOTEL_C4('.', '0', '\r', '\n')) {
		if (n < 24) {
			out->flags |= TCPOTEL_PF_PARTIAL;
			return TCPOTEL_PROTO_HTTP2;
		}
		TCPOTEL_FENCE();
		return tcpotel_grpc(s) ? TCPOTEL_PROTO_GRPC : TCPOTEL_PROTO_HTTP2;
	}
	if (n >= 12 && w0 == TCPOTEL_C4('H', 'T', 'T', 'P') && (w4 == TCPOTEL_C4('/', '1', '.', '1') || w4 == TCPOTEL_C4('/', '1', '.', '0')) &&
	    tcpotel_pk(s, 8) == ' ' && tcpotel_is_digit(tcpotel_pk(s, 9)) && tcpotel_is_digit(tcpotel_pk(s, 10)) &&
	    tcpotel_is_digit(tcpotel_pk(s, 11))) {
		out->flags |= TCPOTEL_PF_SERVER;
		return TCPOTEL_PROTO_HTTP;
	}
	if (n >= 5 && w0 == TCPOTEL_C4('S', 'S', 'H', '-') && tcpotel_is_digit(tcpotel_pk(s, 4)))
		return TCPOTEL_PROTO_SSH;
	if (n >= 8 && w0 == TCPOTEL_C4('A', 'M', 'Q', 'P') &&
	    (w4 == 0x00000901 || w4 == 0x00010000 || w4 == 0x02010000 || w4 == 0x03010000))
		return TCPOTEL_PROTO_AMQP;

	/* The first token: upper-case letters up to a space (HTTP) or CR (inline Redis). */
	for (k = 1; k < 16; k++) {
		if (k >= n || !tcpotel_is_upper(tcpotel_pk(s, k)))
			break;
	}
	TCPOTEL_PUT(s, t, k);
	TCPOTEL_FENCE();

	t = TCPOTEL_GET(s, t);
	n = TCPOTEL_GET(s, n);
	w0 = tcpotel_be32(s, 0);
	if (t >= n)
		return TCPOTEL_PROTO_UNKNOWN;
	if (hint != TCPOTEL_FROM_SERVER &&
	    ((t == 4 && (w0 == TCPOTEL_C4('P', 'I', 'N', 'G') || w0 == TCPOTEL_C4('A', 'U', 'T', 'H') ||
			 w0 == TCPOTEL_C4('Q', 'U', 'I', 'T') || w0 == TCPOTEL_C4('E', 'C', 'H', 'O'))) ||
	     (t == 5 && w0 == TCPOTEL_C4('H', 'E', 'L', 'L') && tcpotel_pk(s, 4) == 'O')) &&
	    (tcpotel_pk(s, t) == '\r' || (tcpotel_pk(s, t) == ' ' && w0 != TCPOTEL_C4('Q', 'U', 'I', 'T'))))
		return TCPOTEL_PROTO_REDIS;
	if (tcpotel_pk(s, t) != ' ')
		return TCPOTEL_PROTO_UNKNOWN;
	TCPOTEL_FENCE();
	return tcpotel_http_request(s, out);
}

/* Binary protocols: length-prefixed headers whose fields must agree with each other and,
 * where a client writes one message at a time, with the payload length. */
static __always_inline int tcpotel_binary(struct tcpotel_scratch *s, __u32 len, int hint,
					  struct tcpotel_proto_info *out)
{
	__u32 n = TCPOTEL_GET(s, n), l32, x, k;

	if (n < 8)
		return TCPOTEL_PROTO_UNKNOWN;

	/* PostgreSQL: int32 length, int32 code. */
	l32 = tcpotel_be32(s, 0);
	x = tcpotel_be32(s, 4);
	if (((x == 80877103 || x == 80877104) && l32 == 8) || (x == 80877102 && l32 == 16))
		return TCPOTEL_PROTO_POSTGRESQL;
	if (x == 196608 && l32 > 8 && l32 <= 10000 && hint != TCPOTEL_FROM_SERVER)
		return TCPOTEL_PROTO_POSTGRESQL;

	/* MySQL greeting: 3-byte length, sequence 0, protocol 10, "x.y..." version, alone in its write. */
	x = tcpotel_pk(s, 0) | (tcpotel_pk(s, 1) << 8) | (tcpotel_pk(s, 2) << 16);
	if (hint != TCPOTEL_FROM_CLIENT && tcpotel_pk(s, 3) == 0 && tcpotel_pk(s, 4) == 10 && x >= 30 && x <= 1024 &&
	    x + 4 == len && tcpotel_is_digit(tcpotel_pk(s, 5))) {
		out->flags |= TCPOTEL_PF_SERVER;
		return TCPOTEL_PROTO_MYSQL;
	}

	/* MongoDB: int32 LE length, requestID, responseTo, opCode. */
	if (n >= 16) {
		l32 = tcpotel_le32(s, 0);
		x = tcpotel_le32(s, 12);
		k = tcpotel_le32(s, 8);
		if (l32 >= 21 && l32 <= 48000000) {
			if ((x == 2013 || x == 2004) && k == 0 && hint != TCPOTEL_FROM_SERVER)
				return TCPOTEL_PROTO_MONGODB;
			if ((x == 2013 || x == 1) && k != 0 && hint != TCPOTEL_FROM_CLIENT) {
				out->flags |= TCPOTEL_PF_SERVER;
				return TCPOTEL_PROTO_MONGODB;
			}
		}
	}

	/* DNS over TCP: 2-byte length (one or more whole messages in this write), 12-byte header
	 * with one question, opcode QUERY/IQUERY/STATUS; a query has no answers or authority. */
	if (n >= 17) {
		x = tcpotel_be16(s, 0);
		k = tcpotel_pk(s, 4);
		if (x >= 17 && x + 2 <= len && ((k >> 3) & 0xf) <= 2 && tcpotel_be16(s, 6) == 1 &&
		    tcpotel_pk(s, 14) <= 63) {
			if (!(k & 0x80) && tcpotel_be16(s, 8) == 0 && tcpotel_be16(s, 10) == 0 && hint != TCPOTEL_FROM_SERVER)
				return TCPOTEL_PROTO_DNS;
			if ((k & 0x80) && hint != TCPOTEL_FROM_CLIENT) {
				out->flags |= TCPOTEL_PF_SERVER;
				return TCPOTEL_PROTO_DNS;
			}
		}
	}

	/* Kafka (best effort): int32 size = the rest of this write (or of its first request),
	 * api_key 0..80, api_version 0..20, correlation id, client id: null or a short string
	 * whose first bytes are printable. */
	if (n >= 14 && hint != TCPOTEL_FROM_SERVER) {
		l32 = tcpotel_be32(s, 0);
		x = tcpotel_be16(s, 12);
		if (l32 >= 10 && l32 + 4 <= len && tcpotel_be16(s, 4) <= 80 && tcpotel_be16(s, 6) <= 20 &&
		    (x == 0xffff || x <= 255)) {
			if (x == 0xffff || x == 0)
				return TCPOTEL_PROTO_KAFKA;
			if (14 + x > l32 + 4)
				return TCPOTEL_PROTO_UNKNOWN;
			for (k = 0; k < 8; k++) {
				__u32 c;

				if (k >= x || 14 + k >= n)
					break;
				c = tcpotel_pk(s, 14 + k);
				if (c - 0x20 > 0x7e - 0x20)
					return TCPOTEL_PROTO_UNKNOWN;
			}
			return TCPOTEL_PROTO_KAFKA;
		}
	}
	return TCPOTEL_PROTO_UNKNOWN;
}

/* RESP array of bulk strings: "*<1-4 digits>\r\n$". */
static __always_inline int tcpotel_resp(struct tcpotel_scratch *s)
{
	__u32 n = TCPOTEL_GET(s, n), k, i;

	if (n < 5 || !tcpotel_is_digit(tcpotel_pk(s, 1)))
		return TCPOTEL_PROTO_UNKNOWN;
	for (k = 0; k < 3; k++) {
		i = 2 + k;
		if (i + 2 >= n || !tcpotel_is_digit(tcpotel_pk(s, i)))
			break;
	}
	i = 2 + k;
	if (i + 2 < n && tcpotel_pk(s, i) == '\r' && tcpotel_pk(s, i + 1) == '\n' && tcpotel_pk(s, i + 2) == '$')
		return TCPOTEL_PROTO_REDIS;
	return TCPOTEL_PROTO_UNKNOWN;
}

/* MQTT CONNECT: remaining length (1-4 bytes, 7 bits each), then the protocol name. */
static __always_inline int tcpotel_mqtt(struct tcpotel_scratch *s)
{
	__u32 n = TCPOTEL_GET(s, n), k, i = 1;

	for (k = 0; k < 4; k++) {
		if (i >= n || !(tcpotel_pk(s, i) & 0x80))
			break;
		i++;
	}
	i++;
	if (k < 4 && i + 6 <= n && tcpotel_pk(s, i) == 0 &&
	    ((tcpotel_pk(s, i + 1) == 4 && tcpotel_be32(s, i + 2) == TCPOTEL_C4('M', 'Q', 'T', 'T')) ||
	     (tcpotel_pk(s, i + 1) == 6 && i + 8 <= n && tcpotel_be32(s, i + 2) == TCPOTEL_C4('M', 'Q', 'I', 's') &&
	      tcpotel_be16(s, i + 6) == (('d' << 8) | 'p'))))
		return TCPOTEL_PROTO_MQTT;
	return TCPOTEL_PROTO_UNKNOWN;
}

/*
 * Classifies the first payload bytes of one direction of a TCP connection.
 *   ctx, payload_off   where the payload starts, for TCPOTEL_LOAD
 *   payload_len        payload bytes in this packet (only the first TCPOTEL_PEEK_LEN are
 *                      peeked at; a ClientHello is walked up to payload_len)
 *   hint               TCPOTEL_FROM_CLIENT / _SERVER / _EITHER: whose bytes these are
 *   s                  scratch (sizeof(struct tcpotel_scratch)), contents irrelevant on entry
 *   out                filled completely (name zero-filled past name_len)
 * Returns out->proto: TCPOTEL_PROTO_NONE when there was nothing to look at (no payload, or
 * the load failed), else the protocol or TCPOTEL_PROTO_UNKNOWN. Call it once per direction,
 * on the first packet with payload; it keeps no state.
 */
static __always_inline int tcpotel_classify(void *ctx, __u32 payload_off, __u32 payload_len, int hint,
					    struct tcpotel_scratch *s, struct tcpotel_proto_info *out)
{
	__u32 n, c0;
	int p;

	out->proto = TCPOTEL_PROTO_NONE;
	out->method = TCPOTEL_HTTP_NONE;
	out->tls_version = 0;
	out->name_len = 0;
	out->flags = 0;
	out->pad[0] = 0;
	out->pad[1] = 0;
	__builtin_memset(out->name, 0, TCPOTEL_NAME_LEN);

	if (payload_len == 0)
		return TCPOTEL_PROTO_NONE;
	n = payload_len > TCPOTEL_PEEK_LEN ? TCPOTEL_PEEK_LEN : payload_len;
	n = ((n - 1) & TCPOTEL_PEEK_MASK) + 1;  /* 1..TCPOTEL_PEEK_LEN, visibly to the verifier */
	if (TCPOTEL_LOAD(ctx, payload_off, s->peek, n))
		return TCPOTEL_PROTO_NONE;
	TCPOTEL_PUT(s, n, n);
	TCPOTEL_FENCE();

	c0 = tcpotel_pk(s, 0);
	if (c0 == 0x16)
		p = tcpotel_tls(ctx, payload_off, payload_len, s, out);
	else if (tcpotel_is_upper(c0))
		p = tcpotel_text(s, hint, out);
	else if (c0 == '*')
		p = tcpotel_resp(s);
	else if (c0 == 0x10)
		p = tcpotel_mqtt(s);
	else
		p = TCPOTEL_PROTO_UNKNOWN;

	/* Length-prefixed binary headers can start with any byte (a MySQL greeting of 74 bytes
	 * starts with 'J'): they are tried whenever the first byte's own guess failed. The TLS
	 * path may have overwritten the peeked bytes with the SNI, but it never fails after. */
	TCPOTEL_FENCE();
	if (p == TCPOTEL_PROTO_UNKNOWN)
		p = tcpotel_binary(s, payload_len, hint, out);
	if (p == TCPOTEL_PROTO_UNKNOWN) {
		/* Nothing of what was parsed may leak through a failed match. */
		out->method = TCPOTEL_HTTP_NONE;
		out->tls_version = 0;
		out->name_len = 0;
		out->flags = TCPOTEL_GET(s, n) < 8 ? TCPOTEL_PF_PARTIAL : 0;
		__builtin_memset(out->name, 0, TCPOTEL_NAME_LEN);
	}
	out->proto = p;
	return p;
}

#endif /* TCPOTEL_PROTOCOL_CODE_H */
