// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Userspace harness for bpf/protocol.h: the classifier, compiled as plain C over a buffer,
 * on real captures (the .hex files in test/bpf/testdata, see capture.mjs there) and on bad input.
 *
 *   cc -O1 -g -Wall -Wextra -fsanitize=address,undefined -I bpf -o protocol_test test/bpf/protocol_test.c
 *   ./protocol_test test/bpf/testdata
 *
 * Every payload sits behind a 52-byte fake IPv4+TCP header, in a heap block of exactly
 * header + payload bytes, so an out-of-bounds read is caught twice: by the loader (which
 * refuses like bpf_skb_load_bytes, and counts reads outside the payload) and by ASan.
 * Each case runs twice with the scratch buffer pre-filled with different garbage: the
 * results must not depend on stale scratch bytes.
 * Prints one line per case and "N passed, M failed"; exits 1 on any failure.
 *
 *   ./protocol_test --json test/bpf/testdata a.hex b.hex ...
 * prints, for each capture, one JSON line with what the classifier says of it (hint
 * TCPOTEL_FROM_EITHER): what the same header must say in the kernel (test/bpf/protocol.test.ts).
 */
#include <linux/types.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

struct pkt {
	const __u8 *data;      /* header + payload */
	__u32 size;
	__u32 payload_off;
	__u64 loads, refused, outside, badlen;
};

/* bpf_skb_load_bytes over a buffer: all or nothing, the destination zeroed on failure. */
static int harness_load(struct pkt *p, __u32 off, void *dst, __u32 len)
{
	p->loads++;
	if (len == 0 || len > 256)
		p->badlen++;
	if ((__u64)off + len > p->size) {
		p->refused++;
		memset(dst, 0, len);
		return -EFAULT;
	}
	if (off < p->payload_off)
		p->outside++;
	memcpy(dst, p->data + off, len);
	return 0;
}

#define TCPOTEL_LOAD(ctx, off, dst, len) harness_load((struct pkt *)(ctx), (off), (dst), (len))
#include "protocol.h"

static const char *proto_names[] = {
	"none", "unknown", "http", "http2", "grpc", "tls", "ssh", "postgresql", "mysql",
	"redis", "mongodb", "dns", "mqtt", "amqp", "kafka",
};
static const char *method_names[] = {
	"", "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "OTHER",
};

static int passed, failed;
static const char *dir = "test/bpf/testdata";

#define HDR 52

/* Runs the classifier on `payload` (len bytes; `claimed` as payload_len, normally len). */
static int classify(const __u8 *payload, __u32 len, __u32 claimed, int hint, struct tcpotel_proto_info *out,
		    struct pkt *stats, __u8 fill)
{
	__u8 *buf = malloc(HDR + len);
	struct tcpotel_scratch *s = malloc(sizeof(*s));
	struct pkt p;
	int r;

	memset(buf, 0x45, HDR);
	if (len)
		memcpy(buf + HDR, payload, len);
	memset(s, fill, sizeof(*s));
	memset(out, 0xee, sizeof(*out));    /* the classifier must set every byte */
	memset(&p, 0, sizeof(p));
	p.data = buf;
	p.size = HDR + len;
	p.payload_off = HDR;
	r = tcpotel_classify(&p, HDR, claimed, hint, s, out);
	if (stats)
		*stats = p;
	free(s);
	free(buf);
	return r;
}

/* What must hold for any input: the output is well-formed and carries nothing but a name. */
static const char *invariants(const struct tcpotel_proto_info *o, const struct pkt *st)
{
	__u32 i;

	if (o->proto >= TCPOTEL_PROTO_COUNT)
		return "proto out of range";
	if (o->method > TCPOTEL_HTTP_OTHER || (o->method && o->proto != TCPOTEL_PROTO_HTTP))
		return "method out of range or without http";
	if (o->name_len > TCPOTEL_NAME_LEN)
		return "name_len > TCPOTEL_NAME_LEN";
	if (o->name_len && o->proto != TCPOTEL_PROTO_HTTP && o->proto != TCPOTEL_PROTO_TLS)
		return "a name for neither http nor tls";
	if (o->tls_version && o->proto != TCPOTEL_PROTO_TLS)
		return "tls_version without tls";
	if (o->flags & ~(TCPOTEL_PF_NAME_CUT | TCPOTEL_PF_PARTIAL | TCPOTEL_PF_SERVER))
		return "unknown flag";
	if (o->pad[0] || o->pad[1])
		return "pad not zero";
	for (i = 0; i < TCPOTEL_NAME_LEN; i++) {
		__u8 c = o->name[i];

		if (i < o->name_len && !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
					 c == '_' || c == ':'))
			return "a non-hostname byte in name";
		if (i < o->name_len && c >= 'A' && c <= 'Z')
			return "an upper-case byte in name";
		if (i >= o->name_len && c)
			return "a byte past name_len";
	}
	if (st->outside)
		return "a read before the payload";
	if (st->badlen)
		return "a load of 0 or more than 256 bytes";
	return NULL;
}

static void describe(char *b, size_t n, const struct tcpotel_proto_info *o)
{
	snprintf(b, n, "proto=%s method=%s tls_version=0x%04x name=\"%.*s\" flags=0x%x",
		 o->proto < TCPOTEL_PROTO_COUNT ? proto_names[o->proto] : "?",
		 o->method <= TCPOTEL_HTTP_OTHER ? method_names[o->method] : "?", o->tls_version, o->name_len,
		 o->name, o->flags);
}

/* One case with exact expectations. */
static void expect(const char *label, const __u8 *payload, __u32 len, __u32 claimed, int hint, int proto, int method,
		   int tls_version, const char *name, int flags)
{
	struct tcpotel_proto_info a, b;
	struct pkt st;
	char got[200], other[200];
	const char *bad;
	int r = classify(payload, len, claimed, hint, &a, &st, 0xa5);

	classify(payload, len, claimed, hint, &b, NULL, 0x5a);
	describe(got, sizeof(got), &a);
	describe(other, sizeof(other), &b);
	bad = invariants(&a, &st);
	if (!bad && r != a.proto)
		bad = "return value differs from out->proto";
	if (!bad && memcmp(&a, &b, sizeof(a)))
		bad = "result depends on stale scratch bytes";
	if (!bad && (a.proto != proto || a.method != method || a.tls_version != tls_version || a.flags != flags ||
		     a.name_len != strlen(name) || memcmp(a.name, name, a.name_len)))
		bad = "unexpected result";
	if (bad) {
		char want[200];
		struct tcpotel_proto_info w = { .proto = proto, .method = method, .tls_version = tls_version,
						.name_len = strlen(name), .flags = flags };

		memcpy(w.name, name, strlen(name) < TCPOTEL_NAME_LEN ? strlen(name) : TCPOTEL_NAME_LEN);
		describe(want, sizeof(want), &w);
		printf("not ok - %s: %s\n    got:  %s\n    want: %s\n", label, bad, got, want);
		failed++;
	} else {
		printf("ok - %s: %s (%llu loads)\n", label, got, (unsigned long long)st.loads);
		passed++;
	}
}

/* A capture file: '#' comment lines, then hex. */
static __u8 *load_hex(const char *name, __u32 *len)
{
	char path[512], line[4096];
	FILE *f;
	__u8 *out = NULL;
	__u32 n = 0, cap = 0;

	snprintf(path, sizeof(path), "%s/%s.hex", dir, name);
	f = fopen(path, "r");
	if (!f) {
		printf("not ok - %s: cannot open %s\n", name, path);
		failed++;
		return NULL;
	}
	while (fgets(line, sizeof(line), f)) {
		char *c = line;

		if (line[0] == '#')
			continue;
		while (c[0] && c[1] && c[0] != '\n') {
			unsigned v;

			if (sscanf(c, "%2x", &v) != 1)
				break;
			if (n == cap) {
				cap = cap ? cap * 2 : 256;
				out = realloc(out, cap);
			}
			out[n++] = v;
			c += 2;
		}
	}
	fclose(f);
	*len = n;
	return out;
}

static void capture(const char *file, int hint, int proto, int method, int tls_version, const char *name, int flags)
{
	__u32 len;
	__u8 *b = load_hex(file, &len);

	if (!b)
		return;
	expect(file, b, len, len, hint, proto, method, tls_version, name, flags);
	free(b);
}

static void text(const char *label, const char *s, int hint, int proto, int method, const char *name, int flags)
{
	expect(label, (const __u8 *)s, strlen(s), strlen(s), hint, proto, method, 0, name, flags);
}

/* A ClientHello by RFC 8446 §4.1.2: `before` dummy extensions, then server_name (unless
 * sni is NULL), then supported_versions. */
static __u32 client_hello(__u8 *b, __u32 cap, __u16 record_version, __u8 sid_len, const char *sni, int before)
{
	__u32 p = 0, ext_len_at, hs_len_at, i, sl = sni ? strlen(sni) : 0;

	(void)cap;
#define PUT8(v) (b[p++] = (__u8)(v))
#define PUT16(v) (PUT8((v) >> 8), PUT8(v))
	PUT8(0x16);
	PUT16(record_version);
	PUT16(0);                          /* record length, below */
	PUT8(1);                           /* ClientHello */
	hs_len_at = p;
	PUT8(0);
	PUT16(0);                          /* handshake length, below */
	PUT16(0x0303);
	for (i = 0; i < 32; i++)
		PUT8(i * 7);
	PUT8(sid_len);
	for (i = 0; i < sid_len; i++)
		PUT8(0x40 + i);
	PUT16(6);
	PUT16(0x1301);
	PUT16(0x1302);
	PUT16(0xc02f);
	PUT8(1);
	PUT8(0);
	ext_len_at = p;
	PUT16(0);
	for (i = 0; i < (__u32)before; i++) {
		PUT16(0xfa00 + i);         /* unassigned types: skipped by length */
		PUT16(3);
		PUT8(1);
		PUT8(2);
		PUT8(3);
	}
	if (sni) {
		PUT16(0);                  /* server_name */
		PUT16(sl + 5);
		PUT16(sl + 3);
		PUT8(0);                   /* host_name */
		PUT16(sl);
		memcpy(b + p, sni, sl);
		p += sl;
	}
	PUT16(43);                         /* supported_versions: TLS 1.3, 1.2 */
	PUT16(5);
	PUT8(4);
	PUT16(0x0304);
	PUT16(0x0303);
#undef PUT8
#undef PUT16
	b[3] = (p - 5) >> 8;
	b[4] = (p - 5) & 0xff;
	b[hs_len_at + 1] = (p - 9) >> 8;
	b[hs_len_at + 2] = (p - 9) & 0xff;
	b[ext_len_at] = (p - ext_len_at - 2) >> 8;
	b[ext_len_at + 1] = (p - ext_len_at - 2) & 0xff;
	return p;
}

static __u64 rng_state = 0x9e3779b97f4a7c15ull;
static __u64 rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

#define TLS TCPOTEL_PROTO_TLS
#define HTTP TCPOTEL_PROTO_HTTP
#define UNK TCPOTEL_PROTO_UNKNOWN
#define CLI TCPOTEL_FROM_CLIENT
#define SRV TCPOTEL_FROM_SERVER
#define ANY TCPOTEL_FROM_EITHER
#define PARTIAL TCPOTEL_PF_PARTIAL
#define SERVER TCPOTEL_PF_SERVER
#define CUT TCPOTEL_PF_NAME_CUT

static void captures(void)
{
	/* HTTP/1.x */
	capture("http-node-get", CLI, HTTP, TCPOTEL_HTTP_GET, 0, "127.0.0.1", 0);
	capture("http-node-get", ANY, HTTP, TCPOTEL_HTTP_GET, 0, "127.0.0.1", 0);
	capture("http-node-post-host", CLI, HTTP, TCPOTEL_HTTP_POST, 0, "api.example.test", 0);
	capture("http-node-get-v6", CLI, HTTP, TCPOTEL_HTTP_GET, 0, "::1", 0);
	capture("http-curl-get", CLI, HTTP, TCPOTEL_HTTP_GET, 0, "localhost", 0);
	capture("http-node-response", SRV, HTTP, 0, 0, "", SERVER);
	capture("http-node-response", ANY, HTTP, 0, 0, "", SERVER);
	/* HTTP/2, gRPC: grpc-js waits for the server's SETTINGS before its HEADERS, so its first
	 * segment says http2 only; the coalesced stream shows the Huffman-coded content-type. */
	capture("http2-node", CLI, TCPOTEL_PROTO_HTTP2, 0, 0, "", 0);
	capture("grpc-js", CLI, TCPOTEL_PROTO_HTTP2, 0, 0, "", 0);
	capture("grpc-js-stream", CLI, TCPOTEL_PROTO_GRPC, 0, 0, "", 0);
	/* TLS */
	capture("tls-node-clienthello", CLI, TLS, 0, 0x0303, "db.example.test", 0);
	capture("tls-node-clienthello", ANY, TLS, 0, 0x0303, "db.example.test", 0);
	capture("tls-openssl-clienthello", CLI, TLS, 0, 0x0303, "db.example.test", 0);
	capture("tls12-openssl-clienthello", CLI, TLS, 0, 0x0303, "db.example.test", 0);
	capture("tls-node-serverhello", SRV, TLS, 0, 0x0303, "", SERVER);
	/* the rest */
	capture("ssh-openssh-banner", CLI, TCPOTEL_PROTO_SSH, 0, 0, "", 0);
	capture("postgresql-psql-startup", CLI, TCPOTEL_PROTO_POSTGRESQL, 0, 0, "", 0);
	capture("postgresql-psql-sslrequest", CLI, TCPOTEL_PROTO_POSTGRESQL, 0, 0, "", 0);
	capture("mysql-mysql2-greeting", SRV, TCPOTEL_PROTO_MYSQL, 0, 0, "", SERVER);
	capture("mysql-mysql2-greeting", ANY, TCPOTEL_PROTO_MYSQL, 0, 0, "", SERVER);
	capture("mysql-mysql2-greeting", CLI, UNK, 0, 0, "", 0);          /* a greeting is the server's */
	capture("redis-cli-ping", CLI, TCPOTEL_PROTO_REDIS, 0, 0, "", 0);
	capture("mongodb-node-hello", CLI, TCPOTEL_PROTO_MONGODB, 0, 0, "", 0);
	capture("mongodb-node-hello-api", CLI, TCPOTEL_PROTO_MONGODB, 0, 0, "", 0);
	capture("dns-dig-tcp", CLI, TCPOTEL_PROTO_DNS, 0, 0, "", 0);
	capture("dns-dig-tcp", ANY, TCPOTEL_PROTO_DNS, 0, 0, "", 0);
	capture("mqtt-mosquitto-v311", CLI, TCPOTEL_PROTO_MQTT, 0, 0, "", 0);
	capture("mqtt-mosquitto-v31", CLI, TCPOTEL_PROTO_MQTT, 0, 0, "", 0);
	capture("mqtt-mosquitto-v5", CLI, TCPOTEL_PROTO_MQTT, 0, 0, "", 0);
	capture("amqp-amqplib", CLI, TCPOTEL_PROTO_AMQP, 0, 0, "", 0);
	capture("kafka-kafkajs", CLI, TCPOTEL_PROTO_KAFKA, 0, 0, "", 0);
	capture("kafka-kafkajs", ANY, TCPOTEL_PROTO_KAFKA, 0, 0, "", 0);
	capture("kafka-kafkajs", SRV, UNK, 0, 0, "", 0);                   /* requests are the client's */
}

static void by_spec(void)
{
	static const __u8 gssenc[] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30 };
	static const __u8 cancel[] = { 0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0x30, 0x39, 0xde, 0xad, 0xbe, 0xef };
	static const __u8 amqp10[] = { 'A', 'M', 'Q', 'P', 0, 1, 0, 0 };
	/* dig's query for db.example.test answered: QR=1, one answer. */
	static const __u8 dns_resp[] = { 0, 49, 0xc7, 0xbe, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0,
					 2, 'd', 'b', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1,
					 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 192, 0, 2, 7 };
	/* a MongoDB OP_MSG reply: responseTo set. */
	static const __u8 mongo_reply[] = { 38, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 0xdd, 0x07, 0, 0, 0, 0, 0, 0,
					    0, 17, 0, 0, 0, 1, 'o', 'k', 0, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0 };

	text("ssh server banner", "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u6\r\n", SRV, TCPOTEL_PROTO_SSH, 0, "", 0);
	text("ssh 1.99 banner", "SSH-1.99-Cisco-1.25\r\n", ANY, TCPOTEL_PROTO_SSH, 0, "", 0);
	expect("postgresql GSSENCRequest", gssenc, sizeof(gssenc), sizeof(gssenc), CLI, TCPOTEL_PROTO_POSTGRESQL, 0, 0, "", 0);
	expect("postgresql CancelRequest", cancel, sizeof(cancel), sizeof(cancel), CLI, TCPOTEL_PROTO_POSTGRESQL, 0, 0, "", 0);
	text("redis inline PING", "PING\r\n", CLI, TCPOTEL_PROTO_REDIS, 0, "", 0);
	text("redis inline AUTH", "AUTH s3cret\r\n", CLI, TCPOTEL_PROTO_REDIS, 0, "", 0);
	text("redis inline HELLO", "HELLO 3\r\n", ANY, TCPOTEL_PROTO_REDIS, 0, "", 0);
	text("redis RESP HELLO", "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n", CLI, TCPOTEL_PROTO_REDIS, 0, "", 0);
	text("redis RESP 12 args", "*12\r\n$4\r\nMSET\r\n", CLI, TCPOTEL_PROTO_REDIS, 0, "", 0);
	text("redis inline PING from a server is not taken", "PING\r\n", SRV, UNK, 0, "", PARTIAL);
	text("inline GET is not HTTP", "GET foo\r\n", CLI, UNK, 0, "", 0);
	expect("amqp 1.0 header", amqp10, sizeof(amqp10), sizeof(amqp10), CLI, TCPOTEL_PROTO_AMQP, 0, 0, "", 0);
	expect("dns response", dns_resp, sizeof(dns_resp), sizeof(dns_resp), SRV, TCPOTEL_PROTO_DNS, 0, 0, "", SERVER);
	expect("dns response from a client is not taken", dns_resp, sizeof(dns_resp), sizeof(dns_resp), CLI, UNK, 0, 0, "", 0);
	expect("mongodb reply", mongo_reply, sizeof(mongo_reply), sizeof(mongo_reply), SRV, TCPOTEL_PROTO_MONGODB, 0, 0, "", SERVER);

	/* HTTP methods and Host forms */
	text("HEAD", "HEAD /x HTTP/1.1\r\nHost: a.test\r\n\r\n", CLI, HTTP, TCPOTEL_HTTP_HEAD, "a.test", 0);
	text("PUT", "PUT /x HTTP/1.1\r\nHost: a.test\r\n\r\n", CLI, HTTP, TCPOTEL_HTTP_PUT, "a.test", 0);
	text("DELETE", "DELETE /x HTTP/1.1\r\nHost: a.test\r\n\r\n", CLI, HTTP, TCPOTEL_HTTP_DELETE, "a.test", 0);
	text("PATCH", "PATCH /x HTTP/1.1\r\nHost: a.test\r\n\r\n", CLI, HTTP, TCPOTEL_HTTP_PATCH, "a.test", 0);
	text("TRACE", "TRACE / HTTP/1.1\r\nHost: a.test\r\n\r\n", CLI, HTTP, TCPOTEL_HTTP_TRACE, "a.test", 0);
	text("OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: a.test\r\n\r\n", CLI, HTTP, TCPOTEL_HTTP_OPTIONS, "a.test", 0);
	text("CONNECT", "CONNECT db.example.test:443 HTTP/1.1\r\nHost: db.example.test:443\r\n\r\n", CLI, HTTP,
	     TCPOTEL_HTTP_CONNECT, "db.example.test", 0);
	text("PROPFIND is OTHER; header name in any case; name lower-cased", "PROPFIND /d HTTP/1.1\r\nhOsT: Files.Example.TEST\r\n\r\n",
	     CLI, HTTP, TCPOTEL_HTTP_OTHER, "files.example.test", 0);
	text("HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", CLI, HTTP, TCPOTEL_HTTP_GET, "", 0);
	text("Host after other headers, tab OWS", "GET / HTTP/1.1\r\nUser-Agent: x\r\nAccept: */*\r\nHOST:\tfoo.test\r\n\r\n", CLI,
	     HTTP, TCPOTEL_HTTP_GET, "foo.test", 0);
	text("Host stops at the first non-hostname byte", "GET / HTTP/1.1\r\nHost: evil<script>.test\r\n\r\n", CLI, HTTP,
	     TCPOTEL_HTTP_GET, "evil", 0);
	text("X-Host is not Host", "GET / HTTP/1.1\r\nX-Host: no.test\r\n\r\n", CLI, HTTP, TCPOTEL_HTTP_GET, "", 0);
	text("absolute-form target (proxy)", "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n", CLI, HTTP, TCPOTEL_HTTP_GET,
	     "a.test", 0);
	text("HTTP/1.0 response", "HTTP/1.0 404 Not Found\r\n\r\n", SRV, HTTP, 0, "", SERVER);
	text("HTTP/2.0 line is not HTTP/1", "GET / HTTP/2.0\r\n\r\n", CLI, UNK, 0, "", 0);
	text("PROPFIND without HTTP/1 line end", "PROPFIND /d", CLI, UNK, 0, "", 0);
	{
		char b[400];

		snprintf(b, sizeof(b), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n",
			 "a123456789b123456789c123456789d123456789e123456789f123456789g123.test");
		text("Host of 68 bytes: cut to 64", b, CLI, HTTP, TCPOTEL_HTTP_GET,
		     "a123456789b123456789c123456789d123456789e123456789f123456789g123", CUT);
		snprintf(b, sizeof(b), "GET / HTTP/1.1\r\nHost: %s:8080\r\n\r\n",
			 "a123456789b123456789c123456789d123456789e123456789f1234567.test");
		text("Host of exactly 64 bytes", b, CLI, HTTP, TCPOTEL_HTTP_GET,
		     "a123456789b123456789c123456789d123456789e123456789f1234567.test", 0);
	}
}

static void bad_input(void)
{
	__u8 *ch, *b = malloc(1 << 17);
	__u32 chlen, i, n;
	char name[80];

	/* nothing, 1-byte writes, short starts */
	expect("no payload", (const __u8 *)"", 0, 0, CLI, TCPOTEL_PROTO_NONE, 0, 0, "", 0);
	expect("payload_len past the packet (caller bug)", (const __u8 *)"GET ", 4, 100, CLI, TCPOTEL_PROTO_NONE, 0, 0, "", 0);
	text("1 byte: G", "G", CLI, UNK, 0, "", PARTIAL);
	text("1 byte: P", "P", CLI, UNK, 0, "", PARTIAL);
	text("1 byte: S", "S", CLI, UNK, 0, "", PARTIAL);
	text("1 byte: *", "*", CLI, UNK, 0, "", PARTIAL);
	expect("1 byte: 0x16", (const __u8 *)"\x16", 1, 1, CLI, UNK, 0, 0, "", PARTIAL);
	expect("1 byte: 0x10", (const __u8 *)"\x10", 1, 1, CLI, UNK, 0, 0, "", PARTIAL);
	expect("1 byte: 0x00", (const __u8 *)"", 1, 1, CLI, UNK, 0, 0, "", PARTIAL);
	text("GET / HT (8 bytes): a method and a target", "GET / HT", CLI, HTTP, TCPOTEL_HTTP_GET, "", PARTIAL);
	text("GE", "GE", CLI, UNK, 0, "", PARTIAL);
	text("PRI * HTTP/2.0\\r\\n (16 of the 24 preface bytes)", "PRI * HTTP/2.0\r\n", CLI, TCPOTEL_PROTO_HTTP2, 0, "", PARTIAL);

	/* garbage */
	text("plain text", "hello world, this is not a protocol\n", CLI, UNK, 0, "", 0);
	text("capitalised text", "Hello there, nothing to see\r\n", CLI, UNK, 0, "", 0);
	for (i = 0; i < 300; i++)
		b[i] = rnd();
	b[0] = 0xc3;
	expect("300 random bytes", b, 300, 300, CLI, UNK, 0, 0, "", 0);
	expect("300 random bytes, hint either", b, 300, 300, ANY, UNK, 0, 0, "", 0);
	expect("TLS application data record", (const __u8 *)"\x17\x03\x03\x00\x20xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 37, 37, ANY,
	       UNK, 0, 0, "", 0);
	expect("TLS record version 3.5", (const __u8 *)"\x16\x03\x05\x00\x20\x01xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 37, 37, ANY,
	       UNK, 0, 0, "", 0);

	/* TLS: truncated and split ClientHellos (Node's: SNI at bytes 200..224 of 373) */
	ch = load_hex("tls-node-clienthello", &chlen);
	if (ch) {
		expect("ClientHello, 3 bytes", ch, 3, 3, CLI, UNK, 0, 0, "", PARTIAL);
		expect("ClientHello, 5 bytes (record header)", ch, 5, 5, CLI, TLS, 0, 0x0301, "", PARTIAL);
		expect("ClientHello, 40 bytes", ch, 40, 40, CLI, TLS, 0, 0x0303, "", PARTIAL);
		expect("ClientHello split at 100 (first segment only)", ch, 100, 100, CLI, TLS, 0, 0x0303, "", PARTIAL);
		expect("ClientHello split inside the SNI (215)", ch, 215, 215, CLI, TLS, 0, 0x0303, "", PARTIAL);
		expect("ClientHello split right after the SNI (224)", ch, 224, 224, CLI, TLS, 0, 0x0303, "db.example.test", PARTIAL);
		expect("ClientHello less its last byte", ch, chlen - 1, chlen - 1, CLI, TLS, 0, 0x0303, "db.example.test", PARTIAL);
		/* lying lengths: cipher suites past the record; first extension's length huge */
		memcpy(b, ch, chlen);
		b[0x4c] = 0xff;
		b[0x4d] = 0xf0;
		expect("ClientHello with cipher_suites length 0xfff0", b, chlen, chlen, CLI, TLS, 0, 0x0303, "", 0);
		memcpy(b, ch, chlen);
		b[0xcf] = 0xff;
		expect("SNI name length 0xff0f, past the extensions", b, chlen, chlen, CLI, TLS, 0, 0x0303, "", 0);
		memcpy(b, ch, chlen);
		b[0xc6] = 0;
		b[0xc7] = 0x10;
		expect("extensions length ending inside the SNI", b, chlen, chlen, CLI, TLS, 0, 0x0303, "", 0);
		memcpy(b, ch, chlen);
		b[0x2b] = 33;
		expect("ClientHello with a 33-byte session id", b, chlen, chlen, CLI, TLS, 0, 0x0303, "", 0);
		memcpy(b, ch, chlen);
		b[0xce] = 1;
		expect("server_name of another name type", b, chlen, chlen, CLI, TLS, 0, 0x0303, "", 0);
		memcpy(b, ch, chlen);
		b[0xd1 + 2] = 0x07;
		expect("SNI with a control byte: name stops there", b, chlen, chlen, CLI, TLS, 0, 0x0303, "db", 0);
		memcpy(b, ch, chlen);
		b[10] = 0x01;
		expect("a TLS 1.0 client's hello (version 3.1)", b, chlen, chlen, CLI, TLS, 0, 0x0301, "db.example.test", 0);
		/* a 64 KiB first write: a ClientHello and the application data behind it */
		memcpy(b, ch, chlen);
		for (i = chlen; i < 65536; i++)
			b[i] = rnd();
		expect("64 KiB write starting with a ClientHello", b, 65536, 65536, CLI, TLS, 0, 0x0303, "db.example.test", 0);
		free(ch);
	}

	/* TLS built by spec */
	n = client_hello(b, 1 << 17, 0x0303, 32, "db.example.test", 0);
	expect("built ClientHello, record 3.3", b, n, n, CLI, TLS, 0, 0x0303, "db.example.test", 0);
	n = client_hello(b, 1 << 17, 0x0300, 0, "DB.Example.Test", 0);
	expect("built ClientHello, record 3.0, no session id, upper case SNI", b, n, n, CLI, TLS, 0, 0x0303,
	       "db.example.test", 0);
	n = client_hello(b, 1 << 17, 0x0304, 0, "db.example.test", 0);
	expect("built ClientHello, record 3.4", b, n, n, CLI, TLS, 0, 0x0303, "db.example.test", 0);
	n = client_hello(b, 1 << 17, 0x0301, 32, NULL, 3);
	expect("built ClientHello without SNI", b, n, n, CLI, TLS, 0, 0x0303, "", 0);
	n = client_hello(b, 1 << 17, 0x0301, 32, "db.example.test", TCPOTEL_TLS_MAX_EXT - 1);
	snprintf(name, sizeof(name), "SNI after %d other extensions", TCPOTEL_TLS_MAX_EXT - 1);
	expect(name, b, n, n, CLI, TLS, 0, 0x0303, "db.example.test", 0);
	n = client_hello(b, 1 << 17, 0x0301, 32, "db.example.test", TCPOTEL_TLS_MAX_EXT);
	snprintf(name, sizeof(name), "SNI after %d other extensions (past the bound)", TCPOTEL_TLS_MAX_EXT);
	expect(name, b, n, n, CLI, TLS, 0, 0x0303, "", 0);
	n = client_hello(b, 1 << 17, 0x0301, 32,
			 "a123456789b123456789c123456789d123456789e123456789f123456789g123456789h123456789.example.test", 0);
	expect("SNI of 93 bytes: cut to 64", b, n, n, CLI, TLS, 0, 0x0303,
	       "a123456789b123456789c123456789d123456789e123456789f123456789g123", CUT);
	n = client_hello(b, 1 << 17, 0x0301, 32, "a123456789b123456789c123456789d123456789e123456789f12345678.test", 0);
	expect("SNI of exactly 64 bytes", b, n, n, CLI, TLS, 0, 0x0303,
	       "a123456789b123456789c123456789d123456789e123456789f12345678.test", 0);
	n = client_hello(b, 1 << 17, 0x0301, 32, "x", 0);
	expect("SNI of 1 byte", b, n, n, CLI, TLS, 0, 0x0303, "x", 0);

	/* 64 KiB first writes */
	for (i = 0; i < 65536; i++)
		b[i] = rnd();
	b[0] = 0x9c;
	expect("64 KiB of random bytes", b, 65536, 65536, CLI, UNK, 0, 0, "", 0);
	memset(b, 0, 65536);
	expect("64 KiB of zeros", b, 65536, 65536, ANY, UNK, 0, 0, "", 0);
	memset(b, 'A', 65536);
	expect("64 KiB of 'A'", b, 65536, 65536, ANY, UNK, 0, 0, "", 0);
	n = snprintf((char *)b, 200, "POST /upload HTTP/1.1\r\nHost: up.example.test\r\nContent-Length: 65000\r\n\r\n");
	memset(b + n, 'z', 65536 - n);
	expect("64 KiB POST", b, 65536, 65536, CLI, HTTP, TCPOTEL_HTTP_POST, 0, "up.example.test", 0);

	/* what lies past the 256 bytes peeked at */
	n = snprintf((char *)b, 400, "GET /%0300d HTTP/1.1\r\nHost: a.test\r\n\r\n", 0);
	expect("request line longer than the peek", b, n, n, CLI, HTTP, TCPOTEL_HTTP_GET, 0, "", PARTIAL);
	n = snprintf((char *)b, 400, "GET / HTTP/1.1\r\nX-Pad: %0240d\r\nHost: late.test\r\n\r\n", 0);
	expect("Host past the peek", b, n, n, CLI, HTTP, TCPOTEL_HTTP_GET, 0, "", PARTIAL);
	n = snprintf((char *)b, 400, "GET / HTTP/1.1\r\nX-Pad: %0219d\r\nHost: cut.by.the.peek.example.test\r\n\r\n", 0);
	expect("Host value running into the peek's end", b, n, n, CLI, HTTP, TCPOTEL_HTTP_GET, 0, "", PARTIAL);
	text("Host value running into the segment's end", "GET / HTTP/1.1\r\nHost: seg.example", CLI, HTTP, TCPOTEL_HTTP_GET,
	     "", PARTIAL);
	free(b);
}

/* Random and mutated inputs: only the invariants are checked, over many runs. */
static void fuzz(void)
{
	static const char *files[] = { "tls-node-clienthello", "tls-openssl-clienthello", "http-curl-get",
				       "grpc-js-stream", "mongodb-node-hello", "dns-dig-tcp", "mqtt-mosquitto-v5",
				       "kafka-kafkajs", "mysql-mysql2-greeting", "postgresql-psql-startup" };
	__u8 *b = malloc(4096);
	__u32 f, k, i, runs = 0, fails = 0;
	const char *first = NULL;
	char what[100];

	for (f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		__u32 len;
		__u8 *src = load_hex(files[f], &len);

		if (!src)
			continue;
		for (k = 0; k < 3000; k++) {
			struct tcpotel_proto_info a, c;
			struct pkt st;
			__u32 n = len, m = 1 + rnd() % 4;
			const char *bad;

			memcpy(b, src, len);
			for (i = 0; i < m; i++) {
				__u32 at = rnd() % len;

				switch (rnd() % 3) {
				case 0: b[at] = rnd(); break;          /* any byte */
				case 1: b[at] ^= 1 << (rnd() % 8); break; /* one bit */
				default: b[at] = (rnd() & 1) ? 0xff : 0; break; /* extreme lengths */
				}
			}
			if (rnd() % 4 == 0)
				n = rnd() % len;                       /* cut */
			int hint = (int)(rnd() % 3) - 1;

			classify(b, n, n, hint, &a, &st, 0xa5);
			classify(b, n, n, hint, &c, NULL, 0x5a);
			runs++;
			bad = invariants(&a, &st);
			if (!bad && memcmp(&a, &c, sizeof(a)))
				bad = "result depends on stale scratch bytes";
			if (bad) {
				fails++;
				if (!first) {
					snprintf(what, sizeof(what), "%s mutation %u: %s", files[f], k, bad);
					first = what;
				}
			}
		}
		free(src);
	}
	for (k = 0; k < 20000; k++) {
		struct tcpotel_proto_info a;
		struct pkt st;
		__u32 n = rnd() % 600;
		const char *bad;

		for (i = 0; i < n; i++)
			b[i] = rnd();
		if (n && k % 4 == 0)
			b[0] = "\x16*\x10GPHS"[k % 8];
		classify(b, n, n, TCPOTEL_FROM_EITHER, &a, &st, 0xa5);
		runs++;
		bad = invariants(&a, &st);
		if (bad) {
			fails++;
			if (!first) {
				snprintf(what, sizeof(what), "random input %u: %s", k, bad);
				first = what;
			}
		}
	}
	if (fails) {
		printf("not ok - fuzz: %u of %u runs broke an invariant; first: %s\n", fails, runs, first);
		failed++;
	} else {
		printf("ok - fuzz: %u mutated and random inputs, every invariant held\n", runs);
		passed++;
	}
	free(b);
}

static int json(int argc, char **argv)
{
	int i, k;

	for (i = 0; i < argc; i++) {
		char name[256];
		__u32 len;
		__u8 *b;
		struct tcpotel_proto_info o;

		snprintf(name, sizeof(name), "%s", argv[i]);
		if (strlen(name) > 4 && !strcmp(name + strlen(name) - 4, ".hex"))
			name[strlen(name) - 4] = 0;
		b = load_hex(name, &len);
		if (!b)
			return 1;
		classify(b, len, len, TCPOTEL_FROM_EITHER, &o, NULL, 0xa5);
		printf("{\"file\":\"%s\",\"proto\":%u,\"method\":%u,\"tls_version\":%u,\"flags\":%u,\"name\":\"", name, o.proto,
		       o.method, o.tls_version, o.flags);
		for (k = 0; k < o.name_len; k++)
			putchar(o.name[k]);    /* hostname bytes only: nothing to escape */
		printf("\",\"payload_len\":%u}\n", len);
		free(b);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 2 && !strcmp(argv[1], "--json")) {
		dir = argv[2];
		return json(argc - 3, argv + 3);
	}
	if (argc > 1)
		dir = argv[1];
	captures();
	by_spec();
	bad_input();
	fuzz();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
