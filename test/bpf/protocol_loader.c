// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Loads test/bpf/protocol_prog.bpf.o, attaches both programs to a cgroup v2 directory and
 * answers commands on stdin with JSON lines on stdout:
 *
 *   protocol_loader <prog.bpf.o> <cgroup dir> <port_min> <port_max>
 *     -> {"ready":true,"verified_insns":{"egress":N,"ingress":M},"bpf_stats":true|false}
 *   dump                  -> one {"result":...} per map entry, then {"stats":...} and {"end":true}
 *   testrun <hex> <n>     -> runs the egress program n times (BPF_PROG_TEST_RUN) on an
 *                            Ethernet+IPv4+TCP packet (ports 40000 -> port_min) carrying
 *                            the payload <hex>: {"testrun":{"retval":..,"ns":..,"base_ns":..,
 *                            "result":...}}, base_ns: the same program without classifying
 *   (end of input)        -> detaches and exits
 *
 * Run-time statistics (run_cnt, run_time_ns) are on while it runs: bpf_enable_stats(), the
 * file-descriptor form of kernel.bpf_stats_enabled=1, which turns itself off at exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define TCPOTEL_PROTOCOL_TYPES_ONLY
#include "protocol.h"

struct proto_cfg {
	__u16 port_min, port_max;
	__u32 always;
	__s32 hint;
};
struct proto_key {
	__u8 family, egress;
	__u16 sport, dport, pad;
};
struct proto_val {
	struct tcpotel_proto_info info;
	__u32 payload_len, payload_off;
};

static void print_info(const struct proto_val *v)
{
	int i;

	printf("{\"proto\":%u,\"method\":%u,\"tls_version\":%u,\"flags\":%u,\"name\":\"", v->info.proto, v->info.method,
	       v->info.tls_version, v->info.flags);
	/* The name holds hostname characters only; escape anything else all the same. */
	for (i = 0; i < v->info.name_len && i < TCPOTEL_NAME_LEN; i++) {
		unsigned char c = v->info.name[i];

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			putchar(c);
		else
			printf("\\u%04x", c);
	}
	printf("\",\"payload_len\":%u,\"payload_off\":%u}", v->payload_len, v->payload_off);
}

static void prog_stats(const char *label, struct bpf_program *p, int last)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len))
		memset(&info, 0, sizeof(info));
	printf("\"%s\":{\"run_cnt\":%llu,\"run_time_ns\":%llu,\"verified_insns\":%u,\"xlated_bytes\":%u,\"jited_bytes\":%u}%s",
	       label, (unsigned long long)info.run_cnt, (unsigned long long)info.run_time_ns, info.verified_insns,
	       info.xlated_prog_len, info.jited_prog_len, last ? "" : ",");
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *eg, *in;
	struct bpf_link *l1, *l2;
	int cg, cfg_fd, res_fd, stats_fd;
	struct proto_cfg cfg = { 0 };
	__u32 zero = 0;
	static char line[1 << 20];

	if (argc != 5) {
		fprintf(stderr, "usage: %s <prog.bpf.o> <cgroup dir> <port_min> <port_max>\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		fprintf(stderr, "open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	eg = bpf_object__find_program_by_name(obj, "protocol_egress");
	in = bpf_object__find_program_by_name(obj, "protocol_ingress");
	if (!eg || !in || bpf_object__load(obj)) {
		fprintf(stderr, "load %s failed (the verifier's log is above)\n", argv[1]);
		return 1;
	}
	cfg_fd = bpf_object__find_map_fd_by_name(obj, "proto_config");
	res_fd = bpf_object__find_map_fd_by_name(obj, "proto_results");
	cfg.port_min = atoi(argv[3]);
	cfg.port_max = atoi(argv[4]);
	cfg.hint = TCPOTEL_FROM_EITHER;
	if (bpf_map_update_elem(cfg_fd, &zero, &cfg, BPF_ANY)) {
		fprintf(stderr, "config: %s\n", strerror(errno));
		return 1;
	}
	cg = open(argv[2], O_RDONLY | O_DIRECTORY);
	if (cg < 0) {
		fprintf(stderr, "open %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	l1 = bpf_program__attach_cgroup(eg, cg);
	l2 = bpf_program__attach_cgroup(in, cg);
	if (!l1 || !l2) {
		fprintf(stderr, "attach to %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	printf("{\"ready\":true,\"bpf_stats\":%s,", stats_fd >= 0 ? "true" : "false");
	prog_stats("egress", eg, 0);
	prog_stats("ingress", in, 1);
	printf("}\n");

	while (fgets(line, sizeof(line), stdin)) {
		if (!strncmp(line, "dump", 4)) {
			struct proto_key k, next, *prev = NULL;
			struct proto_val v;

			while (!bpf_map_get_next_key(res_fd, prev, &next)) {
				k = next;
				prev = &k;
				if (bpf_map_lookup_elem(res_fd, &k, &v))
					continue;
				printf("{\"result\":{\"family\":%u,\"egress\":%u,\"sport\":%u,\"dport\":%u,\"info\":", k.family,
				       k.egress, k.sport, k.dport);
				print_info(&v);
				printf("}}\n");
			}
			printf("{\"stats\":{");
			prog_stats("egress", eg, 0);
			prog_stats("ingress", in, 1);
			printf("}}\n{\"end\":true}\n");
		} else if (!strncmp(line, "testrun ", 8)) {
			/* Ethernet + IPv4 + TCP (ACK|PSH) + payload */
			static unsigned char pkt[14 + 20 + 20 + 65536];
			char *hex = line + 8, *sp = strchr(hex, ' ');
			unsigned repeat = sp ? atoi(sp + 1) : 1, plen = 0, tot, base_ns;
			struct proto_key k = { .family = 4, .egress = 1, .sport = 40000, .dport = cfg.port_min };
			struct proto_val v;
			int err;
			LIBBPF_OPTS(bpf_test_run_opts, opts);

			if (sp)
				*sp = 0;
			while (hexval(hex[2 * plen]) >= 0 && hexval(hex[2 * plen + 1]) >= 0 && plen < 65536) {
				pkt[54 + plen] = hexval(hex[2 * plen]) << 4 | hexval(hex[2 * plen + 1]);
				plen++;
			}
			tot = 20 + 20 + plen;
			memset(pkt, 0, 54);
			pkt[12] = 0x08;                             /* ETH_P_IP */
			pkt[14] = 0x45;
			pkt[16] = tot >> 8;
			pkt[17] = tot & 0xff;
			pkt[22] = 64;
			pkt[23] = 6;                                /* TCP */
			pkt[26] = 127, pkt[29] = 1, pkt[30] = 127, pkt[33] = 1;
			pkt[34] = k.sport >> 8, pkt[35] = k.sport & 0xff;
			pkt[36] = k.dport >> 8, pkt[37] = k.dport & 0xff;
			pkt[46] = 5 << 4;                           /* data offset: 20 bytes */
			pkt[47] = 0x18;                             /* ACK|PSH */
			opts.data_in = pkt;
			opts.data_size_in = 54 + plen;
			opts.repeat = repeat;
			cfg.always = 2;
			bpf_map_update_elem(cfg_fd, &zero, &cfg, BPF_ANY);
			err = bpf_prog_test_run_opts(bpf_program__fd(eg), &opts);
			base_ns = opts.duration;
			cfg.always = 1;
			bpf_map_update_elem(cfg_fd, &zero, &cfg, BPF_ANY);
			err = err ? err : bpf_prog_test_run_opts(bpf_program__fd(eg), &opts);
			cfg.always = 0;
			bpf_map_update_elem(cfg_fd, &zero, &cfg, BPF_ANY);
			if (err) {
				printf("{\"testrun\":{\"error\":\"%s\"}}\n", strerror(errno));
				continue;
			}
			printf("{\"testrun\":{\"retval\":%u,\"ns\":%u,\"base_ns\":%u,\"result\":", opts.retval, opts.duration,
			       base_ns);
			if (bpf_map_lookup_elem(res_fd, &k, &v))
				printf("null");
			else
				print_info(&v);
			bpf_map_delete_elem(res_fd, &k);
			printf("}}\n");
		}
	}
	bpf_link__destroy(l1);
	bpf_link__destroy(l2);
	bpf_object__close(obj);
	if (stats_fd >= 0)
		close(stats_fd);
	return 0;
}
