/* SPDX-License-Identifier: MIT */
/*
 * check_procs.c - real processes on a real shared segment.
 *
 * A witness array in shared anonymous memory records who holds what: a
 * holder marks its ID with an atomic exchange and must find it unmarked, so
 * an ID handed to two processes at once is caught whatever the timing.
 * At the end the pool's own count must equal what the processes still hold.
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bitmap.h"	/* NB_SPACED_MAX: the largest pool with 8 IDs per cache line */
#include "numballoc.h"
#include "testutil.h"

#define NPROC 4
#define MAXHELD 100

struct shared {
	int go;			/* children start together when set */
	int bad;		/* violations seen by children */
	int errors;		/* unexpected return values */
	uint64_t held[NPROC];	/* IDs each child still holds at its exit */
	uint64_t nospc;		/* -ENOSPC answers (the pool is small on purpose) */
	int witness[];		/* one per ID: 1 while someone holds it */
};

static struct shared *shared_new(uint64_t ids)
{
	return tu_shared(sizeof(struct shared) + ids * sizeof(int));
}

static void wait_go(struct shared *sh)
{
	while (!__atomic_load_n(&sh->go, __ATOMIC_ACQUIRE))
		sched_yield();
}

static void hold(struct shared *sh, uint64_t idx)
{
	if (__atomic_exchange_n(&sh->witness[idx], 1, __ATOMIC_SEQ_CST))
		__atomic_add_fetch(&sh->bad, 1, __ATOMIC_SEQ_CST);
}

static void unhold(struct shared *sh, uint64_t idx)
{
	if (!__atomic_exchange_n(&sh->witness[idx], 0, __ATOMIC_SEQ_CST))
		__atomic_add_fetch(&sh->bad, 1, __ATOMIC_SEQ_CST);
}

struct held {
	uint64_t first;
	uint64_t count;
};

/* One child: random allocs (single IDs and blocks of 4) and frees. */
static void churn(const char *name, struct shared *sh, int me, uint64_t base, int ops)
{
	struct held h[MAXHELD];
	struct numballoc *p;
	uint64_t s = 0x51ed + (uint64_t)me * 7777, id, k;
	int n = 0, i, r;

	if (numballoc_open(name, NULL, &p) < 0)
		_exit(10);
	wait_go(sh);
	for (i = 0; i < ops; i++) {
		uint64_t dice = tu_rand(&s) % 16;

		if (n < MAXHELD && dice < 8) {
			r = numballoc_alloc(p, &id);
			if (r == -ENOSPC) {
				__atomic_add_fetch(&sh->nospc, 1, __ATOMIC_RELAXED);
				continue;
			}
			if (r < 0) {
				__atomic_add_fetch(&sh->errors, 1, __ATOMIC_SEQ_CST);
				continue;
			}
			hold(sh, id - base);
			h[n++] = (struct held){ id, 1 };
		} else if (n < MAXHELD && dice == 8) {
			r = numballoc_alloc_block(p, 4, 4, &id);
			if (r == -ENOSPC)
				continue;
			if (r < 0 || (id - base) % 4) {
				__atomic_add_fetch(&sh->errors, 1, __ATOMIC_SEQ_CST);
				continue;
			}
			for (k = 0; k < 4; k++)
				hold(sh, id - base + k);
			h[n++] = (struct held){ id, 4 };
		} else if (n) {
			int j = (int)(tu_rand(&s) % (uint64_t)n);
			struct held x = h[j];

			h[j] = h[--n];
			for (k = 0; k < x.count; k++)
				unhold(sh, x.first - base + k);
			r = x.count == 1 ? numballoc_free(p, x.first)
					 : numballoc_free_block(p, x.first, x.count);
			if (r != 0)
				__atomic_add_fetch(&sh->errors, 1, __ATOMIC_SEQ_CST);
		}
	}
	for (i = 0; i < n; i++)
		sh->held[me] += h[i].count;
	numballoc_close(p);
	_exit(0);
}

/*
 * _i % 3 is the policy. _i < 3: a pool of 250 IDs (spaced, 8 IDs per cache
 * line). _i >= 3: a pool too big to be spaced (64 IDs per word), of which
 * the parent takes all but 250 at random first, marked in the witness as
 * its own, so that the children share 250 free IDs over many words.
 */
#define FREE_IDS 250

START_TEST(test_witness_many_processes)
{
	const char *name = tu_name("witness");
	uint64_t cap = _i < 3 ? FREE_IDS : NB_SPACED_MAX + 1000, pre = cap - FREE_IDS;
	struct numballoc_opts o = { .capacity = cap, .base = 1000, .policy = (unsigned int)_i % 3,
				    .flags = NUMBALLOC_CREATE | NUMBALLOC_EXCL };
	struct shared *sh = shared_new(cap);
	struct numballoc *p;
	struct numballoc_stat st;
	pid_t pids[NPROC];
	uint64_t total = 0, id, s = 99, k;
	int i;

	ck_assert_int_eq(numballoc_open(name, &o, &p), 0);
	for (k = 0; k < pre;) {
		id = 1000 + tu_rand(&s) % cap;
		if (!sh->witness[id - 1000]) {
			ck_assert_int_eq(numballoc_alloc_id(p, id), 0);
			sh->witness[id - 1000] = 1;
			k++;
		}
	}
	for (i = 0; i < NPROC; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0)
			churn(name, sh, i, 1000, 200000);
	}
	__atomic_store_n(&sh->go, 1, __ATOMIC_RELEASE);
	ck_assert_int_eq(tu_wait_all(pids, NPROC), 0);
	ck_assert_int_eq(sh->bad, 0);
	ck_assert_int_eq(sh->errors, 0);
	for (i = 0; i < NPROC; i++)
		total += sh->held[i];
	ck_assert_int_eq(numballoc_stat(p, &st), 0);
	ck_assert_uint_eq(st.used, pre + total);
	for (id = 1000; id < 1000 + cap; id++)
		ck_assert_int_eq(numballoc_test(p, id), sh->witness[id - 1000]);
	/* the pool was under pressure: the -ENOSPC path ran too */
	ck_assert_uint_gt(sh->nospc, 0);
	/* everything free again: all of it can be had */
	while (numballoc_next(p, 0, &id) == 0)
		ck_assert_int_eq(numballoc_free(p, id), 0);
	for (k = 0; k < cap; k++)
		ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_int_eq(numballoc_alloc(p, &id), -ENOSPC);
	numballoc_close(p);
	numballoc_unlink(name);
}
END_TEST

/*
 * Creation race: NPROC processes create the same fresh pool at the same
 * moment and allocate from it at once, for many rounds, through a name and
 * through a file. Exactly one pool results; no duplicate, no crash.
 */
#define RACE_IDS 8

static void racer(const char *name, const char *path, struct shared *sh)
{
	struct numballoc_opts o = { .capacity = 64, .path = path, .flags = NUMBALLOC_CREATE };
	struct numballoc *p;
	uint64_t id;
	int k, r;

	wait_go(sh);
	r = numballoc_open(name, &o, &p);
	if (r < 0)
		_exit(20);
	for (k = 0; k < RACE_IDS; k++) {
		if (numballoc_alloc(p, &id) < 0 || id >= 64)
			_exit(21);
		hold(sh, id);
	}
	numballoc_close(p);
	_exit(0);
}

START_TEST(test_creation_race)
{
	struct shared *sh = shared_new(64);
	int round, i, dups = 0, failed = 0;

	for (round = 0; round < 250; round++) {
		const char *name = round % 2 ? tu_name("race") : NULL;
		const char *path = round % 2 ? NULL : tu_path("race");
		struct numballoc_opts o = { .path = path };
		struct numballoc *p;
		struct numballoc_stat st;
		pid_t pids[NPROC];

		memset(sh, 0, sizeof(*sh) + 64 * sizeof(int));
		for (i = 0; i < NPROC; i++) {
			pids[i] = fork();
			ck_assert_int_ge(pids[i], 0);
			if (pids[i] == 0)
				racer(name, path, sh);
		}
		__atomic_store_n(&sh->go, 1, __ATOMIC_RELEASE);
		failed += tu_wait_all(pids, NPROC);
		dups += sh->bad;
		ck_assert_int_eq(numballoc_open(name, &o, &p), 0);
		ck_assert_int_eq(numballoc_stat(p, &st), 0);
		ck_assert_uint_eq(st.used, NPROC * RACE_IDS);
		numballoc_close(p);
		if (name)
			numballoc_unlink(name);
		else
			unlink(path);
	}
	ck_assert_int_eq(failed, 0);
	ck_assert_int_eq(dups, 0);
}
END_TEST

/*
 * CYCLIC windows (issue 20, idpool.c) across processes, one after the
 * other so that the order is exact; a packed pool, so windows are used.
 * What numballoc_alloc(3) promises:
 *   - a freed ID is not handed out again by another handle before the
 *     cycle has gone round, whatever windows a handle still open holds;
 *   - a handle closed after a few allocations leaves the cursor just after
 *     its last ID (its window goes back);
 *   - a process killed with a window in flight leaves the cursor at most
 *     one window (CYC_SPAN_MAX IDs) ahead, and nothing is lost: every free
 *     ID can still be had, and -ENOSPC comes only when none is free.
 */
#define CYC_IDS 20000
#define CYC_SPAN_MAX 4096	/* idpool.c's CYCLIC_SPAN_MAX */
#define CYC_A 3000

struct cyc {
	int phase;			/* set by the parent: the step a child may take */
	int done;			/* set by the child: the step it finished */
	uint64_t n;			/* IDs in ids[] */
	uint64_t ids[2 * CYC_IDS];	/* what a child got, in order */
};

static void cyc_wait(struct cyc *c, int phase)
{
	while (__atomic_load_n(&c->phase, __ATOMIC_ACQUIRE) < phase)
		sched_yield();
}

static void cyc_step_done(struct cyc *c, int step)
{
	__atomic_store_n(&c->done, step, __ATOMIC_RELEASE);
}

static void cyc_wait_done(struct cyc *c, int step)
{
	while (__atomic_load_n(&c->done, __ATOMIC_ACQUIRE) < step)
		sched_yield();
}

/* Allocate N IDs (all of them while N is 0) into C->ids; exits 30 on an error. */
static void cyc_take(struct numballoc *p, struct cyc *c, uint64_t n)
{
	uint64_t id, k;
	int r;

	for (k = 0; !n || k < n; k++) {
		r = numballoc_alloc(p, &id);
		if (r == -ENOSPC && !n)
			return;
		if (r < 0)
			_exit(30);
		c->ids[c->n++] = id;
	}
}

START_TEST(test_cyclic_windows_processes)
{
	const char *name = tu_name("cycwin");
	struct numballoc_opts o = { .capacity = CYC_IDS, .policy = NUMBALLOC_CYCLIC,
				    .flags = NUMBALLOC_CREATE | NUMBALLOC_EXCL };
	struct cyc *a = tu_shared(sizeof(*a)), *b = tu_shared(sizeof(*b));
	struct numballoc *p, *q;
	struct numballoc_stat st;
	uint64_t k, first, last, id;
	pid_t pa, pb;
	int st_a;

	ck_assert_int_eq(numballoc_open(name, &o, &p), 0);
	/* A: CYC_A IDs, all freed again, its handle (and window) kept open */
	pa = fork();
	ck_assert_int_ge(pa, 0);
	if (pa == 0) {
		if (numballoc_open(name, NULL, &q) < 0)
			_exit(31);
		cyc_take(q, a, CYC_A);
		for (k = 0; k < CYC_A; k++)
			if (numballoc_free(q, a->ids[k]) < 0)
				_exit(32);
		cyc_step_done(a, 1);
		cyc_wait(a, 2);
		numballoc_close(q);
		_exit(0);
	}
	cyc_wait_done(a, 1);
	for (k = 0; k < CYC_A; k++)	/* a fresh pool, one handle: 0, 1, 2, ... */
		ck_assert_uint_eq(a->ids[k], k);
	/* B, a new process: the whole pool, while A's window is in flight */
	pb = fork();
	ck_assert_int_ge(pb, 0);
	if (pb == 0) {
		if (numballoc_open(name, NULL, &q) < 0)
			_exit(31);
		cyc_take(q, b, 0);
		numballoc_close(q);
		_exit(0);
	}
	ck_assert_int_eq(tu_wait_all(&pb, 1), 0);
	ck_assert_uint_eq(b->n, CYC_IDS);
	/* from the cursor A left, at most one window past its last ID ... */
	first = b->ids[0];
	ck_assert_uint_ge(first, CYC_A);
	ck_assert_uint_le(first, CYC_A + CYC_SPAN_MAX);
	/* ... round the cycle: no ID A freed before the top of the pool */
	for (k = 0; k < CYC_IDS; k++)
		ck_assert_uint_eq(b->ids[k], (first + k) % CYC_IDS);
	__atomic_store_n(&a->phase, 2, __ATOMIC_RELEASE);
	ck_assert_int_eq(tu_wait_all(&pa, 1), 0);

	/* everything free; a handle that takes a few IDs and closes gives its window back */
	for (k = 0; k < CYC_IDS; k++)
		ck_assert_int_eq(numballoc_free(p, k), 0);
	memset(b, 0, sizeof(*b));
	pb = fork();
	ck_assert_int_ge(pb, 0);
	if (pb == 0) {
		if (numballoc_open(name, NULL, &q) < 0)
			_exit(31);
		cyc_take(q, b, 100);
		numballoc_close(q);
		_exit(0);
	}
	ck_assert_int_eq(tu_wait_all(&pb, 1), 0);
	last = b->ids[99];
	for (k = 1; k < 100; k++)
		ck_assert_uint_eq(b->ids[k], (b->ids[0] + k) % CYC_IDS);
	ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_uint_eq(id, (last + 1) % CYC_IDS);
	ck_assert_int_eq(numballoc_free(p, id), 0);

	/* a process killed with a window in flight */
	memset(a, 0, sizeof(*a));
	pa = fork();
	ck_assert_int_ge(pa, 0);
	if (pa == 0) {
		if (numballoc_open(name, NULL, &q) < 0)
			_exit(31);
		cyc_take(q, a, 5000);
		raise(SIGKILL);
		_exit(33);
	}
	ck_assert_int_eq(waitpid(pa, &st_a, 0), pa);
	ck_assert(WIFSIGNALED(st_a) && WTERMSIG(st_a) == SIGKILL);
	ck_assert_uint_eq(a->n, 5000);
	last = a->ids[4999];
	numballoc_close(p);
	ck_assert_int_eq(numballoc_open(name, NULL, &p), 0);	/* a new handle: the shared cursor */
	ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_uint_ge((id + CYC_IDS - last) % CYC_IDS, 1);
	ck_assert_uint_le((id + CYC_IDS - last) % CYC_IDS, CYC_SPAN_MAX + 1);
	/* nothing lost: every free ID comes, then -ENOSPC */
	for (k = 1; k < CYC_IDS - 5100; k++)	/* B still holds 100 */
		ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_int_eq(numballoc_alloc(p, &id), -ENOSPC);
	ck_assert_int_eq(numballoc_stat(p, &st), 0);
	ck_assert_uint_eq(st.used, CYC_IDS);
	numballoc_close(p);
	numballoc_unlink(name);
	munmap(a, sizeof(*a));
	munmap(b, sizeof(*b));
}
END_TEST

/*
 * SPREAD and CYCLIC (_i) with real processes on a pool that stays nearly
 * full (issue 20: spread's next fit, its freed ID, its whole search;
 * cyclic's windows and cursor). Each of NPROC children holds at most
 * NFE_PER IDs, all of them together NFE_FREE fewer than the pool, so an
 * -ENOSPC is false; the witness catches an ID held twice. A child
 * allocates up to its share, then frees a burst of its IDs at random, so
 * that the pool stays within NFE_FREE + 4 * NPROC IDs of full and its free
 * IDs keep moving.
 */
#define NFE_IDS 8192	/* packed: more than NB_SPACED_MAX */
#define NFE_FREE 32
#define NFE_PER ((NFE_IDS - NFE_FREE) / NPROC)

static void nfe_child(const char *name, struct shared *sh, int me, int ops)
{
	static uint64_t held[NFE_PER];
	struct numballoc *p;
	uint64_t s = 0xfe + (uint64_t)me * 31, id, n = 0;
	int i, r;

	if (numballoc_open(name, NULL, &p) < 0)
		_exit(10);
	wait_go(sh);
	for (i = 0; i < ops; i++) {
		if (n < NFE_PER) {
			r = numballoc_alloc(p, &id);
			if (r == -ENOSPC) {
				__atomic_add_fetch(&sh->nospc, 1, __ATOMIC_RELAXED);
				continue;
			}
			if (r < 0 || id >= NFE_IDS) {
				__atomic_add_fetch(&sh->errors, 1, __ATOMIC_SEQ_CST);
				continue;
			}
			hold(sh, id);
			held[n++] = id;
		} else {
			int burst = 1 + (int)(tu_rand(&s) % 4);

			while (burst-- && n) {
				uint64_t k = tu_rand(&s) % n;

				id = held[k];
				held[k] = held[--n];
				unhold(sh, id);
				if (numballoc_free(p, id) != 0)
					__atomic_add_fetch(&sh->errors, 1, __ATOMIC_SEQ_CST);
			}
		}
	}
	sh->held[me] = n;
	numballoc_close(p);
	_exit(0);
}

START_TEST(test_nearly_full_processes)
{
	const char *name = tu_name("nearfull");
	unsigned int policy = _i ? NUMBALLOC_SPREAD : NUMBALLOC_CYCLIC;
	struct numballoc_opts o = { .capacity = NFE_IDS, .policy = policy,
				    .flags = NUMBALLOC_CREATE | NUMBALLOC_EXCL };
	struct shared *sh = shared_new(NFE_IDS);
	struct numballoc *p;
	struct numballoc_stat st;
	pid_t pids[NPROC];
	uint64_t total = 0, id;
	int i;

	ck_assert_int_eq(numballoc_open(name, &o, &p), 0);
	for (i = 0; i < NPROC; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0)
			nfe_child(name, sh, i, 300000);
	}
	__atomic_store_n(&sh->go, 1, __ATOMIC_RELEASE);
	ck_assert_int_eq(tu_wait_all(pids, NPROC), 0);
	numballoc_unlink(name);
	ck_assert_int_eq(sh->bad, 0);
	ck_assert_int_eq(sh->errors, 0);
	ck_assert_uint_eq(sh->nospc, 0);
	for (i = 0; i < NPROC; i++)
		total += sh->held[i];
	ck_assert_int_eq(numballoc_stat(p, &st), 0);
	ck_assert_uint_eq(st.used, total);
	for (id = 0; id < NFE_IDS; id++)
		ck_assert_int_eq(numballoc_test(p, id), sh->witness[id]);
	numballoc_close(p);
}
END_TEST

/*
 * SPREAD's free leaves the summary alone (issue 20, session 5): a thread
 * that frees into full words keeps only the last of them from summary
 * searches, and a process killed right after its frees, before any
 * allocation fills the words again, loses no ID. The pool is full (each
 * ID set by numballoc_alloc_id(), which keeps the summary exact). The
 * child frees A, in the last word the inline paths take, then B, in word
 * 0, and is killed -9. The parent's blocks of one are first fit from 0 by
 * the summary: A must come first (B's free showed A's word), then B (its
 * word hidden: found by the definitive pass), then -ENOSPC. Loop 1 (issue
 * 20, session 6): B is the pool's last ID, whose free takes numballoc_free()'s
 * other path (free_edge(), the slow release, which keeps the summary): it
 * must show A's word too, or B would come first.
 */
#define SKF_IDS 65536
#define SKF_A (SKF_IDS - 2 * 64 + 5)	/* word 1022: the last word is left to the slow path */
#define SKF_B 7				/* word 0 */

START_TEST(test_spread_killed_free)
{
	const char *name = tu_name("skfree");
	struct numballoc_opts o = { .capacity = SKF_IDS, .policy = NUMBALLOC_SPREAD,
				    .flags = NUMBALLOC_CREATE | NUMBALLOC_EXCL };
	struct numballoc *p, *q;
	uint64_t id, b = _i ? SKF_IDS - 1 : SKF_B;
	int fd[2], st;
	pid_t pid;
	char c;

	ck_assert_int_eq(numballoc_open(name, &o, &p), 0);
	for (id = 0; id < SKF_IDS; id++)
		ck_assert_int_eq(numballoc_alloc_id(p, id), 0);
	ck_assert_int_eq(pipe(fd), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* the allocation makes this thread's slot the handle's: the inline free */
		if (numballoc_open(name, NULL, &q) < 0 || numballoc_alloc(q, &id) != -ENOSPC ||
		    numballoc_free(q, SKF_A) != 0 || numballoc_free(q, b) != 0)
			_exit(1);
		if (write(fd[1], "x", 1) != 1)
			_exit(2);
		for (;;)
			pause();
	}
	close(fd[1]);
	if (read(fd[0], &c, 1) != 1) {	/* the child failed: its status says where */
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		numballoc_unlink(name);
		ck_abort_msg("child exited with %d", WEXITSTATUS(st));
	}
	close(fd[0]);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	numballoc_unlink(name);
	ck_assert_int_eq(numballoc_alloc_block(p, 1, 1, &id), 0);
	ck_assert_uint_eq(id, SKF_A);
	ck_assert_int_eq(numballoc_alloc_block(p, 1, 1, &id), 0);
	ck_assert_uint_eq(id, b);
	ck_assert_int_eq(numballoc_alloc_block(p, 1, 1, &id), -ENOSPC);
	ck_assert_int_eq(numballoc_alloc(p, &id), -ENOSPC);
	numballoc_close(p);
}
END_TEST

/*
 * A SPREAD thread's kept word is shown when the same thread closes its
 * handle: the pool full, the thread frees A (word 1022), then B (word 0:
 * A's word is shown, B's kept), and closes; a search from the bottom by
 * the summary then finds B first. Without the show at close B's word
 * stays hidden and A comes first. Loop 1 opens, uses and closes four
 * other handles between the frees and the close (each takes a hint
 * slot): the slots let go at close are taken first, so the kept one is
 * not lost to them (it was, with the slots taken in turn).
 */
START_TEST(test_spread_close_shows)
{
	const char *name = tu_name("scshow");
	const char *other = tu_name("scshow-o");
	struct numballoc_opts o = { .capacity = SKF_IDS, .policy = NUMBALLOC_SPREAD,
				    .flags = NUMBALLOC_CREATE | NUMBALLOC_EXCL };
	struct numballoc_opts oo = { .capacity = 64, .policy = NUMBALLOC_SPREAD,
				     .flags = NUMBALLOC_CREATE | NUMBALLOC_EXCL };
	struct numballoc *p, *q, *r;
	uint64_t id;
	int k;

	ck_assert_int_eq(numballoc_open(name, &o, &p), 0);
	for (id = 0; id < SKF_IDS; id++)
		ck_assert_int_eq(numballoc_alloc_id(p, id), 0);
	ck_assert_int_eq(numballoc_open(name, NULL, &q), 0);
	ck_assert_int_eq(numballoc_alloc(q, &id), -ENOSPC);	/* this thread's slot is q's */
	ck_assert_int_eq(numballoc_free(q, SKF_A), 0);
	ck_assert_int_eq(numballoc_free(q, SKF_B), 0);
	if (_i == 1) {
		ck_assert_int_eq(numballoc_open(other, &oo, &r), 0);
		numballoc_close(r);
		for (k = 0; k < 4; k++) {
			ck_assert_int_eq(numballoc_open(other, NULL, &r), 0);
			ck_assert_int_eq(numballoc_alloc(r, &id), 0);
			ck_assert_int_eq(numballoc_free(r, id), 0);
			numballoc_close(r);
		}
		numballoc_unlink(other);
	}
	numballoc_close(q);
	numballoc_unlink(name);
	ck_assert_int_eq(numballoc_alloc_block(p, 1, 1, &id), 0);
	ck_assert_uint_eq(id, SKF_B);
	ck_assert_int_eq(numballoc_alloc_block(p, 1, 1, &id), 0);
	ck_assert_uint_eq(id, SKF_A);
	ck_assert_int_eq(numballoc_alloc_block(p, 1, 1, &id), -ENOSPC);
	numballoc_close(p);
}
END_TEST

static Suite *procs_suite(void)
{
	Suite *s = suite_create("procs");
	TCase *tc = tcase_create("procs");

	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, test_witness_many_processes, 0, 6);
	tcase_add_test(tc, test_creation_race);
	tcase_add_test(tc, test_cyclic_windows_processes);
	tcase_add_loop_test(tc, test_nearly_full_processes, 0, 2);
	tcase_add_loop_test(tc, test_spread_killed_free, 0, 2);
	tcase_add_loop_test(tc, test_spread_close_shows, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(procs_suite());
}
