// SPDX-License-Identifier: MIT
/*
 * tcppeer: a deterministic TCP traffic peer for tcpotel's acceptance tests
 * and benchmarks.  One self-contained program, several sub-commands:
 *
 *   server  accept connections; per connection read K bytes, write M bytes,
 *           then wait for the client's EOF (or RST-close with --rst)
 *   client  N connections: connect, write K bytes, read M bytes, close
 *   hold    one long-lived connection that writes B bytes every MS ms
 *   sink    a server for `hold`: accept anything, read and discard
 *   load    benchmark load generator: connect/close as fast as possible
 *           (or at a fixed rate), against its own in-process server
 *
 * Byte counts are exact: every peer reads exactly what the other one writes
 * before closing, so no close() ever happens with unread data in the receive
 * queue (which would turn a FIN into an RST and make counts racy).
 *
 * Build: cc -O2 -Wall -o bpf/.output/tcppeer test/peers/tcppeer.c -lpthread
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Common helpers                                                           */
/* ------------------------------------------------------------------------ */

#define EXIT_USAGE 2
#define IO_CHUNK 65536

/* Pseudo error codes (beyond any real errno) for the JSON error map. */
#define ERR_EOF 4096 /* peer closed before the expected bytes arrived */
#define ERR_SLOTS 256 /* errno values are < 256 on Linux; index 0 = EOF */

static const char *prog = "tcppeer";
static const char *mode = "";

/* Data we send.  Content is irrelevant, only the byte count matters. */
static char payload[IO_CHUNK];

static void usage(FILE *f)
{
	fprintf(f,
		"usage:\n"
		"  %s server --addr A --port P [--expect K] [--reply M] [--name NAME] [--rst]\n"
		"                 [--count N] [--threads T]\n"
		"  %s client --addr A --port P --count N [--send K] [--expect M] [--name NAME] [--rst]\n"
		"                 [--concurrency C] [--bind-port BP] [--timeout-ms MS]\n"
		"  %s hold   --addr A --port P [--send-every MS] [--chunk B] [--name NAME]\n"
		"                 [--duration-ms D]\n"
		"  %s sink   --addr A --port P [--name NAME]\n"
		"  %s load   --addr A --port P --duration-ms D [--rate R] [--workers W] [--name NAME]\n"
		"                 [--rst] [--http] [--serve]\n"
		"A is a numeric IPv4 or IPv6 address; P may be 0 (ephemeral) for server, sink\n"
		"and load (load then runs its own in-process server; --serve: on port P).\n",
		prog, prog, prog, prog, prog);
}

static void __attribute__((noreturn, format(printf, 1, 2))) usage_error(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s %s: ", prog, mode);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage(stderr);
	exit(EXIT_USAGE);
}

static void __attribute__((noreturn, format(printf, 1, 2))) fatal(const char *fmt, ...)
{
	va_list ap;
	int e = errno;
	fprintf(stderr, "%s %s: ", prog, mode);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(e));
	exit(1);
}

/* Symbolic name of an error code as used in the JSON output. */
static const char *err_name(int e)
{
	if (e == ERR_EOF)
		return "EOF";
	const char *n = strerrorname_np(e);
	return n ? n : "EUNKNOWN";
}

static const char *err_text(int e)
{
	return e == ERR_EOF ? "unexpected EOF from peer" : strerror(e);
}

static unsigned long long parse_num(const char *opt, const char *s,
				    unsigned long long min, unsigned long long max)
{
	char *end;
	errno = 0;
	if (!s || !*s || *s == '-')
		usage_error("--%s: expected a non-negative integer, got '%s'", opt, s ? s : "");
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		usage_error("--%s: expected a non-negative integer, got '%s'", opt, s);
	if (v < min || v > max)
		usage_error("--%s: %llu out of range [%llu, %llu]", opt, v, min, max);
	return v;
}

/* Resolve a numeric address + port (never touches DNS). */
static void resolve(const char *addr, unsigned port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
	};
	struct addrinfo *res;
	char portstr[8];
	snprintf(portstr, sizeof(portstr), "%u", port);
	int rc = getaddrinfo(addr, portstr, &hints, &res);
	if (rc)
		usage_error("--addr '%s': %s", addr, gai_strerror(rc));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
}

static unsigned sock_port(int fd, bool peer)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if ((peer ? getpeername : getsockname)(fd, (struct sockaddr *)&ss, &len) < 0)
		return 0;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void set_name(const char *name)
{
	/* The kernel truncates to 15 chars; threads created later inherit it. */
	if (prctl(PR_SET_NAME, name, 0, 0, 0) < 0)
		fatal("prctl(PR_SET_NAME)");
}

static int listen_on(const struct sockaddr_storage *ss, socklen_t len, int backlog)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fatal("socket");
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		fatal("setsockopt(SO_REUSEADDR)");
	if (bind(fd, (const struct sockaddr *)ss, len) < 0)
		fatal("bind");
	if (listen(fd, backlog) < 0)
		fatal("listen");
	return fd;
}

/* Print `ready <port>` once listening; tests wait for this line. */
static void announce_ready(int lfd)
{
	printf("ready %u\n", sock_port(lfd, false));
	fflush(stdout);
}

/* SO_LINGER {1,0}: the following close() sends an RST instead of a FIN. */
static void set_linger0(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0)
		fprintf(stderr, "%s %s: setsockopt(SO_LINGER): %s\n", prog, mode, strerror(errno));
}

/* Timed-out blocking socket calls (SO_RCVTIMEO/SO_SNDTIMEO) report EAGAIN,
 * or EINPROGRESS for connect; report them as what they are. */
static int norm_errno(int e)
{
	return (e == EAGAIN || e == EWOULDBLOCK || e == EINPROGRESS) ? ETIMEDOUT : e;
}

/* Write exactly n bytes (blocking socket).  Returns 0 or an error code. */
static int write_all(int fd, unsigned long long n)
{
	while (n > 0) {
		size_t len = n < IO_CHUNK ? (size_t)n : IO_CHUNK;
		ssize_t w = send(fd, payload, len, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return norm_errno(errno);
		}
		n -= (unsigned long long)w;
	}
	return 0;
}

/* Read exactly n bytes (never more, so nothing of a later phase is eaten). */
static int read_exact(int fd, unsigned long long n)
{
	char buf[IO_CHUNK];
	while (n > 0) {
		size_t len = n < sizeof(buf) ? (size_t)n : sizeof(buf);
		ssize_t r = recv(fd, buf, len, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return norm_errno(errno);
		}
		if (r == 0)
			return ERR_EOF;
		n -= (unsigned long long)r;
	}
	return 0;
}

/* Read and discard until EOF.  Returns 0 on EOF or an error code. */
static int drain_to_eof(int fd)
{
	char buf[IO_CHUNK];
	for (;;) {
		ssize_t r = recv(fd, buf, sizeof(buf), 0);
		if (r == 0)
			return 0;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return norm_errno(errno);
		}
	}
}

/* Blocking connect that survives EINTR (the connect then continues
 * asynchronously, so wait for it instead of reissuing it). */
static int connect_fd(int fd, const struct sockaddr_storage *ss, socklen_t len)
{
	if (connect(fd, (const struct sockaddr *)ss, len) == 0)
		return 0;
	if (errno != EINTR)
		return norm_errno(errno);
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	while (poll(&p, 1, -1) < 0)
		if (errno != EINTR)
			return errno;
	int err = 0;
	socklen_t elen = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		return errno;
	return err;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_until_ns(uint64_t t)
{
	struct timespec ts = { .tv_sec = (time_t)(t / 1000000000ull),
			       .tv_nsec = (long)(t % 1000000000ull) };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* Option table helper: every option takes an argument except the flags. */
#define OPT(n, id) { n, required_argument, NULL, id }
#define FLAG(n, id) { n, no_argument, NULL, id }
enum {
	O_ADDR = 256, O_PORT, O_EXPECT, O_REPLY, O_SEND, O_NAME, O_RST, O_COUNT,
	O_THREADS, O_CONC, O_BINDPORT, O_TIMEOUT, O_EVERY, O_CHUNK, O_DURATION,
	O_RATE, O_WORKERS, O_HELP, O_HTTP, O_SERVE,
};

/* Everything any sub-command accepts; each one only honours its own table. */
struct opts {
	const char *addr, *name;
	long port; /* -1 = not given */
	unsigned long long expect, reply, send, count, threads, conc, timeout_ms;
	unsigned long long every_ms, chunk, duration_ms, rate, workers;
	long bind_port; /* -1 = not given */
	bool rst, http, have_count, have_duration, serve;
};

static void parse_opts(int argc, char **argv, const struct option *table, struct opts *o)
{
	int c;
	optind = 1;
	opterr = 1; /* getopt reports unknown options itself; we add the usage */
	while ((c = getopt_long(argc, argv, "h", table, NULL)) != -1) {
		const char *a = optarg;
		const char *n = "";
		for (const struct option *t = table; t->name; t++)
			if (t->val == c)
				n = t->name;
		switch (c) {
		case O_ADDR: o->addr = a; break;
		case O_PORT: o->port = (long)parse_num(n, a, 0, 65535); break;
		case O_EXPECT: o->expect = parse_num(n, a, 0, ULLONG_MAX); break;
		case O_REPLY: o->reply = parse_num(n, a, 0, ULLONG_MAX); break;
		case O_SEND: o->send = parse_num(n, a, 0, ULLONG_MAX); break;
		case O_NAME:
			if (!*a)
				usage_error("--name must not be empty");
			o->name = a;
			break;
		case O_RST: o->rst = true; break;
		case O_HTTP: o->http = true; break;
		case O_SERVE: o->serve = true; break;
		case O_COUNT: o->count = parse_num(n, a, 1, ULLONG_MAX / 2); o->have_count = true; break;
		case O_THREADS: o->threads = parse_num(n, a, 1, 1024); break;
		case O_CONC: o->conc = parse_num(n, a, 1, 1024); break;
		case O_BINDPORT: o->bind_port = (long)parse_num(n, a, 1, 65535); break;
		case O_TIMEOUT: o->timeout_ms = parse_num(n, a, 0, 86400000); break;
		case O_EVERY: o->every_ms = parse_num(n, a, 1, 86400000); break;
		case O_CHUNK: o->chunk = parse_num(n, a, 0, 1ull << 30); break;
		case O_DURATION:
			o->duration_ms = parse_num(n, a, 0, 86400000ull * 365);
			o->have_duration = true;
			break;
		case O_RATE: o->rate = parse_num(n, a, 0, 100000000); break;
		case O_WORKERS: o->workers = parse_num(n, a, 1, 1024); break;
		case 'h':
		case O_HELP: usage(stdout); exit(0);
		default: usage(stderr); exit(EXIT_USAGE);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (!o->addr)
		usage_error("--addr is required");
	if (o->port < 0)
		usage_error("--port is required");
}

/* Threads block all the signals we care about; the main thread (or a
 * signalfd) consumes them synchronously, so no async handler ever runs. */
static sigset_t term_signals(void)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGTERM);
	sigaddset(&s, SIGINT);
	sigaddset(&s, SIGHUP);
	sigaddset(&s, SIGUSR1); /* internal: "work finished" */
	return s;
}

static pthread_t spawn(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	int rc = pthread_create(&t, NULL, fn, arg);
	if (rc) {
		errno = rc;
		fatal("pthread_create");
	}
	return t;
}

/* accept4 that retries on transient failures.  Returns -1 only if the
 * listener itself is gone. */
static int accept_retry(int lfd, int flags)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | flags);
		if (fd >= 0)
			return fd;
		switch (errno) {
		case EINTR:
		case ECONNABORTED:
		case EPROTO:
		case EPERM: /* firewall */
			continue;
		case EMFILE:
		case ENFILE:
		case ENOBUFS:
		case ENOMEM:
			fprintf(stderr, "%s %s: accept4: %s (retrying)\n", prog, mode, strerror(errno));
			usleep(10000);
			continue;
		default:
			return -1;
		}
	}
}

/* ------------------------------------------------------------------------ */
/* server                                                                   */
/* ------------------------------------------------------------------------ */

static struct {
	int lfd;
	unsigned long long expect, reply, count; /* count 0 = forever */
	unsigned threads;
	bool rst;
	pthread_t main_thread;
	atomic_ullong claimed, handled, errors, resets;
	atomic_uint finished;
} srv;

static void server_conn(int fd)
{
	int e;
	const char *what;
	if ((e = read_exact(fd, srv.expect))) {
		what = "reading request";
		goto fail;
	}
	if ((e = write_all(fd, srv.reply))) {
		what = "writing reply";
		goto fail;
	}
	if (srv.rst) {
		set_linger0(fd);
		close(fd);
		return;
	}
	e = drain_to_eof(fd);
	close(fd);
	/* A client that RST-closes (client --rst) is expected to make this
	 * final read fail; report it separately from real errors. */
	if (e == ECONNRESET)
		atomic_fetch_add(&srv.resets, 1);
	else if (e) {
		what = "waiting for EOF";
		atomic_fetch_add(&srv.errors, 1);
		fprintf(stderr, "%s server: %s: %s\n", prog, what, err_text(e));
	}
	return;
fail:
	fprintf(stderr, "%s server: client port %u: %s: %s\n", prog, sock_port(fd, true), what,
		err_text(e));
	atomic_fetch_add(&srv.errors, 1);
	close(fd);
}

static void *server_worker(void *arg)
{
	(void)arg;
	for (;;) {
		/* Claim a slot before accepting, so that with --count exactly N
		 * connections are accepted across all threads. */
		if (srv.count && atomic_fetch_add(&srv.claimed, 1) >= srv.count)
			break;
		int fd = accept_retry(srv.lfd, 0);
		if (fd < 0) {
			fprintf(stderr, "%s server: accept4: %s\n", prog, strerror(errno));
			exit(1);
		}
		server_conn(fd);
		atomic_fetch_add(&srv.handled, 1);
	}
	if (atomic_fetch_add(&srv.finished, 1) + 1 == srv.threads)
		pthread_kill(srv.main_thread, SIGUSR1);
	return NULL;
}

static int cmd_server(int argc, char **argv)
{
	static const struct option table[] = {
		OPT("addr", O_ADDR), OPT("port", O_PORT), OPT("expect", O_EXPECT),
		OPT("reply", O_REPLY), OPT("name", O_NAME), FLAG("rst", O_RST),
		OPT("count", O_COUNT), OPT("threads", O_THREADS), FLAG("help", O_HELP), { 0 }
	};
	struct opts o = { .port = -1, .bind_port = -1, .threads = 1, .name = "tp-server" };
	parse_opts(argc, argv, table, &o);

	struct sockaddr_storage ss;
	socklen_t len;
	resolve(o.addr, (unsigned)o.port, &ss, &len);
	set_name(o.name);
	srv.expect = o.expect;
	srv.reply = o.reply;
	srv.count = o.have_count ? o.count : 0;
	srv.threads = (unsigned)o.threads;
	srv.rst = o.rst;
	srv.main_thread = pthread_self();

	sigset_t sigs = term_signals();
	pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* inherited by the workers */
	srv.lfd = listen_on(&ss, len, 1024);
	announce_ready(srv.lfd);

	pthread_t tids[1024];
	for (unsigned i = 0; i < srv.threads; i++)
		tids[i] = spawn(server_worker, NULL);

	/* Wait until the workers are done (SIGUSR1 from the last one) or we
	 * are told to stop; either way report what was handled. */
	int sig = 0;
	while (sigwait(&sigs, &sig) != 0)
		;
	if (sig == SIGUSR1)
		for (unsigned i = 0; i < srv.threads; i++)
			pthread_join(tids[i], NULL);
	printf("{\"handled\":%llu,\"errors\":%llu,\"resets\":%llu,\"pid\":%d}\n",
	       (unsigned long long)atomic_load(&srv.handled),
	       (unsigned long long)atomic_load(&srv.errors),
	       (unsigned long long)atomic_load(&srv.resets), (int)getpid());
	fflush(stdout);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* client                                                                   */
/* ------------------------------------------------------------------------ */

static struct {
	struct sockaddr_storage ss;
	socklen_t len;
	int family;
	unsigned long long count, send, expect, timeout_ms;
	long bind_port;
	bool rst;
	atomic_ullong next, ok, failed;
	atomic_ullong err[ERR_SLOTS];
} cli;

static void client_count_error(int e, const char *what)
{
	int slot = e == ERR_EOF ? 0 : (e > 0 && e < ERR_SLOTS ? e : EIO);
	atomic_fetch_add(&cli.err[slot], 1);
	atomic_fetch_add(&cli.failed, 1);
	fprintf(stderr, "%s client: %s: %s\n", prog, what, err_text(e));
}

static void client_conn(void)
{
	int e;
	const char *what;
	int fd = socket(cli.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		client_count_error(errno, "socket");
		return;
	}
	if (cli.timeout_ms) {
		/* Bounds connect (SO_SNDTIMEO applies to it), writes and reads so
		 * a broken server makes a test fail instead of hang. */
		struct timeval tv = { .tv_sec = (time_t)(cli.timeout_ms / 1000),
				      .tv_usec = (suseconds_t)(cli.timeout_ms % 1000) * 1000 };
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	if (cli.bind_port >= 0) {
		/* SO_REUSEADDR lets a re-run bind a port still in TIME_WAIT. */
		int one = 1;
		struct sockaddr_storage b;
		memset(&b, 0, sizeof(b));
		b.ss_family = (sa_family_t)cli.family;
		if (cli.family == AF_INET6)
			((struct sockaddr_in6 *)&b)->sin6_port = htons((uint16_t)cli.bind_port);
		else
			((struct sockaddr_in *)&b)->sin_port = htons((uint16_t)cli.bind_port);
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&b,
			 cli.family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)) < 0) {
			e = errno;
			what = "bind";
			goto fail;
		}
	}
	if ((e = connect_fd(fd, &cli.ss, cli.len))) {
		what = "connect";
		goto fail;
	}
	if ((e = write_all(fd, cli.send))) {
		what = "write";
		goto fail;
	}
	if ((e = read_exact(fd, cli.expect))) {
		what = "read";
		goto fail;
	}
	if (cli.rst)
		set_linger0(fd);
	close(fd);
	atomic_fetch_add(&cli.ok, 1);
	return;
fail:
	client_count_error(e, what);
	close(fd);
}

static void *client_worker(void *arg)
{
	(void)arg;
	while (atomic_fetch_add(&cli.next, 1) < cli.count)
		client_conn();
	return NULL;
}

static int cmd_client(int argc, char **argv)
{
	static const struct option table[] = {
		OPT("addr", O_ADDR), OPT("port", O_PORT), OPT("count", O_COUNT),
		OPT("send", O_SEND), OPT("expect", O_EXPECT), OPT("name", O_NAME),
		FLAG("rst", O_RST), OPT("concurrency", O_CONC), OPT("bind-port", O_BINDPORT),
		OPT("timeout-ms", O_TIMEOUT), FLAG("help", O_HELP), { 0 }
	};
	struct opts o = { .port = -1, .bind_port = -1, .conc = 1, .timeout_ms = 10000,
			  .name = "tp-client" };
	parse_opts(argc, argv, table, &o);
	if (!o.have_count)
		usage_error("--count is required");
	if (o.port == 0)
		usage_error("--port must be 1..65535");

	resolve(o.addr, (unsigned)o.port, &cli.ss, &cli.len);
	cli.family = cli.ss.ss_family;
	cli.count = o.count;
	cli.send = o.send;
	cli.expect = o.expect;
	cli.timeout_ms = o.timeout_ms;
	cli.bind_port = o.bind_port;
	cli.rst = o.rst;
	set_name(o.name);

	unsigned conc = (unsigned)(o.conc < o.count ? o.conc : o.count);
	if (conc <= 1) {
		client_worker(NULL); /* main thread: tid == pid for sequential runs */
	} else {
		pthread_t tids[1024];
		for (unsigned i = 0; i < conc; i++)
			tids[i] = spawn(client_worker, NULL);
		for (unsigned i = 0; i < conc; i++)
			pthread_join(tids[i], NULL);
	}

	unsigned long long failed = atomic_load(&cli.failed);
	printf("{\"ok\":%llu,\"failed\":%llu,\"errors\":{", (unsigned long long)atomic_load(&cli.ok),
	       failed);
	const char *sep = "";
	for (int i = 0; i < ERR_SLOTS; i++) {
		unsigned long long n = atomic_load(&cli.err[i]);
		if (n) {
			printf("%s\"%s\":%llu", sep, err_name(i ? i : ERR_EOF), n);
			sep = ",";
		}
	}
	printf("},\"pid\":%d}\n", (int)getpid());
	fflush(stdout);
	return failed ? 1 : 0;
}

/* ------------------------------------------------------------------------ */
/* hold                                                                     */
/* ------------------------------------------------------------------------ */

static int cmd_hold(int argc, char **argv)
{
	static const struct option table[] = {
		OPT("addr", O_ADDR), OPT("port", O_PORT), OPT("send-every", O_EVERY),
		OPT("chunk", O_CHUNK), OPT("name", O_NAME), OPT("duration-ms", O_DURATION),
		FLAG("help", O_HELP), { 0 }
	};
	struct opts o = { .port = -1, .bind_port = -1, .every_ms = 100, .chunk = 1000,
			  .name = "tp-hold" };
	parse_opts(argc, argv, table, &o);
	if (o.port == 0)
		usage_error("--port must be 1..65535");

	struct sockaddr_storage ss;
	socklen_t len;
	resolve(o.addr, (unsigned)o.port, &ss, &len);
	set_name(o.name);

	/* Signals are consumed through a signalfd in the poll loop, so SIGTERM
	 * can never interrupt a half-done write. */
	sigset_t sigs = term_signals();
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	int sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		fatal("signalfd");

	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fatal("socket");
	int e = connect_fd(fd, &ss, len);
	if (e) {
		errno = e;
		fatal("connect");
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		fatal("fcntl(O_NONBLOCK)");
	printf("connected %u\n", sock_port(fd, false));
	fflush(stdout);

	const uint64_t period = o.every_ms * 1000000ull;
	const uint64_t start = now_ns();
	const uint64_t end = o.duration_ms ? start + o.duration_ms * 1000000ull : UINT64_MAX;
	uint64_t next_tick = start; /* first chunk goes out immediately */
	unsigned long long pending = 0, sent = 0;
	int rc = 0;
	char buf[IO_CHUNK];

	for (;;) {
		uint64_t now = now_ns();
		if (now >= end)
			break;
		/* Absolute schedule: a late tick does not shift later ones. */
		while (now >= next_tick) {
			pending += o.chunk;
			next_tick += period;
		}
		while (pending > 0) {
			size_t n = pending < IO_CHUNK ? (size_t)pending : IO_CHUNK;
			ssize_t w = send(fd, payload, n, MSG_NOSIGNAL);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					break; /* send buffer full: wait for POLLOUT */
				fprintf(stderr, "%s hold: send: %s\n", prog, strerror(errno));
				rc = 1;
				goto out;
			}
			pending -= (unsigned long long)w;
			sent += (unsigned long long)w;
		}

		uint64_t wake = next_tick < end ? next_tick : end;
		uint64_t dt = wake > now ? wake - now : 0;
		struct timespec ts = { .tv_sec = (time_t)(dt / 1000000000ull),
				       .tv_nsec = (long)(dt % 1000000000ull) };
		struct pollfd p[2] = {
			{ .fd = fd, .events = POLLIN | (pending ? POLLOUT : 0) },
			{ .fd = sfd, .events = POLLIN },
		};
		if (ppoll(p, 2, &ts, NULL) < 0) {
			if (errno == EINTR)
				continue;
			fatal("ppoll");
		}
		if (p[1].revents & POLLIN)
			break; /* SIGTERM/SIGINT/SIGHUP: close cleanly */
		if (p[0].revents & (POLLIN | POLLERR | POLLHUP)) {
			/* Discard whatever the peer sends; EOF or error ends us. */
			ssize_t r;
			while ((r = recv(fd, buf, sizeof(buf), 0)) > 0)
				;
			if (r == 0) {
				fprintf(stderr, "%s hold: peer closed the connection\n", prog);
				rc = 1;
				goto out;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				fprintf(stderr, "%s hold: recv: %s\n", prog, strerror(errno));
				rc = 1;
				goto out;
			}
		}
	}
out:
	close(fd);
	printf("{\"sent\":%llu,\"pid\":%d}\n", sent, (int)getpid());
	fflush(stdout);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* sink                                                                     */
/* ------------------------------------------------------------------------ */

static int cmd_sink(int argc, char **argv)
{
	static const struct option table[] = {
		OPT("addr", O_ADDR), OPT("port", O_PORT), OPT("name", O_NAME),
		FLAG("help", O_HELP), { 0 }
	};
	struct opts o = { .port = -1, .bind_port = -1, .name = "tp-sink" };
	parse_opts(argc, argv, table, &o);

	struct sockaddr_storage ss;
	socklen_t len;
	resolve(o.addr, (unsigned)o.port, &ss, &len);
	set_name(o.name);

	sigset_t sigs = term_signals();
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	int sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		fatal("signalfd");

	int lfd = listen_on(&ss, len, 1024);
	if (fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK) < 0)
		fatal("fcntl(O_NONBLOCK)");
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		fatal("epoll_create1");
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = lfd };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
		fatal("epoll_ctl");
	ev.data.fd = sfd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev) < 0)
		fatal("epoll_ctl");
	announce_ready(lfd);

	unsigned long long accepted = 0, received = 0;
	char buf[IO_CHUNK];
	struct epoll_event evs[64];
	for (;;) {
		int n = epoll_wait(ep, evs, 64, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fatal("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == sfd)
				goto out;
			if (fd == lfd) {
				int c;
				while ((c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
					struct epoll_event cev = { .events = EPOLLIN | EPOLLRDHUP,
								   .data.fd = c };
					if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev) < 0) {
						fprintf(stderr, "%s sink: epoll_ctl: %s\n", prog,
							strerror(errno));
						close(c);
						continue;
					}
					accepted++;
				}
				if (errno == EMFILE || errno == ENFILE)
					fprintf(stderr, "%s sink: accept4: %s\n", prog, strerror(errno));
				continue;
			}
			/* Read everything available; EOF or error closes. */
			for (;;) {
				ssize_t r = recv(fd, buf, sizeof(buf), 0);
				if (r > 0) {
					received += (unsigned long long)r;
					continue;
				}
				if (r < 0 && errno == EINTR)
					continue;
				if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
					break;
				if (r < 0 && errno != ECONNRESET)
					fprintf(stderr, "%s sink: recv: %s\n", prog, strerror(errno));
				close(fd); /* also removes it from the epoll set */
				break;
			}
		}
	}
out:
	printf("{\"accepted\":%llu,\"received\":%llu,\"pid\":%d}\n", accepted, received,
	       (int)getpid());
	fflush(stdout);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* load                                                                     */
/* ------------------------------------------------------------------------ */

/*
 * Port exhaustion: whoever closes first keeps the connection in TIME_WAIT
 * for 60 s.  If that were the client, ~28k ephemeral ports (the default
 * 32768-60999 range) would run out after about a second at 30k conn/s and
 * connect() would fail with EADDRNOTAVAIL.  So against its own server the
 * client waits for the server's FIN (recv() == 0) before it closes: the
 * client goes CLOSE_WAIT -> LAST_ACK -> CLOSED and frees its port at once,
 * the TIME_WAIT sockets sit on the server side, keyed by the server's port,
 * and a SYN that reuses a 4-tuple still in TIME_WAIT there is accepted by
 * the kernel (higher sequence number / timestamp).  With --rst the client
 * aborts with SO_LINGER {1,0} right after connect, which leaves no TIME_WAIT
 * anywhere.
 *
 * The hot loop allocates nothing and prints nothing: each worker owns its
 * counters (cache-line aligned, no shared atomics), fds are the only
 * per-connection resource.
 */
struct load_worker {
	pthread_t tid;
	unsigned idx;
	unsigned long long conns, errors;
	unsigned long long err[ERR_SLOTS];
} __attribute__((aligned(64)));

static struct {
	struct sockaddr_storage ss;
	socklen_t len;
	int family, lfd;
	unsigned workers;
	unsigned long long rate;
	bool rst, own_server, http;
	uint64_t t0, end;
	pthread_barrier_t start;
	atomic_bool stop;
	struct load_worker w[1024];
} ld;

/* --http: one small request and its response per connection, so that both directions
 * carry a first payload (what protocol detection looks at). */
static const char http_request[] = "GET / HTTP/1.1\r\nHost: bench.test\r\n\r\n";
static const char http_response[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

static void *load_acceptor(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept_retry(ld.lfd, 0);
		if (fd < 0)
			return NULL;
		if (ld.http) {
			char buf[256];
			ssize_t r;
			while ((r = recv(fd, buf, sizeof(buf), 0)) < 0 && errno == EINTR)
				;
			if (r > 0)
				(void)!send(fd, http_response, sizeof(http_response) - 1, MSG_NOSIGNAL);
		}
		close(fd); /* the server closes first: TIME_WAIT lands here */
	}
}

static inline void load_one(struct load_worker *w)
{
	int fd = socket(ld.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int e;
	if (fd < 0) {
		e = errno;
		goto err_nofd;
	}
	if ((e = connect_fd(fd, &ld.ss, ld.len)))
		goto err;
	if (ld.http && send(fd, http_request, sizeof(http_request) - 1, MSG_NOSIGNAL) < 0) {
		e = errno;
		goto err;
	}
	if (ld.rst) {
		set_linger0(fd);
	} else if (ld.own_server) {
		/* Wait for the server's FIN so that we close second (see above); with --http
		 * the response comes first. */
		char c[256];
		ssize_t r;
		do {
			while ((r = recv(fd, c, ld.http ? sizeof(c) : 1, 0)) < 0 && errno == EINTR)
				;
		} while (ld.http && r > 0);
		if (r < 0) {
			e = errno;
			goto err;
		}
	}
	close(fd);
	w->conns++;
	return;
err:
	close(fd);
err_nofd:
	w->errors++;
	w->err[e > 0 && e < ERR_SLOTS ? e : EIO]++;
}

static void *load_client(void *arg)
{
	struct load_worker *w = arg;
	pthread_barrier_wait(&ld.start); /* ld.t0 / ld.end are set by now */
	if (!ld.rate) {
		while (!atomic_load_explicit(&ld.stop, memory_order_relaxed))
			load_one(w);
		return NULL;
	}
	/* Absolute schedule: connection i (globally) is due at t0 + i/R; worker
	 * k takes i = k, k+W, k+2W, ...  Sleeping to absolute times keeps the
	 * rate exact even when a single connect is slow. */
	for (unsigned long long i = w->idx;; i += ld.workers) {
		uint64_t due = ld.t0 + (uint64_t)((unsigned __int128)i * 1000000000u / ld.rate);
		if (due >= ld.end || atomic_load_explicit(&ld.stop, memory_order_relaxed))
			break;
		if (now_ns() < due)
			sleep_until_ns(due);
		load_one(w);
	}
	return NULL;
}

static int cmd_load(int argc, char **argv)
{
	static const struct option table[] = {
		OPT("addr", O_ADDR), OPT("port", O_PORT), OPT("duration-ms", O_DURATION),
		OPT("rate", O_RATE), OPT("workers", O_WORKERS), OPT("name", O_NAME),
		FLAG("rst", O_RST), FLAG("http", O_HTTP), FLAG("serve", O_SERVE), FLAG("help", O_HELP), { 0 }
	};
	struct opts o = { .port = -1, .bind_port = -1, .workers = 1, .name = "tp-load" };
	parse_opts(argc, argv, table, &o);
	if (!o.have_duration || o.duration_ms == 0)
		usage_error("--duration-ms (> 0) is required");

	resolve(o.addr, (unsigned)o.port, &ld.ss, &ld.len);
	set_name(o.name);
	ld.family = ld.ss.ss_family;
	ld.workers = (unsigned)o.workers;
	ld.rate = o.rate;
	ld.rst = o.rst;
	ld.http = o.http;
	if (o.http && o.port != 0 && !o.serve)
		usage_error("--http needs the in-process server (--port 0 or --serve)");
	signal(SIGPIPE, SIG_IGN);

	if (o.port == 0 || o.serve) {
		/* Own in-process server on A:P (P = 0: any free port); clients connect to it. */
		ld.own_server = true;
		ld.lfd = listen_on(&ld.ss, ld.len, 4096);
		struct sockaddr_storage bound;
		socklen_t blen = sizeof(bound);
		if (getsockname(ld.lfd, (struct sockaddr *)&bound, &blen) < 0)
			fatal("getsockname");
		memcpy(&ld.ss, &bound, blen);
		ld.len = blen;
		for (unsigned i = 0; i < ld.workers; i++)
			spawn(load_acceptor, NULL);
	}

	pthread_barrier_init(&ld.start, NULL, ld.workers + 1);
	for (unsigned i = 0; i < ld.workers; i++) {
		ld.w[i].idx = i;
		ld.w[i].tid = spawn(load_client, &ld.w[i]);
	}
	ld.t0 = now_ns();
	ld.end = ld.t0 + o.duration_ms * 1000000ull;
	pthread_barrier_wait(&ld.start);
	sleep_until_ns(ld.end);
	atomic_store(&ld.stop, true);

	unsigned long long conns = 0, errors = 0;
	unsigned long long err[ERR_SLOTS] = { 0 };
	for (unsigned i = 0; i < ld.workers; i++) {
		pthread_join(ld.w[i].tid, NULL);
		conns += ld.w[i].conns;
		errors += ld.w[i].errors;
		for (int j = 0; j < ERR_SLOTS; j++)
			err[j] += ld.w[i].err[j];
	}
	double secs = (double)(now_ns() - ld.t0) / 1e9;

	if (errors) {
		fprintf(stderr, "%s load: errors:", prog);
		for (int j = 0; j < ERR_SLOTS; j++)
			if (err[j])
				fprintf(stderr, " %s=%llu", err_name(j), err[j]);
		fputc('\n', stderr);
	}
	printf("{\"connections\":%llu,\"errors\":%llu,\"duration_s\":%.3f,\"rate\":%.1f}\n", conns,
	       errors, secs, secs > 0 ? (double)conns / secs : 0.0);
	fflush(stdout);
	/* exit() rather than joining the acceptors, which block in accept4. */
	exit(0);
}

/* ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	memset(payload, 'x', sizeof(payload));
	/* Every send uses MSG_NOSIGNAL; this also covers anything else. */
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	mode = argv[1];
	/* getopt sees "tcppeer <mode>" as the program name (for its messages). */
	char progmode[64];
	snprintf(progmode, sizeof(progmode), "%s %s", prog, mode);
	argc--;
	argv++;
	argv[0] = progmode;
	if (!strcmp(mode, "server"))
		return cmd_server(argc, argv);
	if (!strcmp(mode, "client"))
		return cmd_client(argc, argv);
	if (!strcmp(mode, "hold"))
		return cmd_hold(argc, argv);
	if (!strcmp(mode, "sink"))
		return cmd_sink(argc, argv);
	if (!strcmp(mode, "load"))
		return cmd_load(argc, argv);
	if (!strcmp(mode, "-h") || !strcmp(mode, "--help") || !strcmp(mode, "help")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "%s: unknown sub-command '%s'\n", prog, mode);
	usage(stderr);
	return EXIT_USAGE;
}
