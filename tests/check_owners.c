/* SPDX-License-Identifier: MIT */
/*
 * check_owners.c - owner records and reclaim on real processes.
 *
 * Children allocate on a shared pool and die (exit, SIGKILL) or stay alive;
 * the parent checks that reclaim frees exactly what the dead held, never
 * what the living hold, that the recorded holder is right (even when a
 * process names itself with spaces and parentheses), that a record naming
 * a live pid with another start time counts as dead (a reused pid), and
 * that concurrent reclaimers and allocators never hand out an ID twice.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "numballoc.h"
#include "segment.h"
#include "testutil.h"

static struct numballoc *open_owners(const char *name, uint64_t cap, unsigned int policy)
{
	struct numballoc_opts o;
	struct numballoc *p;

	memset(&o, 0, sizeof(o));
	o.capacity = cap;
	o.policy = policy;
	o.flags = NUMBALLOC_CREATE | NUMBALLOC_OWNERS;
	ck_assert_int_eq(numballoc_open(name, &o, &p), 0);
	return p;
}

static struct numballoc *open_existing(const char *name)
{
	struct numballoc *p;

	ck_assert_int_eq(numballoc_open(name, NULL, &p), 0);
	return p;
}

static uint64_t used(struct numballoc *p)
{
	struct numballoc_stat st;

	ck_assert_int_eq(numballoc_stat(p, &st), 0);
	return st.used;
}

/* A child that waits on a pipe until the parent closes it. */
struct sleeper {
	pid_t pid;
	int wfd;	/* parent's end: close it to let the child go */
	int rfd;	/* parent reads the child's "ready" byte here */
};

/* Fork a child that runs FN(ARG), writes one byte, then waits for EOF and exits 0. */
static void sleeper_start(struct sleeper *s, void (*fn)(void *), void *arg)
{
	int go[2], ready[2];
	char c;

	ck_assert_int_eq(pipe(go), 0);
	ck_assert_int_eq(pipe(ready), 0);
	s->pid = fork();
	ck_assert_int_ge(s->pid, 0);
	if (s->pid == 0) {
		close(go[1]);
		close(ready[0]);
		fn(arg);
		if (write(ready[1], "r", 1) != 1)
			_exit(3);
		while (read(go[0], &c, 1) > 0)
			;
		_exit(0);
	}
	close(go[0]);
	close(ready[1]);
	s->wfd = go[1];
	s->rfd = ready[0];
	ck_assert_int_eq(read(s->rfd, &c, 1), 1);
}

static void sleeper_stop(struct sleeper *s, int kill_it)
{
	int st;

	if (kill_it)
		kill(s->pid, SIGKILL);
	close(s->wfd);
	close(s->rfd);
	ck_assert_int_eq(waitpid(s->pid, &st, 0), s->pid);
}

struct alloc_job {
	const char *name;
	int n;			/* single IDs */
	uint64_t block;		/* and one block of this many (0: none) */
	const char *comm;	/* process name to take first, or NULL */
	uint64_t *ids;		/* shared: the IDs taken, n + block of them */
};

static void alloc_job(void *arg)
{
	struct alloc_job *j = arg;
	struct numballoc *p;
	uint64_t id, i;
	int k;

	if (j->comm)
		prctl(PR_SET_NAME, j->comm, 0, 0, 0);
	if (numballoc_open(j->name, NULL, &p) < 0)
		_exit(2);
	for (k = 0; k < j->n; k++) {
		if (numballoc_alloc(p, &id) < 0)
			_exit(2);
		j->ids[k] = id;
	}
	if (j->block) {
		if (numballoc_alloc_block(p, j->block, 1, &id) < 0)
			_exit(2);
		for (i = 0; i < j->block; i++)
			j->ids[j->n + i] = id + i;
	}
	numballoc_close(p);	/* the IDs stay: they belong to the process */
}

START_TEST(test_recorded_holder)
{
	const char *name = tu_name("own");
	struct numballoc *p = open_owners(name, 300, NUMBALLOC_LOWEST);
	struct numballoc_stat st;
	uint64_t id, first, n;
	pid_t who;

	ck_assert_int_eq(numballoc_stat(p, &st), 0);
	ck_assert_uint_eq(st.flags & NUMBALLOC_OWNERS, NUMBALLOC_OWNERS);
	ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_uint_eq(id, 0);
	ck_assert_int_eq(numballoc_owner(p, id, &who), 0);
	ck_assert_int_eq(who, getpid());
	ck_assert_int_eq(numballoc_alloc_id(p, 77), 0);
	ck_assert_int_eq(numballoc_alloc_id(p, 77), -EEXIST);
	ck_assert_int_eq(numballoc_owner(p, 77, &who), 0);
	ck_assert_int_eq(who, getpid());
	ck_assert_int_eq(numballoc_alloc_block(p, 70, 64, &first), 0);
	ck_assert_uint_eq(first, 128);	/* 64 would overlap 77 */
	for (n = first; n < first + 70; n++) {
		ck_assert_int_eq(numballoc_owner(p, n, &who), 0);
		ck_assert_int_eq(who, getpid());
	}
	ck_assert_int_eq(numballoc_owner(p, 1, &who), -ENOENT);
	ck_assert_int_eq(numballoc_owner(p, 300, &who), -EINVAL);
	/* A live holder loses nothing to reclaim. */
	ck_assert_int_eq(numballoc_reclaim(p, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(used(p), 72);
	/* free_block: all or nothing */
	ck_assert_int_eq(numballoc_free_block(p, 126, 4), -ENOENT);
	ck_assert_uint_eq(used(p), 72);
	ck_assert_int_eq(numballoc_free_block(p, first, 70), 0);
	ck_assert_int_eq(numballoc_free(p, 77), 0);
	ck_assert_int_eq(numballoc_free(p, 77), -ENOENT);
	ck_assert_int_eq(numballoc_owner(p, 77, &who), -ENOENT);
	ck_assert_int_eq(numballoc_free(p, id), 0);
	ck_assert_uint_eq(used(p), 0);
	numballoc_close(p);
	ck_assert_int_eq(numballoc_unlink(name), 0);
}
END_TEST

START_TEST(test_not_an_owner_pool)
{
	const char *name = tu_name("plain");
	struct numballoc_opts o;
	struct numballoc *p, *q;
	uint64_t n;
	pid_t who;

	memset(&o, 0, sizeof(o));
	o.capacity = 10;
	o.flags = NUMBALLOC_CREATE;
	ck_assert_int_eq(numballoc_open(name, &o, &p), 0);
	ck_assert_int_eq(numballoc_alloc_id(p, 3), 0);
	ck_assert_int_eq(numballoc_set_owner(p, getpid()), -EOPNOTSUPP);
	ck_assert_int_eq(numballoc_owner(p, 3, &who), -EOPNOTSUPP);
	ck_assert_int_eq(numballoc_reclaim(p, &n), -EOPNOTSUPP);
	ck_assert_int_eq(numballoc_free_owner(p, getpid(), &n), -EOPNOTSUPP);
	/* asking for owners on a pool that keeps none is a contradiction */
	o.flags = NUMBALLOC_OWNERS;
	o.capacity = 0;
	ck_assert_int_eq(numballoc_open(name, &o, &q), -EINVAL);
	ck_assert_int_eq(numballoc_set_owner(NULL, 0), -EINVAL);
	ck_assert_int_eq(numballoc_reclaim(NULL, &n), -EINVAL);
	numballoc_close(p);
	/* an owner pool opened without the flag still keeps owners */
	name = tu_name("own2");
	p = open_owners(name, 10, NUMBALLOC_LOWEST);
	q = open_existing(name);
	ck_assert_int_eq(numballoc_alloc_id(q, 4), 0);
	ck_assert_int_eq(numballoc_owner(p, 4, &who), 0);
	ck_assert_int_eq(who, getpid());
	ck_assert_int_eq(numballoc_free_owner(p, 0, &n), -EINVAL);
	ck_assert_int_eq(numballoc_set_owner(p, -1), -EINVAL);
	numballoc_close(q);
	numballoc_close(p);
}
END_TEST

/* Exit, SIGKILL, and a process name full of parentheses: all reclaimed once dead. */
START_TEST(test_reclaim_dead)
{
	static const char *comms[] = { NULL, "a) b (c ) d", ") ) Z 1 2" };
	const char *name = tu_name("dead");
	struct numballoc *p = open_owners(name, 200, _i % 3);
	struct alloc_job j = { name, 10, 7, comms[_i % 3], NULL };
	struct sleeper s;
	uint64_t n, k;
	pid_t who;

	j.ids = tu_shared(64 * sizeof(uint64_t));
	sleeper_start(&s, alloc_job, &j);
	ck_assert_uint_eq(used(p), 17);
	/* alive: its records name it and reclaim leaves them */
	for (k = 0; k < 17; k++) {
		ck_assert_int_eq(numballoc_owner(p, j.ids[k], &who), 0);
		ck_assert_int_eq(who, s.pid);
	}
	ck_assert_int_eq(numballoc_reclaim(p, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(used(p), 17);
	sleeper_stop(&s, _i % 2);
	ck_assert_int_eq(numballoc_reclaim(p, &n), 0);
	ck_assert_uint_eq(n, 17);
	ck_assert_uint_eq(used(p), 0);
	for (k = 0; k < 17; k++)
		ck_assert_int_eq(numballoc_test(p, j.ids[k]), 0);
	ck_assert_int_eq(numballoc_reclaim(p, &n), 0);
	ck_assert_uint_eq(n, 0);
	numballoc_close(p);
}
END_TEST

/* A record that names a live pid with another start time: a reused pid. */
START_TEST(test_reused_pid)
{
	const char *path = tu_path("reuse");
	struct numballoc_opts o;
	struct numballoc *p;
	struct nb_header h;
	uint64_t n, *recs;
	void *map;
	int fd;

	memset(&o, 0, sizeof(o));
	o.capacity = 64;
	o.path = path;
	o.flags = NUMBALLOC_CREATE | NUMBALLOC_OWNERS;
	ck_assert_int_eq(numballoc_open(NULL, &o, &p), 0);
	ck_assert_int_eq(numballoc_alloc_id(p, 5), 0);
	ck_assert_int_eq(numballoc_alloc_id(p, 6), 0);
	fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
	ck_assert_uint_ne(h.area_off[1], 0);
	ck_assert_uint_eq(h.area_size[1], 64 * sizeof(uint64_t));
	map = mmap(NULL, h.total_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(map, MAP_FAILED);
	recs = (uint64_t *)(void *)((char *)map + h.area_off[1]);
	ck_assert_uint_eq(recs[5] & 0x3fffff, (uint64_t)getpid());
	recs[5] += UINT64_C(1) << 22;	/* same pid, started one tick later */
	ck_assert_int_eq(numballoc_reclaim(p, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(numballoc_test(p, 5), 0);
	ck_assert_int_eq(numballoc_test(p, 6), 1);
	ck_assert_uint_eq(recs[5], 0);
	/* a set bit with an empty record (no rule makes it) is healed too */
	recs[6] = 0;
	ck_assert_int_eq(numballoc_reclaim(p, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(numballoc_test(p, 6), 0);
	munmap(map, h.total_size);
	close(fd);
	numballoc_close(p);
}
END_TEST

/* numballoc_set_owner: allocate on behalf of another process. */
START_TEST(test_set_owner)
{
	const char *name = tu_name("setown");
	struct numballoc *p = open_owners(name, 50, NUMBALLOC_LOWEST);
	struct alloc_job nothing = { name, 0, 0, NULL, NULL };
	struct sleeper s;
	uint64_t id, n;
	pid_t who, gone;

	nothing.ids = tu_shared(sizeof(uint64_t));
	sleeper_start(&s, alloc_job, &nothing);
	ck_assert_int_eq(numballoc_set_owner(p, s.pid), 0);
	ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_int_eq(numballoc_alloc_id(p, 40), 0);
	ck_assert_int_eq(numballoc_owner(p, id, &who), 0);
	ck_assert_int_eq(who, s.pid);
	ck_assert_int_eq(numballoc_set_owner(p, 0), 0);
	ck_assert_int_eq(numballoc_alloc_id(p, 41), 0);
	ck_assert_int_eq(numballoc_owner(p, 41, &who), 0);
	ck_assert_int_eq(who, getpid());
	ck_assert_int_eq(numballoc_reclaim(p, &n), 0);
	ck_assert_uint_eq(n, 0);
	gone = s.pid;
	sleeper_stop(&s, 1);
	ck_assert_int_eq(numballoc_set_owner(p, gone), -ESRCH);
	/* the named holder died: its IDs go, ours stay */
	ck_assert_int_eq(numballoc_reclaim(p, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(numballoc_test(p, 40), 0);
	ck_assert_int_eq(numballoc_test(p, 41), 1);
	numballoc_close(p);
}
END_TEST

START_TEST(test_free_owner)
{
	const char *name = tu_name("freeown");
	struct numballoc *p = open_owners(name, 100, NUMBALLOC_CYCLIC);
	struct alloc_job j = { name, 5, 9, NULL, NULL };
	struct sleeper s;
	uint64_t id, n;

	j.ids = tu_shared(32 * sizeof(uint64_t));
	ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	sleeper_start(&s, alloc_job, &j);
	ck_assert_uint_eq(used(p), 15);
	ck_assert_int_eq(numballoc_free_owner(p, s.pid, &n), 0);
	ck_assert_uint_eq(n, 14);
	ck_assert_uint_eq(used(p), 1);
	ck_assert_int_eq(numballoc_test(p, id), 1);
	ck_assert_int_eq(numballoc_free_owner(p, s.pid, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(numballoc_free_owner(p, getpid(), NULL), 0);
	ck_assert_uint_eq(used(p), 0);
	sleeper_stop(&s, 0);
	numballoc_close(p);
}
END_TEST

/* A full pool whose holders died: allocations reclaim by themselves. */
START_TEST(test_auto_reclaim)
{
	const char *name = tu_name("auto");
	struct numballoc *p = open_owners(name, 64, NUMBALLOC_LOWEST);
	struct alloc_job j = { name, 60, 4, NULL, NULL };
	struct sleeper s;
	uint64_t id, first;

	j.ids = tu_shared(64 * sizeof(uint64_t));
	sleeper_start(&s, alloc_job, &j);
	ck_assert_int_eq(numballoc_alloc(p, &id), -ENOSPC);
	ck_assert_int_eq(numballoc_alloc_id(p, 9), -EEXIST);
	sleeper_stop(&s, 1);
	ck_assert_int_eq(numballoc_alloc_id(p, 9), 0);	/* reclaims this one ID */
	ck_assert_uint_eq(used(p), 64);
	ck_assert_int_eq(numballoc_alloc_block(p, 16, 16, &first), 0);
	ck_assert_uint_eq(first, 16);	/* 0..15 holds our 9 */
	ck_assert_uint_eq(used(p), 17);	/* the block reclaimed everything */
	ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_uint_eq(id, 0);
	numballoc_close(p);
}
END_TEST

/*
 * Dead holders, many reclaimers at once, allocators in between: every
 * dead-held ID is released exactly once, and no ID is handed out twice.
 */
#define RECLAIMERS 3
#define VICTIMS 4
#define PER_VICTIM 30
struct race {
	int go;
	int bad;
	uint64_t reclaimed[RECLAIMERS];
	int witness[];
};

static void reclaimer(const char *name, struct race *r, int k)
{
	struct numballoc *p;
	uint64_t n, id, mine[40];
	int i, got = 0;

	if (numballoc_open(name, NULL, &p) < 0)
		_exit(2);
	while (!__atomic_load_n(&r->go, __ATOMIC_ACQUIRE))
		sched_yield();
	if (numballoc_reclaim(p, &n) < 0)
		_exit(2);
	r->reclaimed[k] = n;
	/* take some, check them against the witness, give them back */
	for (i = 0; i < 40; i++) {
		if (numballoc_alloc(p, &id) < 0)
			break;
		if (__atomic_exchange_n(&r->witness[id], 1, __ATOMIC_SEQ_CST))
			__atomic_add_fetch(&r->bad, 1, __ATOMIC_SEQ_CST);
		mine[got++] = id;
	}
	for (i = 0; i < got; i++) {
		__atomic_store_n(&r->witness[mine[i]], 0, __ATOMIC_SEQ_CST);
		if (numballoc_free(p, mine[i]) < 0)
			__atomic_add_fetch(&r->bad, 1, __ATOMIC_SEQ_CST);
	}
	numballoc_close(p);
	_exit(0);
}

START_TEST(test_concurrent_reclaim)
{
	const char *name = tu_name("race");
	uint64_t cap = VICTIMS * PER_VICTIM + RECLAIMERS * 40 + 10, total = 0;
	struct numballoc *p = open_owners(name, cap, NUMBALLOC_SPREAD);
	struct race *r = tu_shared(sizeof(*r) + cap * sizeof(int));
	struct alloc_job j = { name, PER_VICTIM, 0, NULL, NULL };
	pid_t pids[RECLAIMERS];
	struct sleeper s;
	int v, k;

	j.ids = tu_shared(PER_VICTIM * sizeof(uint64_t));
	for (v = 0; v < VICTIMS; v++) {
		sleeper_start(&s, alloc_job, &j);
		sleeper_stop(&s, v % 2);
	}
	ck_assert_uint_eq(used(p), VICTIMS * PER_VICTIM);
	for (k = 0; k < RECLAIMERS; k++) {
		pids[k] = fork();
		ck_assert_int_ge(pids[k], 0);
		if (pids[k] == 0)
			reclaimer(name, r, k);
	}
	__atomic_store_n(&r->go, 1, __ATOMIC_RELEASE);
	ck_assert_int_eq(tu_wait_all(pids, RECLAIMERS), 0);
	for (k = 0; k < RECLAIMERS; k++)
		total += r->reclaimed[k];
	ck_assert_uint_eq(total, VICTIMS * PER_VICTIM);
	ck_assert_int_eq(r->bad, 0);
	ck_assert_uint_eq(used(p), 0);
	numballoc_close(p);
}
END_TEST

/* Threads of one process on one handle (also the ThreadSanitizer case). */
struct tctx {
	struct numballoc *p;
	int *witness;
	int bad;
};

static void *owner_thread(void *arg)
{
	struct tctx *c = arg;
	uint64_t id, first, i;
	int k;

	for (k = 0; k < 2000; k++) {
		if (k % 7 == 0) {
			if (numballoc_alloc_block(c->p, 3, 1, &first) < 0)
				continue;
			for (i = first; i < first + 3; i++)
				if (__atomic_exchange_n(&c->witness[i], 1, __ATOMIC_SEQ_CST))
					__atomic_add_fetch(&c->bad, 1, __ATOMIC_SEQ_CST);
			for (i = first; i < first + 3; i++)
				__atomic_store_n(&c->witness[i], 0, __ATOMIC_SEQ_CST);
			if (numballoc_free_block(c->p, first, 3) < 0)
				__atomic_add_fetch(&c->bad, 1, __ATOMIC_SEQ_CST);
			continue;
		}
		if (numballoc_alloc(c->p, &id) < 0)
			continue;
		if (__atomic_exchange_n(&c->witness[id], 1, __ATOMIC_SEQ_CST))
			__atomic_add_fetch(&c->bad, 1, __ATOMIC_SEQ_CST);
		if (k % 50 == 0)
			numballoc_reclaim(c->p, NULL);
		__atomic_store_n(&c->witness[id], 0, __ATOMIC_SEQ_CST);
		if (numballoc_free(c->p, id) < 0)
			__atomic_add_fetch(&c->bad, 1, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

START_TEST(test_threads)
{
	struct numballoc_opts o;
	struct tctx c;
	pthread_t t[4];
	int i;

	memset(&o, 0, sizeof(o));
	o.capacity = 40;
	o.policy = _i;
	o.flags = NUMBALLOC_OWNERS;	/* a private pool */
	ck_assert_int_eq(numballoc_open(NULL, &o, &c.p), 0);
	c.witness = calloc(40, sizeof(int));
	c.bad = 0;
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, owner_thread, &c), 0);
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	ck_assert_int_eq(c.bad, 0);
	ck_assert_uint_eq(used(c.p), 0);
	free(c.witness);
	numballoc_close(c.p);
}
END_TEST

static Suite *owners_suite(void)
{
	Suite *s = suite_create("owners");
	TCase *tc = tcase_create("owners");

	tcase_add_test(tc, test_recorded_holder);
	tcase_add_test(tc, test_not_an_owner_pool);
	tcase_add_loop_test(tc, test_reclaim_dead, 0, 3);
	tcase_add_test(tc, test_reused_pid);
	tcase_add_test(tc, test_set_owner);
	tcase_add_test(tc, test_free_owner);
	tcase_add_test(tc, test_auto_reclaim);
	tcase_add_test(tc, test_concurrent_reclaim);
	tcase_add_loop_test(tc, test_threads, 0, 3);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(owners_suite());
}
