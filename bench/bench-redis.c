/* SPDX-License-Identifier: MIT */
/*
 * bench-redis.c - allocate+free pairs per second on an ID pool in Redis,
 * beside the Kubernetes way in the same run, against the same server.
 *
 *   numballoc: each allocation and each free is one FCALL of the
 *	backend's function: one round trip, one atomic step on the server.
 *   k8s-cas: the bitmap is one string key; an allocation is WATCH+GET
 *	(pipelined: one round trip), a search for a free bit in the client,
 *	then MULTI+SET+EXEC (pipelined: one more round trip), again from the
 *	start when EXEC says another client changed the key; a free is the
 *	same. This is the optimistic compare-and-swap of the Kubernetes
 *	service and port allocators (there on etcd), done as well as Redis
 *	allows: two round trips per operation when nobody conflicts.
 *
 * Both use C connections (1, 4, 16), one thread each with its own
 * connection, each holding up to 8 IDs and doing random alloc/free pairs
 * on a pool of 16384 IDs for a fixed time. Figures are medians of REPEAT
 * runs; the server's INFO commandstats give the commands per pair.
 *
 * Usage: bench-redis [--quick] [--url redis://HOST:PORT] [--conns N]
 * [--engine numballoc|k8s-cas] [--seconds S] [--no-leased | --leased-only]
 * (default: start a redis-server on a free loopback port, without AOF: the
 * figures are of the allocator, not of fsync). --conns, --engine,
 * --no-leased and --leased-only run a part only, to profile one thing.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "bench-util.h"
#include "numballoc.h"
#include "redisfix.h"

#define CAP 16384
#define HOLD 8

static struct rf server;
static char base_url[256];	/* redis://127.0.0.1:PORT */
static int port;
static double seconds = 1.0;

struct worker {
	pthread_t th;
	int engine;		/* 0 numballoc, 1 k8s-cas */
	const char *pool;
	uint64_t pairs;
	uint64_t retries;
	int err;
	uint64_t seed;
	volatile int *stop;
};

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* ------------------------------------------------------------ numballoc */

static void *nb_worker(void *arg)
{
	struct worker *w = arg;
	char url[400];
	struct numballoc *p;
	uint64_t held[HOLD], id;
	int n = 0, r;

	snprintf(url, sizeof(url), "%s/%s", base_url, w->pool);
	if (numballoc_open(url, NULL, &p)) {
		w->err = 1;
		return NULL;
	}
	while (!*w->stop) {
		if (n == HOLD || (n && below(&w->seed, 2))) {
			uint64_t k = below(&w->seed, (uint64_t)n);

			id = held[k];
			held[k] = held[--n];
			if (numballoc_free(p, id)) {
				w->err = 1;
				break;
			}
			w->pairs++;
		} else {
			r = numballoc_alloc(p, &id);
			if (r) {
				w->err = 1;
				break;
			}
			held[n++] = id;
		}
	}
	while (n)
		numballoc_free(p, held[--n]);
	numballoc_close(p);
	return NULL;
}

/* ------------------------------------------------------------ k8s-cas */

/* WATCH KEY + GET KEY in one round trip; the bitmap in *REPLY. */
static redisReply *watch_get(redisContext *c, const char *key)
{
	redisReply *r = NULL, *g = NULL;

	redisAppendCommand(c, "WATCH %s", key);
	redisAppendCommand(c, "GET %s", key);
	if (redisGetReply(c, (void **)&r) != REDIS_OK || redisGetReply(c, (void **)&g) != REDIS_OK)
		return NULL;
	freeReplyObject(r);
	return g;
}

/* MULTI + SET + EXEC in one round trip: 1 committed, 0 conflict, -1 error. */
static int multi_set(redisContext *c, const char *key, const char *buf, size_t len)
{
	redisReply *r;
	int i, ok = -1;

	redisAppendCommand(c, "MULTI");
	redisAppendCommand(c, "SET %s %b", key, buf, len);
	redisAppendCommand(c, "EXEC");
	for (i = 0; i < 3; i++) {
		if (redisGetReply(c, (void **)&r) != REDIS_OK)
			return -1;
		if (i == 2)
			ok = r->type == REDIS_REPLY_ARRAY ? 1 : r->type == REDIS_REPLY_NIL ? 0 : -1;
		freeReplyObject(r);
	}
	return ok;
}

/* Allocate (ID < 0: the lowest free one, into *OUT) or free ID, by CAS. */
static int cas_op(redisContext *c, const char *key, int64_t id, uint64_t *out,
		  uint64_t *retries)
{
	unsigned char bits[CAP / 8];
	redisReply *g;
	int64_t b;
	int r;

	for (;;) {
		g = watch_get(c, key);
		if (!g || g->type != REDIS_REPLY_STRING || g->len != sizeof(bits)) {
			if (g)
				freeReplyObject(g);
			return -1;
		}
		memcpy(bits, g->str, sizeof(bits));
		freeReplyObject(g);
		if (id < 0) {
			for (b = 0; b < CAP && bits[b / 8] == 0xff; b += 8)
				;
			while (b < CAP && (bits[b / 8] & (0x80 >> (b % 8))))
				b++;
			if (b >= CAP)
				return -ENOSPC;
			bits[b / 8] |= (unsigned char)(0x80 >> (b % 8));
		} else {
			b = id;
			bits[b / 8] &= (unsigned char)~(0x80 >> (b % 8));
		}
		r = multi_set(c, key, (const char *)bits, sizeof(bits));
		if (r < 0)
			return -1;
		if (r == 1)
			break;
		(*retries)++;
	}
	if (out)
		*out = (uint64_t)b;
	return 0;
}

static void *cas_worker(void *arg)
{
	struct worker *w = arg;
	struct timeval tv = { 5, 0 };
	redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
	uint64_t held[HOLD], id;
	int n = 0;

	if (!c || c->err) {
		w->err = 1;
		return NULL;
	}
	while (!*w->stop) {
		if (n == HOLD || (n && below(&w->seed, 2))) {
			uint64_t k = below(&w->seed, (uint64_t)n);

			id = held[k];
			held[k] = held[--n];
			if (cas_op(c, w->pool, (int64_t)id, NULL, &w->retries)) {
				w->err = 1;
				break;
			}
			w->pairs++;
		} else {
			if (cas_op(c, w->pool, -1, &id, &w->retries)) {
				w->err = 1;
				break;
			}
			held[n++] = id;
		}
	}
	while (n)
		cas_op(c, w->pool, (int64_t)held[--n], NULL, &w->retries);
	redisFree(c);
	return NULL;
}

static double median(double *v, int n);

/* ------------------------------------------------------------ leased ranges */

/* CPU ns per alloc+free pair on P, one thread, holding 8 IDs (the oldest freed). */
static double local_pairs(struct numballoc *p, uint64_t n)
{
	uint64_t held[HOLD], id, i, t0;
	int k;

	for (k = 0; k < HOLD; k++)
		if (numballoc_alloc(p, &held[k]))
			return 0;
	t0 = cpu_ns();
	for (i = 0; i < n; i++) {
		if (numballoc_free(p, held[i % HOLD]) || numballoc_alloc(p, &id))
			return 0;
		held[i % HOLD] = id;
	}
	t0 = cpu_ns() - t0;
	for (k = 0; k < HOLD; k++)
		numballoc_free(p, held[k]);
	return (double)t0 / (double)n;
}

/*
 * Pairs from a leased range (lease+redis://: a local shm pool fed with
 * blocks of the cluster's IDs) beside a plain shm pool of the same size.
 */
static void bench_leased(int repeat, uint64_t n)
{
	struct numballoc_opts o = { .capacity = CAP, .flags = NUMBALLOC_CREATE };
	char url[600], plain[64], local[64];
	struct numballoc *lp, *pp;
	double a[9], b[9];
	int k;

	snprintf(plain, sizeof(plain), "bench-plain-%ld", (long)getpid());
	snprintf(local, sizeof(local), "bench-local-%ld", (long)getpid());
	snprintf(url, sizeof(url),
		 "lease+%s/bench-cluster-%ld?local=%s&holder=bench-host&ttl=30000&block=1024",
		 base_url, (long)getpid(), local);
	if (numballoc_open(url, &o, &lp) || numballoc_open(plain, &o, &pp)) {
		fprintf(stderr, "bench-redis: cannot open the leased or the plain pool\n");
		exit(1);
	}
	for (k = 0; k < repeat; k++) {
		a[k] = local_pairs(lp, n);
		b[k] = local_pairs(pp, n);
		if (!a[k] || !b[k]) {
			fprintf(stderr, "bench-redis: a pair failed\n");
			exit(1);
		}
	}
	printf("\nalloc+free pairs, one thread, %" PRIu64 " pairs x %d, CPU ns per pair (median):\n"
	       "  leased range (lease+redis://, blocks of 1024)  %8.1f\n"
	       "  plain shared-memory pool                       %8.1f\n"
	       "  ratio leased / plain                           %8.2fx\n",
	       n, repeat, median(a, repeat), median(b, repeat),
	       median(a, repeat) / median(b, repeat));
	numballoc_close(lp);
	numballoc_close(pp);
	numballoc_unlink(plain);
	numballoc_unlink(local);
	snprintf(url, sizeof(url), "%s/bench-cluster-%ld", base_url, (long)getpid());
	numballoc_unlink(url);
}

/* ------------------------------------------------------------ runs */

/* The calls of COMMAND so far, from INFO commandstats. */
static uint64_t calls(const char *command)
{
	char buf[8192], pat[64], *s;
	redisContext *c = redisConnect("127.0.0.1", port);
	redisReply *r;
	uint64_t n = 0;

	if (!c || c->err)
		return 0;
	r = redisCommand(c, "INFO commandstats");
	if (r && r->type == REDIS_REPLY_STRING) {
		snprintf(buf, sizeof(buf), "%s", r->str);
		snprintf(pat, sizeof(pat), "cmdstat_%s:calls=", command);
		s = strstr(buf, pat);
		if (s)
			n = strtoull(s + strlen(pat), NULL, 10);
	}
	if (r)
		freeReplyObject(r);
	redisFree(c);
	return n;
}

/* Pairs per second of ENGINE with NCONN connections; *RETRY: CAS retries per pair. */
static double run(int engine, int nconn, const char *pool, double *retry)
{
	struct worker w[16];
	volatile int stop = 0;
	uint64_t pairs = 0, retries = 0;
	double t0, t1;
	int i;

	memset(w, 0, sizeof(w));
	for (i = 0; i < nconn; i++) {
		w[i].engine = engine;
		w[i].pool = pool;
		w[i].seed = 0x9e3779b97f4a7c15u * (uint64_t)(i + 1);
		w[i].stop = &stop;
	}
	t0 = now_s();
	for (i = 0; i < nconn; i++)
		pthread_create(&w[i].th, NULL, engine ? cas_worker : nb_worker, &w[i]);
	while (now_s() - t0 < seconds)
		usleep(10000);
	stop = 1;
	t1 = now_s();
	for (i = 0; i < nconn; i++) {
		pthread_join(w[i].th, NULL);
		if (w[i].err) {
			fprintf(stderr, "bench-redis: a %s worker failed\n",
				engine ? "k8s-cas" : "numballoc");
			exit(1);
		}
		pairs += w[i].pairs;
		retries += w[i].retries;
	}
	*retry = pairs ? (double)retries / (double)pairs : 0;
	return pairs / (t1 - t0);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	static const int conns[] = { 1, 4, 16 };
	struct numballoc_opts o = { .capacity = CAP, .flags = NUMBALLOC_CREATE };
	const char *url = NULL, *only_engine = NULL;
	int only_conns = 0, leased = 1;
	char poolurl[400], key[64], zeros[CAP / 8];
	int quick = 0, repeat = 5, i, k, c;
	redisContext *rc;
	redisReply *r;
	struct numballoc *p;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			quick = 1;
		else if (!strcmp(argv[i], "--url") && i + 1 < argc)
			url = argv[++i];
		else if (!strcmp(argv[i], "--conns") && i + 1 < argc)
			only_conns = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--engine") && i + 1 < argc)
			only_engine = argv[++i];
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--no-leased"))
			leased = 0;
		else if (!strcmp(argv[i], "--leased-only"))
			leased = 2;
		else {
			fprintf(stderr, "usage: bench-redis [--quick] [--url redis://HOST:PORT] "
				"[--conns N] [--engine numballoc|k8s-cas] [--seconds S] "
				"[--no-leased | --leased-only]\n");
			return 2;
		}
	}
	if (quick) {
		seconds = 0.3;
		repeat = 1;
	}
	if (only_conns < 0 || only_conns > 16 || seconds <= 0 ||
	    (only_engine && strcmp(only_engine, "numballoc") && strcmp(only_engine, "k8s-cas"))) {
		fprintf(stderr, "bench-redis: --conns 1..16, --seconds > 0, "
			"--engine numballoc or k8s-cas\n");
		return 2;
	}
	if (url) {
		snprintf(base_url, sizeof(base_url), "%s", url);
		port = strrchr(url, ':') ? atoi(strrchr(url, ':') + 1) : 6379;
	} else {
		if (rf_missing()) {
			printf("bench-redis: skipped: %s\n", rf_missing());
			return 0;
		}
		if (rf_start(&server, "--appendonly no") < 0) {
			fprintf(stderr, "bench-redis: could not start redis-server\n");
			return 1;
		}
		port = server.port;
		snprintf(base_url, sizeof(base_url), "redis://127.0.0.1:%d", port);
	}
	snprintf(poolurl, sizeof(poolurl), "%s/bench-%ld", base_url, (long)getpid());
	numballoc_unlink(poolurl);
	if (numballoc_open(poolurl, &o, &p)) {
		fprintf(stderr, "bench-redis: cannot create %s\n", poolurl);
		return 1;
	}
	numballoc_close(p);
	snprintf(key, sizeof(key), "k8s-bitmap-%ld", (long)getpid());
	memset(zeros, 0, sizeof(zeros));
	rc = redisConnect("127.0.0.1", port);
	r = rc && !rc->err ? redisCommand(rc, "SET %s %b", key, zeros, sizeof(zeros)) : NULL;
	if (!r) {
		fprintf(stderr, "bench-redis: cannot set %s\n", key);
		return 1;
	}
	freeReplyObject(r);

	printf("alloc+free pairs per second, pool of %d IDs, up to %d held per connection;\n"
	       "median of %d run(s) of %.1f s each, numballoc and k8s-cas taking turns\n\n",
	       CAP, HOLD, repeat, seconds);
	printf("%-5s %14s %14s %8s %16s\n", "conns", "numballoc", "k8s-cas", "ratio",
	       "cas retries/pair");
	for (c = 0; c < 4; c++) {
		double a[9], b[9], rb[9], x;
		int nc = c < 3 ? conns[c] : only_conns;

		if ((only_conns ? c < 3 : c == 3) || leased == 2)
			continue;
		for (k = 0; k < repeat; k++) {
			char pool[64];

			snprintf(pool, sizeof(pool), "bench-%ld", (long)getpid());
			a[k] = b[k] = rb[k] = 0;
			if (!only_engine || !strcmp(only_engine, "numballoc"))
				a[k] = run(0, nc, pool, &x);
			if (!only_engine || !strcmp(only_engine, "k8s-cas"))
				b[k] = run(1, nc, key, &rb[k]);
		}
		{
			double ma = median(a, repeat), mb = median(b, repeat);

			printf("%-5d %14.0f %14.0f %7.1fx %14.2f\n", nc, ma, mb,
			       mb > 0 ? ma / mb : 0, median(rb, repeat));
		}
	}
	/* one round trip per operation: the server's count of script calls */
	if (leased != 2) {
		uint64_t before = calls("fcall"), n = 2000, id;

		numballoc_open(poolurl, NULL, &p);
		for (i = 0; i < (int)n / 2; i++) {
			numballoc_alloc(p, &id);
			numballoc_free(p, id);
		}
		numballoc_close(p);
		printf("\nnumballoc: %.2f script calls (round trips) per operation over %" PRIu64
		       " operations\n",
		       (double)(calls("fcall") - before) / (double)n, n);
		printf("k8s-cas: 2 round trips per operation without conflict (WATCH+GET, "
		       "MULTI+SET+EXEC), 2 more per retry\n");
	}
	if (leased)
		bench_leased(repeat, quick ? 200000 : 2000000);
	numballoc_unlink(poolurl);
	redisFree(rc);
	if (!url)
		rf_stop(&server);
	return 0;
}
