/* SPDX-License-Identifier: MIT */
/*
 * check_lowest.c - NUMBALLOC_LOWEST and its advice word (issue 20, session
 * 3; bitmap.c, "The lowest advice"):
 *   - one thread: every numballoc_alloc() and numballoc_alloc_in() returns
 *     exactly the lowest free ID of a model, under alloc, alloc_in,
 *     alloc_id, free and free_block, on a pool that keeps the advice
 *     (format version 4) and on one made as this build's predecessors
 *     made it (version 3, no advice);
 *   - real processes on a real shared pool allocating and freeing at
 *     once: no ID held twice, no -ENOSPC while a free ID exists, and
 *     afterwards no free ID hidden (one thread's allocations are the
 *     model's lowest again);
 *   - the advice as a crash or a hostile writer leaves it: a free ID
 *     below it is found by the definitive pass before any -ENOSPC, and
 *     the advice is healed.
 * The pool files live under tu_path() and are unlinked even on failure
 * (tu_run()); the header is read and rewritten here, so lib/segment.c is
 * linked for nb_header_checksum().
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "numballoc.h"
#include "segment.h"
#include "testutil.h"

/* A model: a bitmap of held IDs and its lowest clear bit in [lo, hi]. */
struct model {
	uint64_t cap;
	uint64_t *w;
};

static void model_init(struct model *m, uint64_t cap)
{
	m->cap = cap;
	m->w = calloc((cap + 63) / 64, 8);
	ck_assert_ptr_nonnull(m->w);
}

static int model_held(const struct model *m, uint64_t b)
{
	return (m->w[b / 64] >> (b % 64)) & 1;
}

static void model_set(struct model *m, uint64_t b, int on)
{
	if (on)
		m->w[b / 64] |= UINT64_C(1) << (b % 64);
	else
		m->w[b / 64] &= ~(UINT64_C(1) << (b % 64));
}

static uint64_t model_lowest(const struct model *m, uint64_t lo, uint64_t hi)
{
	uint64_t b = lo;

	while (b <= hi) {
		uint64_t x = ~m->w[b / 64] >> (b % 64);

		if (!x) {
			b = (b / 64 + 1) * 64;
			continue;
		}
		b += (uint64_t)__builtin_ctzll(x);
		return b <= hi ? b : UINT64_MAX;
	}
	return UINT64_MAX;
}

static uint32_t file_version(const char *path)
{
	struct nb_header h;
	int fd = open(path, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
	close(fd);
	return h.version;
}

/* Rewrite the header of PATH as version V, checksum and all. */
static void file_set_version(const char *path, uint32_t v)
{
	struct nb_header h;
	int fd = open(path, O_RDWR);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
	h.version = v;
	h.checksum = nb_header_checksum(&h);
	ck_assert_int_eq(pwrite(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
	close(fd);
}

/* The advice word of the pool in PATH: word 2 of the engine's cursor line. */
static off_t advice_off(const char *path)
{
	struct nb_header h;
	int fd = open(path, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
	close(fd);
	return (off_t)h.area_off[0] + 2 * 8;
}

static void advice_poke(const char *path, uint64_t v)
{
	int fd = open(path, O_RDWR);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, &v, 8, advice_off(path)), 8);
	close(fd);
}

static struct numballoc *file_pool(const char *path, uint64_t cap, uint64_t base,
				   unsigned int policy, unsigned int flags)
{
	struct numballoc_opts o = { .capacity = cap, .base = base, .policy = policy,
				    .path = path, .flags = flags };
	struct numballoc *p = NULL;

	ck_assert_int_eq(numballoc_open(NULL, &o, &p), 0);
	return p;
}

#define BASE 5000

/*
 * One thread against the model, ROUNDS operations: phases that fill the
 * pool and phases that empty it, so that searches cross full stretches,
 * the plain scan and the summary; frees in bursts (several below the
 * lowest before the next allocation), alloc_in over random ranges,
 * alloc_id and free_block. Every allocation must be the model's lowest.
 */
static void run_model(struct numballoc *p, uint64_t cap, uint64_t seed, int rounds)
{
	struct model m;
	uint64_t s = seed, nheld = 0, id, want, lo, hi, n, k;
	int i, r;

	model_init(&m, cap);
	for (i = 0; i < rounds; i++) {
		/* the fill drifts between about 40% and all, slowly */
		uint64_t target = cap / 2 + (uint64_t)((i / 5000) % 2 ? cap / 2 : cap / 10);
		uint64_t dice = tu_rand(&s) % 100;

		if (dice < 45 && nheld >= target)
			dice = 60;	/* full enough: a burst of frees instead */
		if (dice < 45) {
			want = model_lowest(&m, 0, cap - 1);
			r = numballoc_alloc(p, &id);
		} else if (dice < 50) {
			lo = tu_rand(&s) % cap;
			hi = lo + tu_rand(&s) % (cap - lo);
			if (tu_rand(&s) % 2)
				hi = cap - 1;
			want = model_lowest(&m, lo, hi);
			r = numballoc_alloc_in(p, BASE + lo, BASE + hi, &id);
		} else if (dice < 53) {
			want = tu_rand(&s) % cap;
			ck_assert_int_eq(numballoc_alloc_id(p, BASE + want),
					 model_held(&m, want) ? -EEXIST : 0);
			nheld += !model_held(&m, want);
			model_set(&m, want, 1);
			continue;
		} else if (dice < 55) {
			/* a block: freed whole if all held, else -ENOENT and nothing */
			lo = tu_rand(&s) % cap;
			n = 1 + tu_rand(&s) % 100;
			if (n > cap - lo)
				n = cap - lo;
			for (k = 0; k < n && model_held(&m, lo + k); k++)
				;
			r = numballoc_free_block(p, BASE + lo, n);
			if (k < n) {
				ck_assert_int_eq(r, -ENOENT);
				continue;
			}
			ck_assert_int_eq(r, 0);
			for (k = 0; k < n; k++)
				model_set(&m, lo + k, 0);
			nheld -= n;
			continue;
		} else {
			/* a burst of frees of held IDs, low ones often */
			int burst = 1 + (int)(tu_rand(&s) % 4);

			while (burst-- && nheld) {
				id = tu_rand(&s) % cap;
				if (tu_rand(&s) % 3 == 0)
					id /= 16;
				r = numballoc_free(p, BASE + id);
				ck_assert_int_eq(r, model_held(&m, id) ? 0 : -ENOENT);
				nheld -= model_held(&m, id);
				model_set(&m, id, 0);
			}
			continue;
		}
		if (want == UINT64_MAX) {
			ck_assert_int_eq(r, -ENOSPC);
			continue;
		}
		ck_assert_msg(r == 0 && id == BASE + want, "op %d: got %d, %llu, want %llu", i, r,
			      (unsigned long long)(id - BASE), (unsigned long long)want);
		model_set(&m, want, 1);
		nheld++;
	}
	/* to the last ID, in order */
	while ((want = model_lowest(&m, 0, cap - 1)) != UINT64_MAX) {
		ck_assert_int_eq(numballoc_alloc(p, &id), 0);
		ck_assert_uint_eq(id, BASE + want);
		model_set(&m, want, 1);
	}
	ck_assert_int_eq(numballoc_alloc(p, &id), -ENOSPC);
	free(m.w);
}

/* _i: 0, 1 a pool that keeps the advice (two sizes); 2 one of version 3. */
START_TEST(test_model_one_thread)
{
	static const uint64_t caps[] = { 4096 + 1000, 70000, 70000 };
	const char *path = tu_path("lowmodel");
	uint64_t cap = caps[_i];
	struct numballoc *p = file_pool(path, cap, BASE, NUMBALLOC_LOWEST,
					NUMBALLOC_CREATE | NUMBALLOC_EXCL);

	ck_assert_uint_eq(file_version(path), NB_VERSION_LOW);
	if (_i == 2) {
		/* as a build without the advice made it: still exact, no advice kept */
		numballoc_close(p);
		file_set_version(path, NB_VERSION);
		p = file_pool(path, 0, 0, 0, 0);
	}
	run_model(p, cap, 7 + (uint64_t)_i, _i == 2 ? 60000 : 200000);
	numballoc_close(p);
	unlink(path);
}
END_TEST

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Frees in turn below the advice, with no allocation between: each free
 * lowers it with one CAS to (X, S), which hides the L before it when
 * that L is clear (freed just before), and only the free's read of L
 * after its CAS brings it back. The allocations that follow must take
 * every freed ID, lowest first, then the next never held.
 */
START_TEST(test_frees_in_turn)
{
	static const uint64_t orders[][3] = {
		{ 5000, 3000, 0 }, { 3000, 5000, 0 }, { 5000, 3000, 100 }, { 9000, 64, 4000 },
		{ 700, 710, 705 }, { 9999, 5000, 1 },
	};
	const char *path = tu_path("lowturn");
	struct numballoc *p = file_pool(path, 70000, BASE, NUMBALLOC_LOWEST,
					NUMBALLOC_CREATE | NUMBALLOC_EXCL);
	uint64_t id, want[3], i, k, next = 10000;

	for (i = 0; i < next; i++) {
		ck_assert_int_eq(numballoc_alloc(p, &id), 0);
		ck_assert_uint_eq(id, BASE + i);
	}
	for (i = 0; i < sizeof(orders) / sizeof(orders[0]); i++) {
		for (k = 0; k < 3; k++) {
			ck_assert_int_eq(numballoc_free(p, BASE + orders[i][k]), 0);
			want[k] = orders[i][k];
		}
		/* the three in order, lowest first */
		qsort(want, 3, sizeof(want[0]), cmp_u64);
		for (k = 0; k < 3; k++) {
			ck_assert_int_eq(numballoc_alloc(p, &id), 0);
			ck_assert_msg(id == BASE + want[k], "order %llu: got %llu, want %llu",
				      (unsigned long long)i, (unsigned long long)(id - BASE),
				      (unsigned long long)want[k]);
		}
		ck_assert_int_eq(numballoc_alloc(p, &id), 0);
		ck_assert_uint_eq(id, BASE + next);
		next++;
	}
	numballoc_close(p);
	unlink(path);
}
END_TEST

/* Only LOWEST pools that keep the advice change version; the others stay readable by older builds. */
START_TEST(test_versions)
{
	static const struct {
		uint64_t cap;
		unsigned int policy, flags;
		uint32_t version;
	} c[] = {
		{ 100000, NUMBALLOC_LOWEST, 0, NB_VERSION_LOW },
		{ 100000, NUMBALLOC_CYCLIC, 0, NB_VERSION },
		{ 100000, NUMBALLOC_SPREAD, 0, NB_VERSION },
		{ 100000, NUMBALLOC_LOWEST, NUMBALLOC_OWNERS, NB_VERSION },
		{ 1000, NUMBALLOC_LOWEST, 0, NB_VERSION },	/* spaced */
	};
	unsigned int i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		const char *path = tu_path("lowver");
		struct numballoc *p = file_pool(path, c[i].cap, 0, c[i].policy,
						NUMBALLOC_CREATE | NUMBALLOC_EXCL | c[i].flags);

		numballoc_close(p);
		ck_assert_uint_eq(file_version(path), c[i].version);
		/* a version this build does not know is refused */
		file_set_version(path, NB_VERSION_LOW + 1);
		{
			struct numballoc_opts o = { .path = path };

			ck_assert_int_eq(numballoc_open(NULL, &o, &p), -NUMBALLOC_EVERSION);
		}
		unlink(path);
	}
}
END_TEST

/*
 * The advice as a crash or a hostile writer may leave it. A free ID below
 * it may be passed over while others are free above (the summary's own
 * limit, numballoc(7)), but never reported as -ENOSPC: the definitive
 * pass finds it and heals the advice, after which allocations are the
 * lowest again.
 */
START_TEST(test_advice_hides_nothing_for_good)
{
	/* nothing, the pool's end, all ones, L all ones, L = 3 with a stretch of 0 << 1 */
	static const uint64_t bad[] = { 0, 70000, UINT64_MAX, (UINT64_C(1) << 41) - 1,
					(UINT64_C(1) << 41) | 3 };
	const char *path = tu_path("lowheal");
	uint64_t cap = 70000, id, k;
	struct numballoc *p = file_pool(path, cap, 0, NUMBALLOC_LOWEST,
					NUMBALLOC_CREATE | NUMBALLOC_EXCL);
	unsigned int i;

	for (k = 0; k < cap; k++)
		ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* one free ID, hidden below the advice: the next allocation still has it */
		ck_assert_int_eq(numballoc_free(p, 777), 0);
		advice_poke(path, bad[i]);
		ck_assert_int_eq(numballoc_alloc(p, &id), 0);
		ck_assert_uint_eq(id, 777);
		ck_assert_int_eq(numballoc_alloc(p, &id), -ENOSPC);
		/* two free IDs, the advice between them: the upper one first, then the hidden one */
		ck_assert_int_eq(numballoc_free(p, 100), 0);
		ck_assert_int_eq(numballoc_free(p, 60000), 0);
		advice_poke(path, 50000);
		ck_assert_int_eq(numballoc_alloc(p, &id), 0);
		ck_assert_uint_eq(id, 60000);
		ck_assert_int_eq(numballoc_alloc(p, &id), 0);
		ck_assert_uint_eq(id, 100);
		/* healed: the lowest again */
		ck_assert_int_eq(numballoc_free(p, 40000), 0);
		ck_assert_int_eq(numballoc_free(p, 30000), 0);
		ck_assert_int_eq(numballoc_alloc(p, &id), 0);
		ck_assert_uint_eq(id, 30000);
		ck_assert_int_eq(numballoc_alloc(p, &id), 0);
		ck_assert_uint_eq(id, 40000);
		ck_assert_int_eq(numballoc_alloc(p, &id), -ENOSPC);
	}
	numballoc_close(p);
	unlink(path);
}
END_TEST

/*
 * Real processes at once. Each of NPROC children holds at most PER IDs,
 * all of them together fewer than the pool: an -ENOSPC is false. They
 * allocate, and free their held IDs (low ones often, in bursts, so that
 * frees below the advice race with allocations that move it). A shared
 * witness array catches an ID held twice. Afterwards the parent frees a
 * random half of what is held and checks that its allocations are
 * exactly the lowest free IDs: a free ID left hidden below the advice
 * would show as a higher one.
 */
#define NPROC 4
#define PCAP 8192
#define PER (PCAP / NPROC - 8)

struct shared {
	int go;
	int bad;		/* an ID held twice, or an ID outside the pool */
	int nospc;		/* false -ENOSPC */
	int errors;		/* any other failure */
	uint32_t witness[PCAP];	/* holder + 1, 0: free */
	uint32_t held[NPROC][PER];
	uint32_t nheld[NPROC];
};

static void child(const char *path, struct shared *sh, int who, int ops)
{
	struct numballoc_opts o = { .path = path };
	struct numballoc *p;
	uint32_t *held = sh->held[who], n = 0;
	uint64_t s = 1234 + (uint64_t)who, id;
	int i, r;

	if (numballoc_open(NULL, &o, &p) < 0)
		_exit(10);
	while (!__atomic_load_n(&sh->go, __ATOMIC_ACQUIRE))
		;
	for (i = 0; i < ops; i++) {
		if (n < PER && (n < PER / 2 || tu_rand(&s) % 2)) {
			r = numballoc_alloc(p, &id);
			if (r == -ENOSPC) {
				__atomic_add_fetch(&sh->nospc, 1, __ATOMIC_RELAXED);
				continue;
			}
			if (r < 0) {
				__atomic_add_fetch(&sh->errors, 1, __ATOMIC_RELAXED);
				continue;
			}
			if (id >= PCAP ||
			    __atomic_exchange_n(&sh->witness[id], (uint32_t)who + 1,
						__ATOMIC_ACQ_REL) != 0) {
				__atomic_add_fetch(&sh->bad, 1, __ATOMIC_RELAXED);
				continue;
			}
			held[n++] = (uint32_t)id;
		} else {
			int burst = 1 + (int)(tu_rand(&s) % 3);

			while (burst-- && n) {
				/* the lowest of two picks: frees below the advice are common */
				uint32_t a = (uint32_t)(tu_rand(&s) % n), b = (uint32_t)(tu_rand(&s) % n);
				uint32_t k = held[a] < held[b] ? a : b;

				id = held[k];
				held[k] = held[--n];
				__atomic_store_n(&sh->witness[id], 0, __ATOMIC_RELEASE);
				if (numballoc_free(p, id) < 0)
					__atomic_add_fetch(&sh->errors, 1, __ATOMIC_RELAXED);
			}
		}
	}
	sh->nheld[who] = n;
	numballoc_close(p);
	_exit(0);
}

START_TEST(test_processes_hide_nothing)
{
	const char *path = tu_path("lowprocs");
	struct shared *sh = tu_shared(sizeof(*sh));
	struct numballoc *p = file_pool(path, PCAP, 0, NUMBALLOC_LOWEST,
					NUMBALLOC_CREATE | NUMBALLOC_EXCL);
	struct model m;
	uint64_t id, want, s = 77 + (uint64_t)_i, k;
	pid_t pids[NPROC];
	int i, w;

	ck_assert_uint_eq(file_version(path), NB_VERSION_LOW);
	for (i = 0; i < NPROC; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0)
			child(path, sh, i, 1000000);
	}
	__atomic_store_n(&sh->go, 1, __ATOMIC_RELEASE);
	ck_assert_int_eq(tu_wait_all(pids, NPROC), 0);
	ck_assert_int_eq(sh->bad, 0);
	ck_assert_int_eq(sh->nospc, 0);
	ck_assert_int_eq(sh->errors, 0);
	/* the pool holds exactly what the children hold */
	model_init(&m, PCAP);
	for (w = 0; w < NPROC; w++)
		for (k = 0; k < sh->nheld[w]; k++)
			model_set(&m, sh->held[w][k], 1);
	for (id = 0; id < PCAP; id++)
		ck_assert_int_eq(numballoc_test(p, id), model_held(&m, id));
	/* nothing hidden: one thread's allocations are the lowest free, to the end */
	for (k = 0; k < PCAP / 4; k++) {
		id = tu_rand(&s) % PCAP;
		if (model_held(&m, id)) {
			ck_assert_int_eq(numballoc_free(p, id), 0);
			model_set(&m, id, 0);
		}
	}
	while ((want = model_lowest(&m, 0, PCAP - 1)) != UINT64_MAX) {
		ck_assert_int_eq(numballoc_alloc(p, &id), 0);
		ck_assert_uint_eq(id, want);
		model_set(&m, want, 1);
	}
	ck_assert_int_eq(numballoc_alloc(p, &id), -ENOSPC);
	free(m.w);
	numballoc_close(p);
	unlink(path);
}
END_TEST

/*
 * The same children, but the parent looks right after they stop, before
 * it frees anything: the first allocation must be the lowest free ID.
 * A free ID hidden below the advice by a race (not a crash) shows here.
 */
START_TEST(test_processes_first_is_lowest)
{
	const char *path = tu_path("lowfirst");
	struct shared *sh = tu_shared(sizeof(*sh));
	struct numballoc *p = file_pool(path, PCAP, 0, NUMBALLOC_LOWEST,
					NUMBALLOC_CREATE | NUMBALLOC_EXCL);
	uint64_t id, want = UINT64_MAX;
	pid_t pids[NPROC];
	int i, round;

	for (round = 0; round < 8; round++) {
		memset(sh, 0, sizeof(*sh));
		for (i = 0; i < NPROC; i++) {
			pids[i] = fork();
			ck_assert_int_ge(pids[i], 0);
			if (pids[i] == 0)
				child(path, sh, i, 40000);
		}
		__atomic_store_n(&sh->go, 1, __ATOMIC_RELEASE);
		ck_assert_int_eq(tu_wait_all(pids, NPROC), 0);
		ck_assert_int_eq(sh->bad + sh->nospc + sh->errors, 0);
		for (id = 0; id < PCAP && want == UINT64_MAX; id++)
			if (!numballoc_test(p, id))
				want = id;
		ck_assert_int_eq(numballoc_alloc(p, &id), 0);
		ck_assert_uint_eq(id, want);
		ck_assert_int_eq(numballoc_free(p, id), 0);
		want = UINT64_MAX;
		/* the next round starts from an empty pool */
		while (numballoc_next(p, 0, &id) == 0)
			ck_assert_int_eq(numballoc_free(p, id), 0);
	}
	numballoc_close(p);
	unlink(path);
}
END_TEST

static Suite *lowest_suite(void)
{
	Suite *s = suite_create("lowest");
	TCase *tc = tcase_create("lowest");

	tcase_set_timeout(tc, 240);
	tcase_add_loop_test(tc, test_model_one_thread, 0, 3);
	tcase_add_test(tc, test_versions);
	tcase_add_test(tc, test_frees_in_turn);
	tcase_add_test(tc, test_advice_hides_nothing_for_good);
	tcase_add_loop_test(tc, test_processes_hide_nothing, 0, 2);
	tcase_add_test(tc, test_processes_first_is_lowest);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(lowest_suite());
}
