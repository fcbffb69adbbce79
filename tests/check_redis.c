/* SPDX-License-Identifier: MIT */
/*
 * check_redis.c - ID pools in a real redis-server (started here on a free
 * loopback port, AOF with appendfsync always): processes with their own
 * connections and a witness, a server killed with SIGKILL mid-run and
 * restarted, holder leases (expiry while the holder is stopped, renew,
 * reclaim), and every failure the backend maps to an errno. The API's
 * own tests run on Redis too: check_redis_api (check_idpool.c).
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_REDIS
#include <hiredis/hiredis.h>
#endif

#include "numballoc.h"
#include "redisfix.h"
#include "testutil.h"

static struct rf server;	/* shared by the tests that do not stop it */

static void msleep(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static struct numballoc *rpool(const struct rf *s, const char *name, uint64_t capacity,
			       uint64_t base, unsigned int policy)
{
	struct numballoc_opts o = { .capacity = capacity, .base = base, .policy = policy,
				    .flags = NUMBALLOC_CREATE };
	struct numballoc *p = NULL;

	ck_assert_int_eq(numballoc_open(rf_url(s, name, NULL), &o, &p), 0);
	return p;
}

static struct numballoc *ropen(const struct rf *s, const char *name)
{
	struct numballoc *p = NULL;

	ck_assert_int_eq(numballoc_open(rf_url(s, name, NULL), NULL, &p), 0);
	return p;
}

static uint64_t used(struct numballoc *p)
{
	struct numballoc_stat st;

	ck_assert_int_eq(numballoc_stat(p, &st), 0);
	return st.used;
}

/* ------------------------------------------------------------ processes */

#define WCAP 48
#define NPROC 4

/*
 * NPROC processes, each with its own connection, allocate and free at
 * random in a pool smaller than what they could hold together; the witness
 * (shared memory) sees every ID go to at most one of them. At the end
 * nothing is held: nothing was lost.
 */
START_TEST(test_procs_witness)
{
	const char *name = tu_name("procs");
	struct numballoc *p = rpool(&server, name, WCAP, 1000, _i);
	int *witness = tu_shared(WCAP * sizeof(int)), *bad = tu_shared(sizeof(int));
	pid_t pids[NPROC];
	int i;

	for (i = 0; i < NPROC; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			struct numballoc *q = ropen(&server, name);
			uint64_t s = (uint64_t)i * 7919 + 1, held[16], id;
			int n = 0, k, r;

			for (k = 0; k < 400; k++) {
				if (n < 16 && tu_rand(&s) % 2) {
					r = numballoc_alloc(q, &id);
					if (r == 0) {
						if (__atomic_exchange_n(&witness[id - 1000], 1,
									__ATOMIC_SEQ_CST))
							*bad = 1;
						held[n++] = id;
					} else if (r != -ENOSPC) {
						*bad = 2;
					}
				} else if (n) {
					id = held[--n];
					__atomic_store_n(&witness[id - 1000], 0, __ATOMIC_SEQ_CST);
					if (numballoc_free(q, id))
						*bad = 3;
				}
			}
			while (n) {
				id = held[--n];
				__atomic_store_n(&witness[id - 1000], 0, __ATOMIC_SEQ_CST);
				if (numballoc_free(q, id))
					*bad = 3;
			}
			numballoc_close(q);
			_exit(0);
		}
	}
	ck_assert_int_eq(tu_wait_all(pids, NPROC), 0);
	ck_assert_int_eq(*bad, 0);
	ck_assert_uint_eq(used(p), 0);
	numballoc_close(p);
}
END_TEST

/*
 * The server is killed with SIGKILL while three processes allocate, and
 * restarted from its AOF (appendfsync always): every allocation that was
 * acknowledged is still held, none was handed out twice, and the pool goes
 * on from there.
 */
#define KCAP 4096
START_TEST(test_kill9_restart)
{
	struct rf s;
	const char *name = tu_name("kill9");
	unsigned char *acked = tu_shared(KCAP);
	int *count = tu_shared(sizeof(int)), *bad = tu_shared(sizeof(int));
	struct numballoc *p;
	uint64_t id, n = 0, i;
	pid_t pids[3];
	int k, r;

	ck_assert_int_eq(rf_start(&s, NULL), 0);
	p = rpool(&s, name, KCAP, 0, _i);
	numballoc_close(p);
	for (k = 0; k < 3; k++) {
		pids[k] = fork();
		ck_assert_int_ge(pids[k], 0);
		if (pids[k] == 0) {
			struct numballoc *q = NULL;

			if (numballoc_open(rf_url(&s, name, "timeout=2000"), NULL, &q))
				_exit(1);
			for (;;) {
				r = numballoc_alloc(q, &id);
				if (r < 0)
					break;
				if (__atomic_exchange_n(&acked[id], 1, __ATOMIC_SEQ_CST))
					*bad = 1;
				__atomic_add_fetch(count, 1, __ATOMIC_SEQ_CST);
			}
			/* the server is gone: a connection error, nothing else */
			if (r != -ECONNRESET && r != -ECONNREFUSED && r != -ETIMEDOUT)
				*bad = 2;
			numballoc_close(q);
			_exit(0);
		}
	}
	while (__atomic_load_n(count, __ATOMIC_SEQ_CST) < 300)
		msleep(5);
	rf_kill(&s);
	ck_assert_int_eq(tu_wait_all(pids, 3), 0);
	ck_assert_int_eq(*bad, 0);
	ck_assert_int_eq(rf_restart(&s), 0);
	p = ropen(&s, name);
	for (i = 0; i < KCAP; i++) {
		if (!acked[i])
			continue;
		n++;
		ck_assert_int_eq(numballoc_test(p, i), 1);
	}
	ck_assert_uint_eq(n, (uint64_t)*count);
	/* at most one allocation per process ran without its reply arriving */
	ck_assert_uint_ge(used(p), n);
	ck_assert_uint_le(used(p), n + 3);
	/* the rest of the pool: never one that was acknowledged */
	while ((r = numballoc_alloc(p, &id)) == 0)
		ck_assert_int_eq(acked[id], 0);
	ck_assert_int_eq(r, -ENOSPC);
	ck_assert_uint_eq(used(p), KCAP);
	numballoc_close(p);
	rf_stop(&s);
}
END_TEST

/* ------------------------------------------------------------ leases */

/*
 * A holder stopped with SIGSTOP past its TTL loses its IDs to the server's
 * own expiry (no cleanup process); others get them; when it runs again its
 * renew says it holds nothing.
 */
START_TEST(test_lease_expires_while_stopped)
{
	const char *name = tu_name("stop");
	struct numballoc *p = rpool(&server, name, 8, 100, NUMBALLOC_LOWEST);
	uint64_t *renewed = tu_shared(sizeof(uint64_t)), id;
	int st, i, r;
	pid_t c;

	c = fork();
	ck_assert_int_ge(c, 0);
	if (c == 0) {
		struct numballoc *q = ropen(&server, name);

		if (numballoc_set_holder(q, "host-a", 300) || numballoc_alloc_block(q, 5, 1, &id))
			_exit(1);
		raise(SIGSTOP);
		if (numballoc_renew(q, renewed))
			_exit(2);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(c, &st, WUNTRACED), c);
	ck_assert(WIFSTOPPED(st));
	ck_assert_uint_eq(used(p), 5);
	/* the lease ends 300 ms after its allocation; wait for it, up to 20 s */
	for (i = 0; i < 2000 && (r = numballoc_test(p, 100)) == 1; i++)
		msleep(10);
	ck_assert_int_eq(r, 0);
	for (i = 0; i < 8; i++)
		ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_int_eq(numballoc_alloc(p, &id), -ENOSPC);
	*renewed = 99;
	kill(c, SIGCONT);
	ck_assert_int_eq(waitpid(c, &st, 0), c);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ck_assert_uint_eq(*renewed, 0);
	ck_assert_uint_eq(used(p), 8);
	numballoc_close(p);
}
END_TEST

/* Renewing keeps a lease; the holder is known per ID; a partial free splits a lease. */
START_TEST(test_lease_renew_and_split)
{
	const char *name = tu_name("renew");
	struct numballoc *p = rpool(&server, name, 64, 0, NUMBALLOC_LOWEST);
	struct numballoc *q = ropen(&server, name);
	char buf[64];
	uint64_t first, n, id;
	int i;

	ck_assert_int_eq(numballoc_set_holder(q, "worker-1", 1500), 0);
	ck_assert_int_eq(numballoc_alloc_block(q, 10, 1, &first), 0);
	ck_assert_uint_eq(first, 0);
	ck_assert_int_eq(numballoc_alloc(q, &id), 0);
	ck_assert_uint_eq(id, 10);
	ck_assert_int_eq(numballoc_holder(p, 3, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "worker-1");
	ck_assert_int_eq(numballoc_holder(p, 10, buf, sizeof(buf)), 0);
	ck_assert_int_eq(numballoc_holder(p, 11, buf, sizeof(buf)), -ENOENT);
	ck_assert_int_eq(numballoc_holder(p, 3, buf, 4), -ERANGE);
	/* free the middle of the block: the lease keeps both ends */
	ck_assert_int_eq(numballoc_free_block(p, 4, 2), 0);
	ck_assert_int_eq(numballoc_holder(p, 4, buf, sizeof(buf)), -ENOENT);
	ck_assert_int_eq(numballoc_holder(p, 6, buf, sizeof(buf)), 0);
	ck_assert_int_eq(numballoc_renew(q, &n), 0);
	ck_assert_uint_eq(n, 9);
	/* renewed three times over 1.8 s: longer than the TTL, and still held */
	for (i = 0; i < 3; i++) {
		msleep(600);
		ck_assert_int_eq(numballoc_renew(q, &n), 0);
		ck_assert_uint_eq(n, 9);
	}
	ck_assert_int_eq(numballoc_test(p, 0), 1);
	ck_assert_int_eq(numballoc_test(p, 10), 1);
	/* a renew without a holder, and holders that are no names */
	ck_assert_int_eq(numballoc_renew(p, &n), -EINVAL);
	ck_assert_int_eq(numballoc_set_holder(p, "", 100), -EINVAL);
	ck_assert_int_eq(numballoc_set_holder(p, "a b", 100), -EINVAL);
	ck_assert_int_eq(numballoc_set_holder(p, "x", 0), -EINVAL);
	ck_assert_int_eq(numballoc_set_holder(NULL, "x", 10), -EINVAL);
	ck_assert_int_eq(numballoc_holder(p, 64, buf, sizeof(buf)), -EINVAL);
	numballoc_close(q);
	numballoc_close(p);
}
END_TEST

/* numballoc_reclaim releases what expired leases held, and counts it; unleased IDs stay. */
START_TEST(test_lease_reclaim)
{
	const char *name = tu_name("reclaim");
	struct numballoc *p = rpool(&server, name, 32, 0, NUMBALLOC_CYCLIC);
	uint64_t n = 99, id;

	ck_assert_int_eq(numballoc_alloc_id(p, 31), 0);	/* no holder: never expires */
	ck_assert_int_eq(numballoc_set_holder(p, "short", 100), 0);
	ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_int_eq(numballoc_alloc_id(p, 20), 0);
	ck_assert_int_eq(numballoc_set_holder(p, NULL, 0), 0);
	msleep(250);
	ck_assert_int_eq(numballoc_reclaim(p, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(numballoc_reclaim(p, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(used(p), 1);
	ck_assert_int_eq(numballoc_test(p, 31), 1);
	numballoc_close(p);
}
END_TEST

/* Leases are a backend's: a shared-memory pool says so. */
START_TEST(test_lease_on_shm)
{
	struct numballoc_opts o = { .capacity = 10 };
	struct numballoc *p = NULL;
	char buf[8];
	uint64_t n;

	ck_assert_int_eq(numballoc_open(NULL, &o, &p), 0);
	ck_assert_int_eq(numballoc_set_holder(p, "x", 10), -EOPNOTSUPP);
	ck_assert_int_eq(numballoc_renew(p, &n), -EOPNOTSUPP);
	ck_assert_int_eq(numballoc_holder(p, 1, buf, sizeof(buf)), -EOPNOTSUPP);
	ck_assert_int_eq(numballoc_renew(NULL, &n), -EINVAL);
	numballoc_close(p);
}
END_TEST

/*
 * The calls of issue 19 on a pool in Redis: a read-only handle reads and
 * refuses every writer with -EROFS, changing nothing; the range comes from
 * the handle; owner calls say the pool has no owners (its holders are
 * leases).
 */
START_TEST(test_readonly_range_owners)
{
	const char *name = tu_name("ro");
	struct numballoc *p = rpool(&server, name, 16, 100, NUMBALLOC_LOWEST);
	struct numballoc_opts ro = { .flags = NUMBALLOC_RDONLY };
	struct numballoc *r = NULL;
	uint64_t base = 0, cap = 0, id, ids[4], n;
	size_t got;
	pid_t holders[4];

	ck_assert_int_eq(numballoc_alloc_id(p, 105), 0);
	ck_assert_int_eq(numballoc_open(rf_url(&server, name, NULL), &ro, &r), 0);
	ck_assert_int_eq(numballoc_range(r, &base, &cap), 0);
	ck_assert_uint_eq(base, 100);
	ck_assert_uint_eq(cap, 16);
	ck_assert_int_eq(numballoc_test(r, 105), 1);
	ck_assert_int_eq(numballoc_test(r, 106), 0);
	ck_assert_int_eq(numballoc_next(r, 100, &id), 0);
	ck_assert_uint_eq(id, 105);
	ck_assert_uint_eq(used(r), 1);
	ck_assert_int_eq(numballoc_alloc(r, &id), -EROFS);
	ck_assert_int_eq(numballoc_alloc_in(r, 100, 110, &id), -EROFS);
	ck_assert_int_eq(numballoc_alloc_id(r, 106), -EROFS);
	ck_assert_int_eq(numballoc_alloc_block(r, 2, 1, &id), -EROFS);
	ck_assert_int_eq(numballoc_free(r, 105), -EROFS);
	ck_assert_int_eq(numballoc_free_block(r, 105, 1), -EROFS);
	ck_assert_int_eq(numballoc_reclaim(r, &n), -EROFS);
	ck_assert_int_eq(numballoc_set_holder(r, "h", 1000), 0);
	ck_assert_int_eq(numballoc_renew(r, &n), -EROFS);
	ck_assert_uint_eq(used(p), 1);	/* nothing changed */
	ck_assert_int_eq(numballoc_test(p, 105), 1);
	ck_assert_int_eq(numballoc_chown(p, 105, getpid()), -EOPNOTSUPP);
	ck_assert_int_eq(numballoc_reclaim_ids(p, ids, holders, 4, &got), -EOPNOTSUPP);
	ck_assert_int_eq(numballoc_set_owner(p, 0), -EOPNOTSUPP);
	ro.flags = NUMBALLOC_RDONLY | NUMBALLOC_CREATE;
	ck_assert_int_eq(numballoc_open(rf_url(&server, name, NULL), &ro, &r), -EINVAL);
	numballoc_close(r);
	numballoc_close(p);
}
END_TEST

/* ------------------------------------------------------------ leased ranges */

static const char *lease_url(const char *cluster, const char *local, const char *holder,
			     unsigned int ttl)
{
	static char buf[4][600];
	static unsigned int k;
	char *b = buf[k++ % 4];

	snprintf(b, sizeof(buf[0]), "lease+redis://127.0.0.1:%d/%s?local=%s&holder=%s&ttl=%u"
		 "&block=64", server.port, cluster, local, holder, ttl);
	return b;
}

#define LCAP 1024

/*
 * Two hosts lease blocks of one cluster pool into local pools. Host A has
 * two processes on one local pool, which renew while they live; host B
 * allocates beside them and never gets an ID that A holds. A's processes
 * are killed (SIGKILL): its blocks come back when its lease ends, and B
 * then gets every ID of the pool: none lost, none held twice.
 */
START_TEST(test_leased_ranges_killed_host)
{
	const char *cname = tu_name("lc"), *la = tu_name("la"), *lb = tu_name("lb");
	struct numballoc *c = rpool(&server, cname, LCAP, 5000, NUMBALLOC_LOWEST), *b = NULL;
	unsigned char *owner = tu_shared(LCAP);	/* 1, 2: A's processes; 3: B */
	int *ready = tu_shared(sizeof(int)), *bad = tu_shared(sizeof(int));
	uint64_t id, got = 0, i;
	pid_t a[2];
	int k, r;

	for (k = 0; k < 2; k++) {
		a[k] = fork();
		ck_assert_int_ge(a[k], 0);
		if (a[k] == 0) {
			struct numballoc *q = NULL;
			int n;

			if (numballoc_open(lease_url(cname, la, "host-a", 1000), NULL, &q))
				_exit(1);
			for (n = 0; n < 100; n++) {
				if (numballoc_alloc(q, &id) ||
				    __atomic_exchange_n(&owner[id - 5000], (unsigned char)(k + 1),
							__ATOMIC_SEQ_CST))
					*bad = 1;
			}
			__atomic_add_fetch(ready, 1, __ATOMIC_SEQ_CST);
			for (;;) {	/* a live host renews its lease */
				msleep(100);
				numballoc_renew(q, NULL);
			}
		}
	}
	while (__atomic_load_n(ready, __ATOMIC_SEQ_CST) < 2 && !*bad)
		msleep(5);
	ck_assert_int_eq(*bad, 0);
	ck_assert_int_eq(numballoc_open(lease_url(cname, lb, "host-b", 1000), NULL, &b), 0);
	/* B takes what is left (A holds 200 IDs in its blocks, and their spare) */
	while ((r = numballoc_alloc(b, &id)) == 0) {
		ck_assert_int_eq(__atomic_exchange_n(&owner[id - 5000], 3, __ATOMIC_SEQ_CST), 0);
		got++;
	}
	ck_assert_int_eq(r, -ENOSPC);
	ck_assert_uint_le(got, LCAP - 200);
	for (k = 0; k < 2; k++) {
		kill(a[k], SIGKILL);
		waitpid(a[k], NULL, 0);
	}
	/* A's lease ends a second after its last renew; B's allocations then find its IDs */
	for (i = 0; i < 2000 && got < LCAP; i++) {
		r = numballoc_alloc(b, &id);
		if (r == -ENOSPC) {
			msleep(10);
			continue;
		}
		ck_assert_int_eq(r, 0);
		ck_assert_int_ne(owner[id - 5000], 3);
		owner[id - 5000] = 3;
		got++;
	}
	ck_assert_uint_eq(got, LCAP);
	ck_assert_uint_eq(used(c), LCAP);
	/* B frees into its local pool; what it gives back idle returns to the cluster */
	for (i = 0; i < LCAP; i++)
		ck_assert_int_eq(numballoc_free(b, 5000 + i), 0);
	ck_assert_int_eq(numballoc_renew(b, NULL), 0);
	ck_assert_uint_eq(used(c), 64);	/* one block kept */
	numballoc_close(b);
	numballoc_close(c);
}
END_TEST

/*
 * A host idle for longer than its TTL: its lease ends and the cluster gives
 * its block to another; its renew finds that it holds nothing and takes the
 * block out of its local pool, so its next allocation is not one of them.
 */
START_TEST(test_leased_range_lease_lost)
{
	const char *cname = tu_name("ll"), *local = tu_name("lll");
	struct numballoc *c = rpool(&server, cname, 128, 0, NUMBALLOC_LOWEST), *l = NULL;
	uint64_t id, n = 99, i, stale;

	ck_assert_int_eq(numballoc_open(lease_url(cname, local, "idle-host", 300), NULL, &l), 0);
	ck_assert_int_eq(numballoc_alloc(l, &stale), 0);
	ck_assert_uint_lt(stale, 64);
	msleep(700);
	for (i = 0; i < 128; i++)	/* the cluster's: all of it, the old block too */
		ck_assert_int_eq(numballoc_alloc(c, &id), 0);
	ck_assert_int_eq(numballoc_renew(l, &n), 0);
	ck_assert_uint_eq(n, 0);
	/* its old ID is another's now: its free frees nothing */
	ck_assert_int_eq(numballoc_free(l, stale), -ENOENT);
	ck_assert_int_eq(numballoc_test(c, stale), 1);
	ck_assert_int_eq(numballoc_alloc(l, &id), -ENOSPC);
	ck_assert_int_eq(numballoc_free_block(c, 0, 128), 0);
	ck_assert_int_eq(numballoc_alloc(l, &id), 0);
	ck_assert_int_eq(numballoc_test(c, id), 1);
	numballoc_close(l);
	numballoc_close(c);
}
END_TEST

/* ------------------------------------------------------------ failures */

START_TEST(test_refused_and_bad_urls)
{
	struct numballoc_opts o = { .capacity = 10, .flags = NUMBALLOC_CREATE };
	struct numballoc *p = NULL;
	struct rf none = { .port = 0 };
	char url[128];

	/* a port where nothing listens: the server's own, once stopped, is one */
	ck_assert_int_eq(rf_start(&none, NULL), 0);
	snprintf(url, sizeof(url), "%s", rf_url(&none, "x", NULL));
	rf_stop(&none);
	ck_assert_int_eq(numballoc_open(url, &o, &p), -ECONNREFUSED);
	ck_assert_int_eq(numballoc_unlink(url), -ECONNREFUSED);
	ck_assert_ptr_null(p);
	ck_assert_int_eq(numballoc_open("etcd://127.0.0.1/x", &o, &p), -EOPNOTSUPP);
	ck_assert_int_eq(numballoc_unlink("etcd://127.0.0.1/x"), -EOPNOTSUPP);
	ck_assert_int_eq(numballoc_open("redis://127.0.0.1:1/", &o, &p), -EINVAL);
	ck_assert_int_eq(numballoc_open("redis://127.0.0.1:0/x", &o, &p), -EINVAL);
	ck_assert_int_eq(numballoc_open("redis://127.0.0.1:70000/x", &o, &p), -EINVAL);
	ck_assert_int_eq(numballoc_open("redis://127.0.0.1", &o, &p), -EINVAL);
	ck_assert_int_eq(numballoc_open("redis:///x", &o, &p), -EINVAL);
	ck_assert_int_eq(numballoc_open("redis://h/a/b", &o, &p), -EINVAL);
	ck_assert_int_eq(numballoc_open("redis://h/{a}", &o, &p), -EINVAL);
	ck_assert_int_eq(numballoc_open("redis://h/a%zz", &o, &p), -EINVAL);
	ck_assert_int_eq(numballoc_open("redis://h/a?db=x", &o, &p), -EINVAL);
	ck_assert_int_eq(numballoc_open("redis://h/a?color=red", &o, &p), -EINVAL);
	ck_assert_ptr_null(p);
}
END_TEST

/* A server that does not answer (SIGSTOP): -ETIMEDOUT, and it goes on after. */
START_TEST(test_timeout)
{
	const char *name = tu_name("tmo");
	struct numballoc *p = rpool(&server, name, 16, 0, NUMBALLOC_LOWEST), *q = NULL;
	uint64_t id;
	int rt, rf;

	ck_assert_int_eq(numballoc_open(rf_url(&server, name, "timeout=200"), NULL, &q), 0);
	ck_assert_int_eq(numballoc_alloc_id(q, 3), 0);

	kill(server.pid, SIGSTOP);
	rt = numballoc_test(q, 3);
	rf = numballoc_free(q, 3);
	kill(server.pid, SIGCONT);	/* before any assertion: the server is shared */
	ck_assert_int_eq(rt, -ETIMEDOUT);
	ck_assert_int_eq(rf, -ETIMEDOUT);
	/* the free sent before may have run after all: it was the same free, once */
	ck_assert_int_ge(numballoc_test(q, 3), 0);
	ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_uint_le(used(p), 2);
	numballoc_close(q);
	numballoc_close(p);
}
END_TEST

/*
 * A reply lost to a timeout: the handle sends the same request again on a
 * new connection, and the server, which ran the first one when it woke,
 * answers the second from its record instead of doing it twice (a second
 * alloc_id would say EEXIST). The server wakes (SIGCONT from a child)
 * while the resent request waits.
 */
START_TEST(test_resend_answered_once)
{
	const char *name = tu_name("resend");
	struct numballoc *p = rpool(&server, name, 64, 0, NUMBALLOC_LOWEST), *q = NULL;
	uint64_t id = 0;
	int r = -1, tries;
	pid_t w;

	ck_assert_int_eq(numballoc_open(rf_url(&server, name, "timeout=1000"), NULL, &q), 0);
	ck_assert_int_eq(numballoc_test(q, 0), 0);	/* connected */
	for (tries = 0; tries < 3 && r != 0; tries++, id++) {
		kill(server.pid, SIGSTOP);
		w = fork();
		if (w == 0) {
			msleep(1500);	/* after the first timeout, before the second */
			kill(server.pid, SIGCONT);
			_exit(0);
		}
		r = numballoc_alloc_id(q, id);
		kill(server.pid, SIGCONT);
		waitpid(w, NULL, 0);
		ck_assert(r == 0 || r == -ETIMEDOUT);
		ck_assert_int_eq(numballoc_test(p, id), 1);	/* done, once */
	}
	ck_assert_int_eq(r, 0);
	ck_assert_int_eq(numballoc_alloc_id(p, id - 1), -EEXIST);
	numballoc_close(q);
	numballoc_close(p);
}
END_TEST

START_TEST(test_auth)
{
	struct numballoc_opts o = { .capacity = 10, .flags = NUMBALLOC_CREATE };
	struct numballoc *p = NULL;
	struct rf s;
	char url[160];
	uint64_t id;

	ck_assert_int_eq(rf_start(&s, "--requirepass s3cret"), 0);
	ck_assert_int_eq(numballoc_open(rf_url(&s, "a", NULL), &o, &p), -EACCES);
	snprintf(url, sizeof(url), "redis://:wrong@127.0.0.1:%d/a", s.port);
	ck_assert_int_eq(numballoc_open(url, &o, &p), -EACCES);
	snprintf(url, sizeof(url), "redis://nobody:s3cret@127.0.0.1:%d/a", s.port);
	ck_assert_int_eq(numballoc_open(url, &o, &p), -EACCES);
	ck_assert_ptr_null(p);
	snprintf(url, sizeof(url), "redis://:s3cr%%65t@127.0.0.1:%d/a?db=3", s.port);
	ck_assert_int_eq(numballoc_open(url, &o, &p), 0);
	ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	numballoc_close(p);
	snprintf(url, sizeof(url), "redis://default:s3cret@127.0.0.1:%d/a?db=3", s.port);
	ck_assert_int_eq(numballoc_open(url, NULL, &p), 0);
	ck_assert_int_eq(numballoc_test(p, id), 1);
	numballoc_close(p);
	rf_stop(&s);
}
END_TEST

/* Keys of another type: -NUMBALLOC_EKIND, and nothing written. */
START_TEST(test_wrongtype)
{
	const char *a = tu_name("wt"), *b = tu_name("wt");
	struct numballoc_opts o = { .capacity = 10, .flags = NUMBALLOC_CREATE };
	struct numballoc *p = NULL;
	char buf[256];
	uint64_t id;

	ck_assert_int_eq(rf_cmd(&server, buf, sizeof(buf), "SET nb:{%s}:meta x", a), 0);
	ck_assert_int_eq(numballoc_open(rf_url(&server, a, NULL), &o, &p), -NUMBALLOC_EKIND);
	ck_assert_int_eq(numballoc_unlink(rf_url(&server, a, NULL)), -NUMBALLOC_EKIND);
	ck_assert_int_eq(rf_cmd(&server, buf, sizeof(buf), "HSET nb:{%s}:meta magic other", a), 0);
	ck_assert_str_eq(buf, "-WRONGTYPE Operation against a key holding the wrong kind of value");
	ck_assert_int_eq(rf_cmd(&server, buf, sizeof(buf), "DEL nb:{%s}:meta", a), 0);
	ck_assert_int_eq(rf_cmd(&server, buf, sizeof(buf), "HSET nb:{%s}:meta magic other", a), 0);
	ck_assert_int_eq(numballoc_open(rf_url(&server, a, NULL), &o, &p), -NUMBALLOC_EKIND);
	ck_assert_ptr_null(p);
	/*
	 * An open pool whose lease keys are replaced: a holder's calls are
	 * refused before they write anything (the bits stay as they were).
	 */
	p = rpool(&server, b, 10, 0, 0);
	ck_assert_int_eq(numballoc_alloc_id(p, 2), 0);
	ck_assert_int_eq(numballoc_set_holder(p, "h", 60000), 0);
	ck_assert_int_eq(rf_cmd(&server, buf, sizeof(buf), "LPUSH nb:{%s}:leases x", b), 0);
	ck_assert_int_eq(numballoc_alloc(p, &id), -NUMBALLOC_EKIND);
	ck_assert_int_eq(numballoc_free(p, 2), -NUMBALLOC_EKIND);
	ck_assert_int_eq(rf_cmd(&server, buf, sizeof(buf), "DEL nb:{%s}:leases", b), 0);
	ck_assert_int_eq(rf_cmd(&server, buf, sizeof(buf), "LPUSH nb:{%s}:exp x", b), 0);
	ck_assert_int_eq(numballoc_alloc(p, &id), -NUMBALLOC_EKIND);
	ck_assert_int_eq(rf_cmd(&server, buf, sizeof(buf), "DEL nb:{%s}:exp", b), 0);
	ck_assert_int_eq(rf_cmd(&server, buf, sizeof(buf), "LPUSH nb:{%s}:h:h x", b), 0);
	ck_assert_int_eq(numballoc_alloc(p, &id), -NUMBALLOC_EKIND);
	ck_assert_int_eq(rf_cmd(&server, buf, sizeof(buf), "DEL nb:{%s}:h:h", b), 0);
	ck_assert_int_eq(numballoc_set_holder(p, NULL, 0), 0);
	ck_assert_uint_eq(used(p), 1);
	ck_assert_int_eq(numballoc_test(p, 2), 1);
	/* the pool's string replaced by a list: refused */
	ck_assert_int_eq(rf_cmd(&server, buf, sizeof(buf), "DEL nb:{%s}:ids", b), 0);
	ck_assert_int_eq(rf_cmd(&server, buf, sizeof(buf), "LPUSH nb:{%s}:ids x", b), 0);
	ck_assert_int_eq(numballoc_alloc(p, &id), -NUMBALLOC_EKIND);
	ck_assert_int_eq(numballoc_free(p, 2), -NUMBALLOC_EKIND);
	numballoc_close(p);
}
END_TEST

/*
 * A pool stored by the layout of version 1 (numballoc_1: bitmap, summary
 * and cursor in keys of their own) is refused with -NUMBALLOC_EVERSION,
 * not misread, whatever the flags; numballoc_unlink removes all of it,
 * and the name can then be created again.
 */
START_TEST(test_old_layout)
{
	const char *a = tu_name("v1");
	const char *url = rf_url(&server, a, NULL);
	struct numballoc_opts o = { .capacity = 100, .flags = NUMBALLOC_CREATE };
	struct numballoc *p = NULL;
	char buf[256];
	uint64_t id;

	ck_assert_int_eq(rf_cmd(&server, buf, sizeof(buf),
				"HSET nb:{%s}:meta magic numballoc-ids version 1 capacity 100 "
				"base 0 policy 0 flags 0 cursor 0 gen 0123456789abcdef", a), 0);
	ck_assert_int_eq(rf_cmd(&server, buf, sizeof(buf), "SETBIT nb:{%s}:bits 99 0", a), 0);
	ck_assert_int_eq(rf_cmd(&server, buf, sizeof(buf), "SETBIT nb:{%s}:bits 3 1", a), 0);
	ck_assert_int_eq(rf_cmd(&server, buf, sizeof(buf), "SETBIT nb:{%s}:full 0 0", a), 0);
	ck_assert_int_eq(numballoc_open(url, NULL, &p), -NUMBALLOC_EVERSION);
	ck_assert_int_eq(numballoc_open(url, &o, &p), -NUMBALLOC_EVERSION);
	o.flags |= NUMBALLOC_EXCL;
	ck_assert_int_eq(numballoc_open(url, &o, &p), -NUMBALLOC_EVERSION);
	ck_assert_ptr_null(p);
	/* nothing of it changed */
	ck_assert_int_eq(rf_cmd(&server, buf, sizeof(buf), "BITCOUNT nb:{%s}:bits", a), 0);
	ck_assert_str_eq(buf, ":1");
	ck_assert_int_eq(rf_cmd(&server, buf, sizeof(buf), "EXISTS nb:{%s}:ids", a), 0);
	ck_assert_str_eq(buf, ":0");
	/* a layout this library does not know yet */
	ck_assert_int_eq(rf_cmd(&server, buf, sizeof(buf), "HSET nb:{%s}:meta version 3", a), 0);
	ck_assert_int_eq(numballoc_open(url, NULL, &p), -NUMBALLOC_EVERSION);
	ck_assert_int_eq(numballoc_unlink(url), 0);
	ck_assert_int_eq(rf_cmd(&server, buf, sizeof(buf), "EXISTS nb:{%s}:meta nb:{%s}:bits "
				"nb:{%s}:full", a, a, a), 0);
	ck_assert_str_eq(buf, ":0");
	o.flags = NUMBALLOC_CREATE | NUMBALLOC_EXCL;
	ck_assert_int_eq(numballoc_open(url, &o, &p), 0);
	ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_uint_eq(id, 0);
	numballoc_close(p);
	ck_assert_int_eq(numballoc_unlink(url), 0);
}
END_TEST

/*
 * A pool of more than one summary chunk (65536 IDs each): random lowest
 * allocations, frees, specific IDs and blocks against a model, so that
 * every search that skips full chunks by the summary, and every change of
 * the summary, is checked; then full, and one freed in the first chunk.
 */
START_TEST(test_multi_chunk_model)
{
	const uint64_t cap = 3 * 65536 + 77;
	const char *name = tu_name("chunks");
	struct numballoc *p = rpool(&server, name, cap, 0, NUMBALLOC_LOWEST);
	unsigned char *m = calloc(cap, 1);
	uint64_t seed = 0x2545f4914f6cdd1dull, id, first, low, i, n;
	int k, r;

	ck_assert_ptr_nonnull(m);
	/* the first two chunks full but for a few IDs near their ends */
	ck_assert_int_eq(numballoc_alloc_block(p, 2 * 65536, 1, &first), 0);
	ck_assert_uint_eq(first, 0);
	memset(m, 1, 2 * 65536);
	for (k = 0; k < 600; k++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		n = (seed >> 33) % 8;
		/* IDs near the chunk edges: 65536 and 131072 */
		id = ((seed >> 20) % 2 + 1) * 65536 - 40 + (seed >> 40) % 80;
		if (n < 3) {
			for (low = 0; low < cap && m[low]; low++)
				;
			r = numballoc_alloc(p, &id);
			ck_assert_int_eq(r, 0);
			ck_assert_uint_eq(id, low);
			m[id] = 1;
		} else if (n < 6) {
			ck_assert_int_eq(numballoc_free(p, id), m[id] ? 0 : -ENOENT);
			m[id] = 0;
		} else if (n == 6) {
			ck_assert_int_eq(numballoc_alloc_id(p, id), m[id] ? -EEXIST : 0);
			m[id] = 1;
		} else {
			id -= id % 8;
			for (i = 0, r = 0; i < 8; i++)
				r |= !m[id + i];
			ck_assert_int_eq(numballoc_free_block(p, id, 8), r ? -ENOENT : 0);
			if (!r)
				memset(m + id, 0, 8);
		}
	}
	for (i = 0, n = 0; i < cap; i++)
		n += m[i];
	ck_assert_uint_eq(used(p), n);
	/* full (the IDs near the edges one by one, the untouched rest as a block) */
	for (i = 0; i < 2 * 65536 + 40; i++)
		if (!m[i]) {
			ck_assert_int_eq(numballoc_alloc_id(p, i), 0);
			m[i] = 1;
		}
	ck_assert_int_eq(numballoc_alloc_block(p, cap - i, 1, &first), 0);
	ck_assert_uint_eq(first, i);
	memset(m + i, 1, cap - i);
	/* then one free in the first chunk: found again */
	for (i = 0; i < cap; i++)
		ck_assert_int_eq(m[i], 1);
	ck_assert_int_eq(numballoc_alloc(p, &id), -ENOSPC);
	ck_assert_int_eq(numballoc_free(p, 5), 0);
	ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_uint_eq(id, 5);
	ck_assert_int_eq(numballoc_free(p, cap - 1), 0);
	ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_uint_eq(id, cap - 1);
	free(m);
	numballoc_close(p);
	ck_assert_int_eq(numballoc_unlink(rf_url(&server, name, NULL)), 0);
}
END_TEST

#ifdef HAVE_REDIS
/* One FCALL of the pool's function, as the handle TOKEN (HI, LO) in SLOT sends it. */
static redisReply *fcall(redisContext *c, const char *pool, const char *gen, unsigned int hi,
			 unsigned int lo, const char *slot, const char *op, const char *seq,
			 const char *arg1, const char *arg2)
{
	char keys[5][128], th[16], tl[16];
	const char *argv[19] = { "FCALL", "numballoc_2", "5" };
	const char *sfx[5] = { "meta", "ids", "leases", "exp", "req:" };
	int i, argc = 3;

	for (i = 0; i < 5; i++) {
		snprintf(keys[i], sizeof(keys[i]), "nb:{%s}:%s", pool, sfx[i]);
		argv[argc++] = keys[i];
	}
	snprintf(keys[4], sizeof(keys[4]), "nb:{%s}:req:%08x%08x", pool, hi, lo);
	snprintf(th, sizeof(th), "%u", hi);
	snprintf(tl, sizeof(tl), "%u", lo);
	argv[argc++] = op;
	argv[argc++] = gen;
	argv[argc++] = seq;
	argv[argc++] = "";	/* holder */
	argv[argc++] = "0";	/* ttl */
	argv[argc++] = slot;
	argv[argc++] = th;
	argv[argc++] = tl;
	argv[argc++] = arg1;
	argv[argc++] = arg2;
	argv[argc++] = "0";
	return redisCommandArgv(c, argc, argv, NULL);
}

/* "OK"/"ENOENT"... of a reply, and its value in *V. */
static const char *status(redisReply *r, long long *v)
{
	static char s[32];

	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
	snprintf(s, sizeof(s), "%s", r->element[0]->str);
	*v = r->elements > 1 ? r->element[1]->integer : -1;
	freeReplyObject(r);
	return s;
}
#endif

/*
 * Two handles that share a record slot (round robin gives slot k again
 * after 256 opens): a request of one sent again after the other wrote
 * the slot is still answered from its record (which the other moved to
 * the first's req key), never done twice; a free that failed is answered
 * as failed even once its ID is another's.
 */
START_TEST(test_record_slot_shared)
{
#ifdef HAVE_REDIS
	const char *a = tu_name("slot");
	struct numballoc *p = rpool(&server, a, 64, 0, NUMBALLOC_LOWEST);
	redisContext *c = redisConnect("127.0.0.1", server.port);
	redisReply *g;
	char gen[25];
	long long x, y, z;

	ck_assert(c && !c->err);
	g = redisCommand(c, "HGET nb:{%s}:meta gen", a);
	ck_assert(g && g->type == REDIS_REPLY_STRING && g->len == 16);
	snprintf(gen, sizeof(gen), "nbids-2:%s", g->str);
	freeReplyObject(g);
	/* A (1, 2) and B (3, 4), both in slot 7 */
	ck_assert_str_eq(status(fcall(c, a, gen, 1, 2, "7", "alloc", "1", "0", "63"), &x), "OK");
	ck_assert_str_eq(status(fcall(c, a, gen, 3, 4, "7", "alloc", "1", "0", "63"), &y), "OK");
	ck_assert_int_ne(x, y);
	ck_assert_str_eq(status(fcall(c, a, gen, 1, 2, "7", "alloc", "r1", "0", "63"), &z), "OK");
	ck_assert_int_eq(z, x);	/* from the record, not a third ID */
	ck_assert_str_eq(status(fcall(c, a, gen, 3, 4, "7", "alloc", "r1", "0", "63"), &z), "OK");
	ck_assert_int_eq(z, y);
	ck_assert_uint_eq(used(p), 2);
	/* a free, then the other's change, then the free sent again: done once */
	ck_assert_str_eq(status(fcall(c, a, gen, 1, 2, "7", "release", "2", "0", "1"), &z), "OK");
	ck_assert_str_eq(status(fcall(c, a, gen, 3, 4, "7", "alloc", "2", "0", "63"), &z), "OK");
	ck_assert_int_eq(z, 0);	/* A's ID 0 again, now B's */
	ck_assert_str_eq(status(fcall(c, a, gen, 1, 2, "7", "release", "r2", "0", "1"), &z), "OK");
	ck_assert_int_eq(numballoc_test(p, 0), 1);	/* B's, not freed by the resend */
	/* a free that failed, B takes the ID, the free sent again still fails */
	ck_assert_str_eq(status(fcall(c, a, gen, 1, 2, "7", "release", "3", "5", "1"), &z),
			 "ENOENT");
	ck_assert_int_eq(numballoc_alloc_id(p, 5), 0);
	ck_assert_str_eq(status(fcall(c, a, gen, 3, 4, "7", "alloc", "3", "0", "63"), &z), "OK");
	ck_assert_str_eq(status(fcall(c, a, gen, 1, 2, "7", "release", "r3", "5", "1"), &z),
			 "ENOENT");
	ck_assert_int_eq(numballoc_test(p, 5), 1);
	/* a slot or a bit out of range is refused, and writes nothing */
	ck_assert_str_eq(status(fcall(c, a, gen, 1, 2, "256", "alloc", "9", "0", "63"), &z),
			 "EINVAL");
	ck_assert_str_eq(status(fcall(c, a, gen, 1, 2, "-1", "release", "9", "0", "1"), &z),
			 "EINVAL");
	ck_assert_str_eq(status(fcall(c, a, gen, 1, 2, "7", "alloc", "9", "0", "64"), &z),
			 "EINVAL");
	ck_assert_str_eq(status(fcall(c, a, gen, 1, 2, "7", "release", "9", "64", "1"), &z),
			 "EINVAL");
	ck_assert_uint_eq(used(p), 4);
	/* a request that never ran, sent again: done now */
	ck_assert_str_eq(status(fcall(c, a, gen, 1, 2, "7", "alloc", "r4", "0", "63"), &z), "OK");
	ck_assert_int_eq(numballoc_test(p, (uint64_t)z), 1);
	redisFree(c);
	numballoc_close(p);
#endif
}
END_TEST

/* Another pool's parameters, EXCL, a missing pool, a pool removed under a handle. */
START_TEST(test_parameters)
{
	const char *name = tu_name("par");
	struct numballoc_opts o = { .capacity = 100, .base = 5, .policy = NUMBALLOC_CYCLIC,
				    .flags = NUMBALLOC_CREATE };
	struct numballoc *p = NULL, *q = NULL;
	const char *url = rf_url(&server, name, NULL);
	struct numballoc_stat st;
	uint64_t id;

	ck_assert_int_eq(numballoc_open(url, NULL, &p), -ENOENT);
	ck_assert_int_eq(numballoc_unlink(url), -ENOENT);
	o.flags = NUMBALLOC_CREATE;
	o.capacity = 0;
	ck_assert_int_eq(numballoc_open(url, &o, &p), -EINVAL);
	o.capacity = (UINT64_C(1) << 32) - (UINT64_C(1) << 17) + 1;	/* the string's limit */
	ck_assert_int_eq(numballoc_open(url, &o, &p), -EINVAL);
	o.capacity = 100;
	o.mode = 0600;
	ck_assert_int_eq(numballoc_open(url, &o, &p), -EINVAL);
	o.mode = 0;
	o.flags |= NUMBALLOC_OWNERS;
	ck_assert_int_eq(numballoc_open(url, &o, &p), -EOPNOTSUPP);
	o.flags = NUMBALLOC_CREATE;
	ck_assert_int_eq(numballoc_open(url, &o, &p), 0);
	o.flags = NUMBALLOC_CREATE | NUMBALLOC_EXCL;
	ck_assert_int_eq(numballoc_open(url, &o, &q), -EEXIST);
	o.flags = 0;
	o.capacity = 200;
	ck_assert_int_eq(numballoc_open(url, &o, &q), -EINVAL);
	o.capacity = 100;
	o.base = 6;
	ck_assert_int_eq(numballoc_open(url, &o, &q), -EINVAL);
	o.base = 5;
	o.policy = NUMBALLOC_SPREAD;
	ck_assert_int_eq(numballoc_open(url, &o, &q), -EINVAL);
	ck_assert_ptr_null(q);
	o.policy = 0;
	o.capacity = 0;
	o.base = 0;
	ck_assert_int_eq(numballoc_open(url, &o, &q), 0);
	ck_assert_int_eq(numballoc_stat(q, &st), 0);
	ck_assert_uint_eq(st.capacity, 100);
	ck_assert_uint_eq(st.base, 5);
	ck_assert_uint_eq(st.policy, NUMBALLOC_CYCLIC);
	ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	/* removed and made again with other parameters: the old handles are stale */
	ck_assert_int_eq(numballoc_unlink(url), 0);
	ck_assert_int_eq(numballoc_alloc(q, &id), -ESTALE);
	o.capacity = 10;
	o.flags = NUMBALLOC_CREATE;
	numballoc_close(q);
	ck_assert_int_eq(numballoc_open(url, &o, &q), 0);
	ck_assert_int_eq(numballoc_alloc(p, &id), -ESTALE);
	ck_assert_int_eq(numballoc_test(p, 5), -ESTALE);
	ck_assert_int_eq(numballoc_alloc(q, &id), 0);
	ck_assert_uint_eq(id, 0);
	numballoc_close(q);
	numballoc_close(p);
	ck_assert_int_eq(numballoc_unlink(url), 0);
}
END_TEST

/*
 * WAIT for a replica: with one that answers, an allocation is acknowledged;
 * with none, it fails with -ETIMEDOUT and the ID is not left allocated.
 */
START_TEST(test_wait_replica)
{
	const char *name = tu_name("wait");
	char conf[96], buf[128];
	struct numballoc *p = NULL, *q = NULL;
	struct rf rep;
	uint64_t id;
	int i;

	snprintf(conf, sizeof(conf), "--appendonly no --replicaof 127.0.0.1 %d", server.port);
	ck_assert_int_eq(rf_start(&rep, conf), 0);
	/* wait for the replica to be in sync */
	for (i = 0; i < 1000; i++) {
		rf_cmd(&rep, buf, sizeof(buf), "ROLE");
		ck_assert_int_eq(rf_cmd(&server, buf, sizeof(buf), "WAIT 1 10"), 0);
		if (!strcmp(buf, ":1"))
			break;
		msleep(10);
	}
	ck_assert_str_eq(buf, ":1");
	p = rpool(&server, name, 4, 0, NUMBALLOC_LOWEST);
	ck_assert_int_eq(numballoc_open(rf_url(&server, name, "wait=1&wait_timeout=5000"), NULL,
					&q), 0);
	ck_assert_int_eq(numballoc_alloc(q, &id), 0);
	ck_assert_uint_eq(id, 0);
	ck_assert_int_eq(numballoc_free(q, 0), 0);
	numballoc_close(q);
	/* a replica that cannot answer: the allocation is undone */
	kill(rep.pid, SIGSTOP);
	ck_assert_int_eq(numballoc_open(rf_url(&server, name, "wait=1&wait_timeout=200"), NULL,
					&q), 0);
	ck_assert_int_eq(numballoc_alloc(q, &id), -ETIMEDOUT);
	ck_assert_int_eq(numballoc_alloc_id(q, 2), -ETIMEDOUT);
	/* a free that a replica has not confirmed is no error: it can only leak */
	ck_assert_int_eq(numballoc_alloc_id(p, 3), 0);
	ck_assert_int_eq(numballoc_free(q, 3), 0);
	ck_assert_uint_eq(used(p), 0);
	kill(rep.pid, SIGCONT);
	numballoc_close(q);
	numballoc_close(p);
	rf_stop(&rep);
}
END_TEST

static Suite *redis_suite(void)
{
	Suite *s = suite_create("redis");
	TCase *tc;

	/* one case per theme, so that CK_RUN_CASE=leases runs one */
	tc = tcase_create("procs");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_procs_witness, NUMBALLOC_LOWEST, NUMBALLOC_SPREAD + 1);
	suite_add_tcase(s, tc);
	tc = tcase_create("kill9");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_kill9_restart, NUMBALLOC_LOWEST, NUMBALLOC_SPREAD + 1);
	suite_add_tcase(s, tc);
	tc = tcase_create("leases");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_lease_expires_while_stopped);
	tcase_add_test(tc, test_lease_renew_and_split);
	tcase_add_test(tc, test_lease_reclaim);
	tcase_add_test(tc, test_lease_on_shm);
	tcase_add_test(tc, test_readonly_range_owners);
	suite_add_tcase(s, tc);
	tc = tcase_create("lease");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_leased_ranges_killed_host);
	tcase_add_test(tc, test_leased_range_lease_lost);
	suite_add_tcase(s, tc);
	tc = tcase_create("failures");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_refused_and_bad_urls);
	tcase_add_test(tc, test_timeout);
	tcase_add_test(tc, test_resend_answered_once);
	tcase_add_test(tc, test_auth);
	tcase_add_test(tc, test_wrongtype);
	tcase_add_test(tc, test_old_layout);
	tcase_add_test(tc, test_multi_chunk_model);
	tcase_add_test(tc, test_record_slot_shared);
	tcase_add_test(tc, test_parameters);
	suite_add_tcase(s, tc);
	tc = tcase_create("wait");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_wait_replica);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	/*
	 * The shared server writes its AOF without fsync (a test of the
	 * guarantee, test_kill9_restart, starts its own with fsync always):
	 * an fsync per operation costs milliseconds on a busy disk.
	 */
	return rf_main(&server, "--appendfsync no", redis_suite());
}
