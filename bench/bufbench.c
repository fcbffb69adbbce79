/* SPDX-License-Identifier: MIT */
/*
 * bufbench.c - the buffer face against single-threaded-class and
 * shared-memory allocators, one thread, two threads and two processes.
 *
 *	numballoc-bufbench [--quick] [--ops N] [--rounds R] [--only LABEL] [--mode M]
 *			   [--level P]
 *
 * (--only: numballoc's default placement and the allocators whose label
 * starts with LABEL, e.g. "segfit". --mode: only mode M, 0 one thread,
 * 1 two threads, 2 two processes, e.g. to profile one; the others print 0.
 * --level: only the level P, 50 or 85, e.g. to profile one.)
 *
 * Workload (issue 16, as issue 5): a buffer of 2^20 units, sizes
 * log-uniform in 1..256 units, filled to 50% (then 85%) live, then N
 * operations held at that level: a fair coin between allocating a random
 * size and freeing a random live allocation while the live units are
 * within 1% of the level, else the operation that brings them back. The
 * random values are the same for every allocator. No prefetch of the
 * allocation to free.
 *
 * Modes: one thread does all N; two threads of one process share one
 * handle and do N/2 each; two forked processes each open the buffer by
 * name (their own handle) and do N/2 each. Each thread or process fills
 * its share of the level first, in turn, then all start together.
 *
 * Allocators (bench/fit.h): numballoc's default placement, numballoc with
 * NUMBALLOC_BUF_FIRST_FIT, a segregated-fit allocator under a
 * process-shared mutex (bench/segfit.c), "offset": an O(1)
 * single-threaded offset allocator in the manner of OffsetAllocator
 * (bench/offsetfit.c, one-thread mode only, no lock; its caller keeps the
 * node number it returns, as OffsetAllocator's keep its metadata),
 * Boost.Interprocess
 * managed_shared_memory when it was built (else a line says it is skipped),
 * and "floor": no allocator at all (offsets from a wrapping cursor, frees
 * that do nothing, a cursor per thread), the workload's own cost around
 * the calls.
 *
 * Printed: ns per operation (one thread: its CPU time and wall time;
 * two: wall time over all N), throughput of two over one (wall), free
 * units over the largest free range at the end, and failures (-ENOSPC);
 * "target=" numballoc's one-thread CPU time over offset's (the issue's
 * one-thread target, at most 2x, judged in the same run);
 * for numballoc, when there were failures, a comment line says how many
 * found no free range of their size right after. The end of a run is no
 * witness for its failures: first fit at 85% can use up its top range
 * for a while and free it again (tests/check_firstfit.c).
 * Every figure is the median of R rounds; in each round every allocator
 * runs every mode, so a noisy machine's swings fall on all alike. The
 * ratios are of medians of the rounds' own ratios. Nothing is asserted;
 * the program exits non-zero only when an allocator hands out a unit
 * twice (checked in the one-thread runs) or cannot be set up.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "numballoc.h"
#include "bench-util.h"
#include "fit.h"

#define UNITS (UINT64_C(1) << 20)
#define MAXR 15
#define NFIT 6
#define NMODE 3

/* --------------------------------------------------- numballoc as a fit */

static int nb_make(struct fit *f)
{
	struct numballoc_buf_opts o = { .capacity = f->units, .max_capacity = f->units,
					.flags = NUMBALLOC_CREATE | NUMBALLOC_EXCL };
	struct numballoc_buf *b;
	int r;

	snprintf(f->name, sizeof(f->name), "nb-bufbench-%ld-%x", (long)getpid(), f->flags);
	numballoc_unlink(f->name);
	r = numballoc_buf_open(f->name, &o, &b);
	if (r == 0)
		numballoc_buf_close(b);
	return r;
}

static int nb_join(struct fit *f)
{
	struct numballoc_buf_opts o = { .flags = f->flags };

	return numballoc_buf_open(f->name, &o, (struct numballoc_buf **)&f->local);
}

static int nb_alloc(struct fit *f, uint64_t n, uint64_t *start, uint32_t *tag)
{
	(void)tag;
	return numballoc_buf_alloc(f->local, n, start);
}

static int nb_free(struct fit *f, uint64_t start, uint64_t n, uint32_t tag)
{
	(void)tag;
	return numballoc_buf_dealloc(f->local, start, n);
}

static double nb_frag(struct fit *f)
{
	struct numballoc_buf_stat st;

	if (numballoc_buf_stat(f->local, &st) < 0 || !st.largest_free)
		return 0.0;
	return (double)st.free_size / (double)st.largest_free;
}

static uint64_t nb_largest(struct fit *f)
{
	struct numballoc_buf_stat st;

	return numballoc_buf_stat(f->local, &st) < 0 ? 0 : st.largest_free;
}

static void nb_leave(struct fit *f)
{
	numballoc_buf_close(f->local);
	f->local = NULL;
}

static void nb_unmake(struct fit *f)
{
	numballoc_unlink(f->name);
}

void fit_numballoc(struct fit *f, unsigned int flags)
{
	f->label = flags ? "numballoc first-fit" : "numballoc";
	f->flags = flags;
	f->make = nb_make;
	f->join = nb_join;
	f->alloc = nb_alloc;
	f->free = nb_free;
	f->frag = nb_frag;
	f->largest = nb_largest;
	f->leave = nb_leave;
	f->unmake = nb_unmake;
}

/*
 * The floor: not an allocator. It hands out offsets from a cursor that
 * wraps and frees nothing, so a figure for it is what the workload itself
 * (random sizes, random picks in the live array) costs around the calls.
 */
static int fl_make(struct fit *f)
{
	f->shared = calloc(1, sizeof(uint64_t));
	return f->shared ? 0 : -ENOMEM;
}

static int fl_join(struct fit *f)
{
	f->local = f->shared;
	return 0;
}

static int fl_alloc(struct fit *f, uint64_t n, uint64_t *start, uint32_t *tag)
{
	static __thread uint64_t cur;	/* each thread its own: nothing shared */

	(void)tag;
	*start = cur % f->units;
	cur += n;
	return 0;
}

static int fl_free(struct fit *f, uint64_t start, uint64_t n, uint32_t tag)
{
	(void)f;
	(void)tag;
	(void)start;
	(void)n;
	return 0;
}

static double fl_frag(struct fit *f)
{
	(void)f;
	return 0.0;
}

static void fl_leave(struct fit *f)
{
	f->local = NULL;
}

static void fl_unmake(struct fit *f)
{
	free(f->shared);
	f->shared = NULL;
}

static void fit_floor(struct fit *f)
{
	f->label = "floor";
	f->make = fl_make;
	f->join = fl_join;
	f->alloc = fl_alloc;
	f->free = fl_free;
	f->frag = fl_frag;
	f->leave = fl_leave;
	f->unmake = fl_unmake;
}

#ifndef HAVE_BOOST_IPC
int fit_boost(struct fit *f)
{
	(void)f;
	return -1;
}
#endif

/* ------------------------------------------------------------ workload */

struct live {
	uint64_t start;
	uint32_t n;		/* <= 256 */
	uint32_t tag;		/* what alloc() gave, for free() (fit.h) */
};

struct worker {
	struct fit *f;
	struct live *live;
	size_t nlive;
	uint64_t units, rs, lo, hi, target, ops, fails;
	uint64_t nofit;		/* failures with no free range of their size right after */
	double cpu, t0, t1;	/* ns: thread CPU; wall start and end (CLOCK_MONOTONIC) */
};

static double now(clockid_t c)
{
	struct timespec t;

	clock_gettime(c, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* Log-uniform in 1..256: 2^(8u). */
static uint64_t size_of(uint64_t *s)
{
	double u = (double)(rnd(s) >> 11) / 9007199254740992.0;
	uint64_t n = (uint64_t)exp2(u * 8.0);

	return n < 1 ? 1 : n > 256 ? 256 : n;
}

static void w_alloc(struct worker *w)
{
	uint64_t n = size_of(&w->rs), s;
	uint32_t tag = 0;

	if (w->f->alloc(w->f, n, &s, &tag) == 0) {
		w->live[w->nlive++] = (struct live){ s, (uint32_t)n, tag };
		w->units += n;
	} else {
		/*
		 * Was the failure true? The largest free range right after
		 * (the other worker may change it meanwhile) says so far
		 * better than the end of the run, which may have a large
		 * range again.
		 */
		w->fails++;
		if (w->f->largest && w->f->largest(w->f) < n)
			w->nofit++;
	}
}

static void w_free(struct worker *w)
{
	size_t i;

	if (!w->nlive)
		return;
	i = (size_t)below(&w->rs, w->nlive);
	w->f->free(w->f, w->live[i].start, w->live[i].n, w->live[i].tag);
	w->units -= w->live[i].n;
	w->live[i] = w->live[--w->nlive];
}

static void w_fill(struct worker *w)
{
	uint64_t tries = 0;

	while (w->units < w->target && tries++ < 4 * UNITS)
		w_alloc(w);
	w->fails = 0;
	w->nofit = 0;
}

static void *w_run(void *arg)
{
	struct worker *w = arg;
	double c0 = now(CLOCK_THREAD_CPUTIME_ID);
	uint64_t i;

	w->t0 = now(CLOCK_MONOTONIC);
	for (i = 0; i < w->ops; i++) {
		int coin = (int)(rnd(&w->rs) & 1);

		if (w->units < w->lo ? 1 : w->units > w->hi ? 0 : coin)
			w_alloc(w);
		else
			w_free(w);
	}
	w->t1 = now(CLOCK_MONOTONIC);
	w->cpu = now(CLOCK_THREAD_CPUTIME_ID) - c0;
	return NULL;
}

static int w_init(struct worker *w, struct fit *f, int pct, int k, int nw, uint64_t ops)
{
	memset(w, 0, sizeof(*w));
	w->f = f;
	w->live = malloc(UNITS * sizeof(*w->live));
	if (!w->live)
		return -1;
	w->rs = UINT64_C(0x9e3779b97f4a7c15) * (uint64_t)(k + 1 + pct);
	w->target = UNITS * (uint64_t)pct / 100 / (uint64_t)nw;
	w->lo = UNITS * (uint64_t)(pct - 1) / 100 / (uint64_t)nw;
	w->hi = UNITS * (uint64_t)(pct + 1) / 100 / (uint64_t)nw;
	w->ops = ops / (uint64_t)nw;
	return 0;
}

/* A unit held twice among W's live allocations (one thread only): -1. */
static int w_check(const struct worker *w)
{
	unsigned char *seen = calloc(UNITS * 64 / 8 + 1, 1);	/* boost offsets are bytes/64 */
	uint64_t scale = strcmp(w->f->label, "boost.interprocess") ? 1 : 64, j;
	size_t i;
	int r = 0;

	if (!seen)
		return 0;
	for (i = 0; i < w->nlive && !r; i++)
		for (j = 0; j < w->live[i].n && !r; j++) {
			uint64_t u = w->live[i].start / scale + j;

			if (u >= UNITS * 64 || seen[u / 8] & (1 << (u % 8)))
				r = -1;
			else
				seen[u / 8] |= (unsigned char)(1 << (u % 8));
		}
	free(seen);
	return r;
}

struct result {
	double cpu, wall, frag;	/* ns/op; free/largest free */
	uint64_t fails, nofit;
};

/* One thread. */
static int run1(struct fit *f, int pct, uint64_t ops, struct result *res)
{
	struct worker w;
	int r;

	if (f->make(f) < 0 || f->join(f) < 0)
		return -1;
	if (w_init(&w, f, pct, 0, 1, ops) < 0)
		return -1;
	w_fill(&w);
	w_run(&w);
	res->cpu = w.cpu / (double)ops;
	res->wall = (w.t1 - w.t0) / (double)ops;
	res->frag = f->frag(f);
	res->fails = w.fails;
	res->nofit = w.nofit;
	r = strcmp(f->label, "floor") ? w_check(&w) : 0;	/* the floor overlaps, by design */
	if (r < 0)
		fprintf(stderr, "bufbench: %s handed out a unit twice\n", f->label);
	free(w.live);
	f->leave(f);
	f->unmake(f);
	return r;
}

/* A thread of run2t(): fills its share in its turn (as a process of run2p() does), then runs. */
struct tjob {
	struct worker *w;
	int k, *turn, *ready;
};

static void spin_until(int *p, int v);

static void *t_fill_run(void *arg)
{
	struct tjob *j = arg;

	spin_until(j->turn, j->k);
	w_fill(j->w);
	__atomic_add_fetch(j->turn, 1, __ATOMIC_RELEASE);
	__atomic_add_fetch(j->ready, 1, __ATOMIC_RELEASE);
	spin_until(j->ready, 2);
	return w_run(j->w);
}

/* Two threads on one handle. */
static int run2t(struct fit *f, int pct, uint64_t ops, struct result *res)
{
	struct worker w[2];
	struct tjob job[2];
	pthread_t th[2];
	double t0, t1;
	int k, turn = 0, ready = 0;

	if (f->make(f) < 0 || f->join(f) < 0)
		return -1;
	for (k = 0; k < 2; k++)
		if (w_init(&w[k], f, pct, k, 2, ops) < 0)
			return -1;
	for (k = 0; k < 2; k++) {
		job[k] = (struct tjob){ &w[k], k, &turn, &ready };
		pthread_create(&th[k], NULL, t_fill_run, &job[k]);
	}
	for (k = 0; k < 2; k++)
		pthread_join(th[k], NULL);
	t0 = w[0].t0 < w[1].t0 ? w[0].t0 : w[1].t0;
	t1 = w[0].t1 > w[1].t1 ? w[0].t1 : w[1].t1;
	res->wall = (t1 - t0) / (double)ops;
	res->cpu = (w[0].cpu + w[1].cpu) / (double)ops;
	res->frag = f->frag(f);
	res->fails = w[0].fails + w[1].fails;
	res->nofit = w[0].nofit + w[1].nofit;
	free(w[0].live);
	free(w[1].live);
	f->leave(f);
	f->unmake(f);
	return 0;
}

/* What the children of run2p() share. */
struct procshared {
	int turn;		/* whose fill it is; 2: all filled */
	int ready;		/* children waiting at the start */
	double t0[2], t1[2], cpu[2];
	uint64_t fails[2], nofit[2];
	int failed;
};

static void spin_until(int *p, int v)
{
	while (__atomic_load_n(p, __ATOMIC_ACQUIRE) < v)
		sched_yield();
}

/* Two processes, each with its own handle. */
static int run2p(struct fit *f, int pct, uint64_t ops, struct result *res)
{
	struct procshared *sh;
	pid_t pid[2];
	double t0, t1;
	int k, st, bad = 0;

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED || f->make(f) < 0)
		return -1;
	memset(sh, 0, sizeof(*sh));
	for (k = 0; k < 2; k++) {
		pid[k] = fork();
		if (pid[k] == 0) {
			struct worker w;

			if (f->join(f) < 0 || w_init(&w, f, pct, k, 2, ops) < 0) {
				sh->failed = 1;
				__atomic_add_fetch(&sh->turn, 1, __ATOMIC_RELEASE);
				__atomic_add_fetch(&sh->ready, 1, __ATOMIC_RELEASE);
				_exit(1);
			}
			spin_until(&sh->turn, k);
			w_fill(&w);
			__atomic_add_fetch(&sh->turn, 1, __ATOMIC_RELEASE);
			__atomic_add_fetch(&sh->ready, 1, __ATOMIC_RELEASE);
			spin_until(&sh->ready, 2);
			w_run(&w);
			sh->t0[k] = w.t0;
			sh->t1[k] = w.t1;
			sh->cpu[k] = w.cpu;
			sh->fails[k] = w.fails;
			sh->nofit[k] = w.nofit;
			/* the live allocations stay: the parent measures the end state */
			f->leave(f);
			_exit(0);
		}
		if (pid[k] < 0)
			bad = 1;
	}
	for (k = 0; k < 2; k++)
		if (pid[k] > 0 && (waitpid(pid[k], &st, 0) < 0 || !WIFEXITED(st) ||
				   WEXITSTATUS(st)))
			bad = 1;
	if (bad || sh->failed) {
		f->unmake(f);
		munmap(sh, sizeof(*sh));
		return -1;
	}
	t0 = sh->t0[0] < sh->t0[1] ? sh->t0[0] : sh->t0[1];
	t1 = sh->t1[0] > sh->t1[1] ? sh->t1[0] : sh->t1[1];
	res->wall = (t1 - t0) / (double)ops;
	res->cpu = (sh->cpu[0] + sh->cpu[1]) / (double)ops;
	res->fails = sh->fails[0] + sh->fails[1];
	res->nofit = sh->nofit[0] + sh->nofit[1];
	res->frag = 0.0;
	if (f->join(f) == 0) {
		res->frag = f->frag(f);
		f->leave(f);
	}
	f->unmake(f);
	munmap(sh, sizeof(*sh));
	return 0;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
	double s[MAXR];

	memcpy(s, v, (size_t)n * sizeof(*v));
	qsort(s, (size_t)n, sizeof(*s), cmp);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static const char *const modes[NMODE] = { "1 thread", "2 threads", "2 procs" };

int main(int argc, char **argv)
{
	uint64_t ops = 400000;
	const char *only = NULL;
	int rounds = 5, quick = 0, i, k, m, j, nfit = 0, status = 0, mode = -1, level = 0;
	static const int pcts[] = { 50, 85 };
	struct fit fits[NFIT];
	/* [fit][mode][round] */
	static double wall[NFIT][NMODE][MAXR], cpu[NFIT][NMODE][MAXR], frag[NFIT][NMODE][MAXR];
	static double scale[NFIT][NMODE][MAXR];
	uint64_t fails[NFIT][NMODE], nofit[NFIT][NMODE];

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			quick = 1;
			ops = 20000;
			rounds = 1;
		} else if (!strcmp(argv[i], "--ops") && i + 1 < argc) {
			ops = strtoull(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
			rounds = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
			only = argv[++i];
		} else if (!strcmp(argv[i], "--mode") && i + 1 < argc) {
			mode = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--level") && i + 1 < argc) {
			level = atoi(argv[++i]);
		} else {
			fprintf(stderr, "usage: numballoc-bufbench [--quick] [--ops N] [--rounds R] [--only LABEL] [--mode M] [--level P]\n");
			return 2;
		}
	}
	if (rounds < 1 || rounds > MAXR || ops < 2 || mode < -1 || mode >= NMODE ||
	    (level && level != 50 && level != 85)) {
		fprintf(stderr, "numballoc-bufbench: rounds 1..%d, ops >= 2, level 50 or 85\n", MAXR);
		return 2;
	}
	memset(fits, 0, sizeof(fits));
	fit_numballoc(&fits[nfit++], 0);
	fit_numballoc(&fits[nfit++], NUMBALLOC_BUF_FIRST_FIT);
	fit_segfit(&fits[nfit++]);
	fit_offset(&fits[nfit++]);
	fit_floor(&fits[nfit++]);
	if (fit_boost(&fits[nfit]) == 0)
		nfit++;
	else
		printf("# boost.interprocess: skipped (configure did not find the Boost headers)\n");
	printf("# offset: single-threaded, no lock: one-thread mode only\n");
	for (k = 0; k < nfit; k++)
		fits[k].units = UNITS;
	if (only)	/* numballoc first, then the baselines whose label starts with ONLY */
		for (k = j = 1; k < nfit; k++)
			if (!strncmp(fits[k].label, only, strlen(only)))
				fits[j++] = fits[k];
	if (only)
		nfit = j;
	printf("# buffer of 2^20 units, sizes log-uniform 1..256, %ju ops held at the level;\n"
	       "# medians of %d rounds (%s); wall ns/op over all ops; scale = throughput of\n"
	       "# two over one (median of the rounds' own ratios)\n",
	       (uintmax_t)ops, rounds, quick ? "quick" : "every allocator, every mode, each round");
	for (i = 0; i < 2; i++) {
		if (level && pcts[i] != level)
			continue;
		memset(fails, 0, sizeof(fails));
		memset(nofit, 0, sizeof(nofit));
		for (j = 0; j < rounds; j++)
			for (k = 0; k < nfit; k++)
				for (m = 0; m < NMODE; m++) {
					struct result r = { 0 };
					int e = (mode >= 0 && m != mode) || (m && fits[k].one_thread) ? 0
						: m == 0 ? run1(&fits[k], pcts[i], ops, &r)
						: m == 1 ? run2t(&fits[k], pcts[i], ops, &r)
							 : run2p(&fits[k], pcts[i], ops, &r);

					if (e < 0) {
						printf("%s: %s failed\n", fits[k].label, modes[m]);
						status = 1;
					}
					wall[k][m][j] = r.wall;
					cpu[k][m][j] = r.cpu;
					frag[k][m][j] = r.frag;
					fails[k][m] += r.fails;
					nofit[k][m] += r.nofit;
					scale[k][m][j] = r.wall > 0 ? wall[k][0][j] / r.wall : 0;
				}
		for (k = 0; k < nfit; k++)
			for (m = 0; m < (fits[k].one_thread ? 1 : NMODE); m++) {
				printf("name=buf/%d%%/%s/%s ns=%.1f", pcts[i], fits[k].label, modes[m],
				       median(wall[k][m], rounds));
				if (m == 0)
					printf(" cpu_ns=%.1f", median(cpu[k][m], rounds));
				else
					printf(" scale=%.2f", median(scale[k][m], rounds));
				if (median(frag[k][m], rounds) > 0)
					printf(" free/largest=%.2f", median(frag[k][m], rounds));
				printf(" fails=%ju\n", (uintmax_t)fails[k][m]);
				if (fails[k][m] && fits[k].largest)
					printf("# buf/%d%%/%s/%s: %ju of the %ju failures had no free range of their size right after\n",
					       pcts[i], fits[k].label, modes[m], (uintmax_t)nofit[k][m],
					       (uintmax_t)fails[k][m]);
			}
		/* numballoc against each baseline, mode by mode: baseline time / numballoc time */
		for (k = 1; k < nfit; k++)
			for (m = 0; m < (fits[k].one_thread ? 1 : NMODE); m++) {
				double rr[MAXR];

				for (j = 0; j < rounds; j++)
					rr[j] = wall[k][m][j] / wall[0][m][j];
				printf("ratio=buf/%d%%/%s/%s x=%.2f\n", pcts[i], fits[k].label,
				       modes[m], median(rr, rounds));
			}
		/*
		 * The one-thread target (issue 16: at most 2x OffsetAllocator):
		 * numballoc's CPU time over the offset baseline's, round by round.
		 */
		for (k = 1; k < nfit; k++) {
			double rr[MAXR];

			if (!fits[k].one_thread || (mode >= 0 && mode != 0))
				continue;
			for (j = 0; j < rounds; j++)
				rr[j] = cpu[k][0][j] > 0 ? cpu[0][0][j] / cpu[k][0][j] : 0;
			printf("target=buf/%d%%/numballoc over %s/1 thread x=%.2f (cpu; target <= 2.0)\n",
			       pcts[i], fits[k].label, median(rr, rounds));
		}
	}
	return status;
}
