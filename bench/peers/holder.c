/*
 * holder: opens N loopback TCP connections and holds them open, for the memory benchmark
 * (bench/README.md). Both ends live in this process: N client sockets plus N accepted
 * ones, i.e. 2N sockets the kernel (and tcpotel) track.
 *
 *   holder --connections N [--listeners L] [--addr 127.0.0.1] [--send BYTES]
 *
 * L listeners on ephemeral ports of --addr spread the clients over L destinations, so
 * that the ~28k ephemeral source ports (per destination) do not run out. Each client
 * sends --send bytes after connecting (so that samples have counters to report).
 * Prints one JSON line when all are established, then holds them until SIGINT/SIGTERM
 * or EOF on stdin, closes everything and prints a final JSON line.
 * RLIMIT_NOFILE is raised to what is needed (as root, up to fs.nr_open).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_LISTENERS 64

static int lfd[MAX_LISTENERS];
static long nl = 8, accepted = 0;
static int *afd;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "holder: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Accepts whatever is queued. connect() blocks only for the handshake on loopback, and
 * draining every 512 connects keeps every accept queue below its backlog. */
static void drain(void)
{
	for (long i = 0; i < nl; i++) {
		for (;;) {
			int fd = accept4(lfd[i], NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (fd < 0) {
				if (errno == EINTR)
					continue;
				if (errno != EAGAIN && errno != EWOULDBLOCK)
					die("accept4");
				break;
			}
			afd[accepted++] = fd;
		}
	}
}

int main(int argc, char **argv)
{
	long n = 50000, send_bytes = 1000;
	const char *addr = "127.0.0.1";
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--connections") && i + 1 < argc)
			n = atol(argv[++i]);
		else if (!strcmp(argv[i], "--listeners") && i + 1 < argc)
			nl = atol(argv[++i]);
		else if (!strcmp(argv[i], "--addr") && i + 1 < argc)
			addr = argv[++i];
		else if (!strcmp(argv[i], "--send") && i + 1 < argc)
			send_bytes = atol(argv[++i]);
		else {
			fprintf(stderr, "usage: holder --connections N [--listeners L] [--addr A] [--send B]\n");
			return 2;
		}
	}
	if (n < 1 || nl < 1 || nl > MAX_LISTENERS || send_bytes < 0 || send_bytes > 65536) {
		fprintf(stderr, "holder: bad arguments\n");
		return 2;
	}

	/* Raise RLIMIT_NOFILE: the hard limit too when allowed (CAP_SYS_RESOURCE), else up to
	 * the hard limit; the caller runs several holders when one cannot hold them all. */
	rlim_t need = (rlim_t)(2 * n + nl + 64);
	struct rlimit rl = { .rlim_cur = need, .rlim_max = need };
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
			die("getrlimit");
		if (rl.rlim_max < need) {
			fprintf(stderr, "holder: %ld connections need %lu descriptors, the hard limit is %lu "
					"(and it cannot be raised here): run several holders\n",
				n, (unsigned long)need, (unsigned long)rl.rlim_max);
			return 3;
		}
		rl.rlim_cur = need;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			die("setrlimit(RLIMIT_NOFILE)");
	}
	signal(SIGPIPE, SIG_IGN);

	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	int sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (sfd < 0)
		die("signalfd");

	struct sockaddr_in la[MAX_LISTENERS];
	for (long i = 0; i < nl; i++) {
		lfd[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (lfd[i] < 0)
			die("socket");
		memset(&la[i], 0, sizeof(la[i]));
		la[i].sin_family = AF_INET;
		if (inet_pton(AF_INET, addr, &la[i].sin_addr) != 1) {
			fprintf(stderr, "holder: --addr %s is not an IPv4 address\n", addr);
			return 2;
		}
		socklen_t len = sizeof(la[i]);
		if (bind(lfd[i], (struct sockaddr *)&la[i], len) < 0)
			die("bind");
		if (listen(lfd[i], 65535) < 0)
			die("listen");
		if (getsockname(lfd[i], (struct sockaddr *)&la[i], &len) < 0)
			die("getsockname");
	}

	int *cfd = calloc((size_t)n, sizeof(int));
	afd = calloc((size_t)n, sizeof(int));
	if (!cfd || !afd)
		die("calloc");
	char payload[65536];
	memset(payload, 'x', sizeof(payload));

	double t0 = now_s();
	long failed = 0;
	for (long i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			die("socket (client)");
		struct sockaddr_in *dst = &la[i % nl];
		if (connect(fd, (struct sockaddr *)dst, sizeof(*dst)) < 0) {
			failed++;
			if (failed == 1)
				fprintf(stderr, "holder: connect #%ld: %s\n", i, strerror(errno));
			close(fd);
			cfd[i] = -1;
		} else {
			cfd[i] = fd;
			if (send_bytes > 0)
				(void)!send(fd, payload, (size_t)send_bytes, MSG_NOSIGNAL | MSG_DONTWAIT);
		}
		if ((i & 511) == 511)
			drain();
	}
	/* The last handshakes may still be queued. */
	for (int tries = 0; accepted < n - failed && tries < 2000; tries++) {
		drain();
		if (accepted < n - failed)
			usleep(1000);
	}
	/* Read what the clients sent, so the accepted ends have received bytes too. */
	char buf[65536];
	for (long i = 0; i < accepted; i++)
		while (recv(afd[i], buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
	double t1 = now_s();
	printf("{\"ready\":true,\"connections\":%ld,\"accepted\":%ld,\"failed\":%ld,\"sockets\":%ld,\"open_s\":%.3f,\"pid\":%d}\n",
	       n - failed, accepted, failed, n - failed + accepted, t1 - t0, (int)getpid());
	fflush(stdout);

	struct pollfd p[2] = { { .fd = sfd, .events = POLLIN }, { .fd = 0, .events = POLLIN } };
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (p[0].revents)
			break;
		if (p[1].revents) {
			char c[256];
			ssize_t r = read(0, c, sizeof(c));
			if (r <= 0)
				break;
		}
	}
	double t2 = now_s();
	for (long i = 0; i < n; i++)
		if (cfd[i] >= 0)
			close(cfd[i]);
	for (long i = 0; i < accepted; i++)
		close(afd[i]);
	printf("{\"closed\":true,\"held_s\":%.3f}\n", t2 - t1);
	fflush(stdout);
	return 0;
}
