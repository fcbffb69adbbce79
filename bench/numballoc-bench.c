/* SPDX-License-Identifier: MIT */
/*
 * numballoc-bench - figures for issues 4 and 20: numballoc against two
 * baselines compiled into this program and run in the same invocation
 * (baseline.h):
 * "mutex" (the same bitmap under a process-shared pthread mutex, linear
 * scan) and "hint" (the Go numballoc algorithm on 64-bit words: lock-free
 * CAS scan from a per-process word hint, no index).
 *
 * Every figure is a median over repeated runs (at least 5) of a mean over
 * many operations; min and max of the runs are printed beside it. Ratios
 * are baseline time / numballoc time: above 1, numballoc is faster. The
 * program reports; it never fails because a machine is slow. It exits
 * non-zero only when an allocator gave a wrong answer (an -ENOSPC while a
 * fitting run existed, a success where none did) or a set-up failed.
 *
 * numballoc pools are real named shared-memory segments made with
 * numballoc_open(); the baselines live in MAP_SHARED anonymous memory.
 * Two-process figures fork children that open the pool again (a new
 * handle each): in each run one child alone, then two together, so that
 * both figures are taken the same way and at nearly the same moment; the
 * scale (throughput of two / throughput of one) is the median of the
 * runs' own ratios, from wall time (what the callers pay) and from the
 * slower child's CPU time. Each child stamps its progress, so the program
 * knows how much of a round the two ran at the same moment (and a lone
 * child at all); runs where that fell short are taken again, up to twice,
 * then kept and counted, and the wall-time scale is printed both over all
 * runs and over the runs where it did not fall short.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <urcu/uatomic.h>

#include "baseline.h"
#include "bench-util.h"
#include "numballoc.h"

/* E_FL, the floor (baseline.h), only beside the two-process figures: no column of its own */
enum eng { E_NB, E_MX, E_HB, NENG, E_FL = NENG };
static const char *const pol_name[] = { "lowest", "cyclic", "spread" };

#define MAXRUNS 32
#define MAXNAMES 16

static struct {
	int quick;
	int runs;		/* repeated runs per figure, >= 5 */
	uint64_t cap;		/* IDs in the large pools */
	uint64_t bigcap;	/* IDs in the largest pools (pair figures) */
	double run_ns;		/* aimed length of one timed run */
	double duo_ns;		/* aimed length of one process's part of a two-process round */
	int samples;		/* new-handle samples per run */
	const char *cli;	/* numballoc-cli to time, or NULL */
	const char *only;	/* run only figures whose name contains this */
} opt;

static int wrong;	/* wrong answers seen: the exit status */

/* ------------------------------------------------------------ helpers */

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

__attribute__((format(printf, 1, 2))) static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("numballoc-bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static void *shared(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	return p;
}

/*
 * Pool names made by this run, removed at exit and on SIGINT, SIGTERM,
 * SIGHUP and SIGPIPE (`numballoc-bench | head` leaves nothing behind).
 */
static char names[MAXNAMES][64];
static pid_t main_pid;

static void names_cleanup(void)
{
	int i;

	if (getpid() != main_pid)
		return;
	for (i = 0; i < MAXNAMES; i++)
		if (names[i][0])
			numballoc_unlink(names[i]);
}

static void on_signal(int sig)
{
	names_cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

static char *name_new(void)
{
	static unsigned int seq;
	int i;

	for (i = 0; i < MAXNAMES; i++) {
		if (!names[i][0]) {
			snprintf(names[i], sizeof(names[i]), "numballoc-bench-%ld-%u",
				 (long)getpid(), seq++);
			return names[i];
		}
	}
	die("too many pools");
	return NULL;
}

static void name_drop(char *name)
{
	numballoc_unlink(name);
	name[0] = 0;
}

/* --------------------------------------------------------------- pools */

struct pool {
	enum eng e;
	unsigned int policy;
	uint64_t cap;
	struct numballoc *nb;	/* E_NB: this process's handle */
	char *name;		/* E_NB: the shared-memory name */
	struct bl *bl;		/* E_MX, E_HB */
};

static void pool_create(struct pool *p, enum eng e, uint64_t cap, unsigned int policy)
{
	struct numballoc_opts o;
	int r;

	memset(p, 0, sizeof(*p));
	p->e = e;
	p->cap = cap;
	p->policy = policy;
	if (e != E_NB) {
		p->bl = bl_create(cap);
		if (!p->bl)
			die("baseline of %" PRIu64 " bits: out of memory", cap);
		return;
	}
	memset(&o, 0, sizeof(o));
	o.capacity = cap;
	o.policy = policy;
	o.flags = NUMBALLOC_CREATE | NUMBALLOC_EXCL;
	p->name = name_new();
	r = numballoc_open(p->name, &o, &p->nb);
	if (r < 0)
		die("numballoc_open %s: %s", p->name, numballoc_strerror(r));
}

static void pool_destroy(struct pool *p)
{
	if (p->e == E_NB) {
		numballoc_close(p->nb);
		name_drop(p->name);
	} else {
		bl_destroy(p->bl);
	}
}

/* A new handle, as a new process (a CLI call) has. */
static void pool_reopen(struct pool *p)
{
	int r;

	if (p->e != E_NB) {
		bl_attach(p->bl);
		return;
	}
	r = numballoc_open(p->name, NULL, &p->nb);
	if (r < 0)
		die("reopen %s: %s", p->name, numballoc_strerror(r));
}

static inline int p_alloc(struct pool *p, uint64_t *id)
{
	switch (p->e) {
	case E_NB:
		return numballoc_alloc(p->nb, id);
	case E_MX:
		return mx_alloc(p->bl, p->policy, id);
	case E_FL:
		return fl_alloc(p->bl, id);
	default:
		return hb_alloc(p->bl, id);
	}
}

static inline int p_free(struct pool *p, uint64_t id)
{
	switch (p->e) {
	case E_NB:
		return numballoc_free(p->nb, id);
	case E_MX:
		return mx_free(p->bl, id);
	case E_FL:
		return fl_free(p->bl, id);
	default:
		return hb_free(p->bl, id);
	}
}

static int p_set(struct pool *p, uint64_t id)
{
	return p->e == E_NB ? numballoc_alloc_id(p->nb, id) : bl_set(p->bl, id);
}

static inline int p_alloc_block(struct pool *p, uint64_t n, uint64_t align, uint64_t *first)
{
	switch (p->e) {
	case E_NB:
		return numballoc_alloc_block(p->nb, n, align, first);
	case E_MX:
		return mx_alloc_block(p->bl, n, align, first);
	default:
		return hb_alloc_block(p->bl, n, align, first);
	}
}

static inline int p_free_block(struct pool *p, uint64_t first, uint64_t n)
{
	switch (p->e) {
	case E_NB:
		return numballoc_free_block(p->nb, first, n);
	case E_MX:
		return mx_free_block(p->bl, first, n);
	default:
		return hb_free_block(p->bl, first, n);
	}
}

/* ------------------------------------------------------------- fills */

/*
 * A fill: the IDs to set, in the order to set them. Made once per figure
 * and applied to every engine, so all three start from the same words.
 */
struct fill {
	uint32_t *ids;
	uint64_t n;
};

/* M distinct IDs of [0, cap) at random (partial Fisher-Yates). */
static void fill_random(struct fill *f, uint64_t cap, uint64_t m, uint64_t seed)
{
	uint64_t i, s = seed | 1;

	f->ids = malloc(cap * sizeof(uint32_t));
	if (!f->ids)
		die("out of memory");
	for (i = 0; i < cap; i++)
		f->ids[i] = (uint32_t)i;
	for (i = 0; i < m; i++) {
		uint64_t j = i + below(&s, cap - i);
		uint32_t t = f->ids[i];

		f->ids[i] = f->ids[j];
		f->ids[j] = t;
	}
	f->n = m;
}

/* The M lowest IDs. */
static void fill_bottom(struct fill *f, uint64_t cap, uint64_t m)
{
	uint64_t i;

	f->ids = malloc((m + 1) * sizeof(uint32_t));
	if (!f->ids)
		die("out of memory");
	for (i = 0; i < m; i++)
		f->ids[i] = (uint32_t)i;
	f->n = m;
}

static void fill_apply(const struct fill *f, struct pool *p)
{
	uint64_t i;
	int r;

	for (i = 0; i < f->n; i++) {
		r = p_set(p, f->ids[i]);
		if (r < 0)
			die("fill: set %u: %s", f->ids[i], numballoc_strerror(r));
	}
}

static uint64_t fill_count(double pct, uint64_t cap)
{
	if (pct < 0)	/* a single free ID */
		return cap - 1;
	return (uint64_t)(pct / 100.0 * (double)cap + 0.5);
}

static const char *fill_label(double pct, char *buf, size_t size)
{
	if (pct < 0)
		snprintf(buf, size, "1free");
	else
		snprintf(buf, size, "%g%%", pct);
	return buf;
}

/* ----------------------------------------------------------- figures */

struct fig {
	char name[96];
	double v[NENG][MAXRUNS];	/* ns per operation, one per run */
	int n[NENG];			/* runs measured per engine; 0: not measured */
	char extra[448];		/* more key=value pairs for the machine line */
	char note[192];			/* for the person */
};

static char *machine;		/* the machine-readable lines, printed at the end */
static size_t machine_len, machine_size;

static int skip(const char *name)
{
	return opt.only && !strstr(name, opt.only);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(const double *v, int n, double *min, double *max)
{
	double s[MAXRUNS];

	memcpy(s, v, (size_t)n * sizeof(double));
	qsort(s, (size_t)n, sizeof(double), cmp_double);
	if (min)
		*min = s[0];
	if (max)
		*max = s[n - 1];
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static double fig_median(const struct fig *f, enum eng e)
{
	return f->n[e] ? median(f->v[e], f->n[e], NULL, NULL) : 0;
}

__attribute__((format(printf, 1, 2))) static void machine_add(const char *fmt, ...)
{
	va_list ap;
	int len;

	for (;;) {
		size_t room = machine_size - machine_len;

		va_start(ap, fmt);
		len = machine ? vsnprintf(machine + machine_len, room, fmt, ap) : -1;
		va_end(ap);
		if (len >= 0 && (size_t)len < room) {
			machine_len += (size_t)len;
			return;
		}
		machine_size = machine_size ? machine_size * 2 : 65536;
		machine = realloc(machine, machine_size);
		if (!machine)
			die("out of memory");
	}
}

static void fmt_ns(char *buf, size_t size, double ns)
{
	if (ns <= 0)
		snprintf(buf, size, "-");
	else if (ns < 10000)
		snprintf(buf, size, "%.1f ns", ns);
	else if (ns < 10000000)
		snprintf(buf, size, "%.1f us", ns / 1000);
	else
		snprintf(buf, size, "%.1f ms", ns / 1e6);
}

static void fmt_ratio(char *buf, size_t size, double base, double ns)
{
	if (base <= 0 || ns <= 0)
		snprintf(buf, size, "na");
	else
		snprintf(buf, size, "%.2f", base / ns);
}

static void fig_print(const struct fig *f)
{
	double med, min, max, mx = fig_median(f, E_MX), hb = fig_median(f, E_HB);
	char a[24], b[24], c[24], d[24], e[24], rm[16], rh[16];

	if (!f->n[E_NB])
		return;
	med = median(f->v[E_NB], f->n[E_NB], &min, &max);
	fmt_ns(a, sizeof(a), med);
	fmt_ns(b, sizeof(b), min);
	fmt_ns(c, sizeof(c), max);
	fmt_ns(d, sizeof(d), mx);
	fmt_ns(e, sizeof(e), hb);
	fmt_ratio(rm, sizeof(rm), mx, med);
	fmt_ratio(rh, sizeof(rh), hb, med);
	printf("%-30s %10s %10s %10s | %10s %10s | %6s %6s  %s\n", f->name, a, b, c, d, e, rm,
	       rh, f->note);
	fflush(stdout);
	machine_add("name=%s ns=%.1f min=%.1f max=%.1f runs=%d mutex_ns=%.1f hint_ns=%.1f "
		    "ratio_mutex=%s ratio_hint=%s%s%s\n",
		    f->name, med, min, max, f->n[E_NB], mx, hb, rm, rh, f->extra[0] ? " " : "",
		    f->extra);
}

static void fig_add(struct fig *f, enum eng e, double ns)
{
	if (f->n[e] < MAXRUNS)
		f->v[e][f->n[e]++] = ns;
}

/* ------------------------------------------ alloc + free of a held ID */

/*
 * ITERS times: allocate one ID by the pool's policy, then free a random
 * held ID (possibly the new one). The fill stays where it was. Returns the
 * elapsed nanoseconds; counts failures in *BAD.
 */
static uint64_t pairs(struct pool *p, uint64_t *held, uint64_t nheld, uint64_t iters,
		      uint64_t *seed, uint64_t *bad)
{
	uint64_t i, id, t0;

	t0 = cpu_ns();
	for (i = 0; i < iters; i++) {
		uint64_t k = pick(nheld, seed);

		if (p_alloc(p, &id) < 0) {
			++*bad;
			continue;
		}
		held[nheld] = id;
		id = held[k];
		held[k] = held[nheld];
		if (p_free(p, id) < 0)
			++*bad;
	}
	return cpu_ns() - t0;
}

/* Iterations for one timed run of about opt.run_ns, bounded by count. */
static uint64_t calibrate(struct pool *p, uint64_t *held, uint64_t nheld, uint64_t *seed)
{
	uint64_t bad = 0, n = 64, t;

	for (;;) {
		t = pairs(p, held, nheld, n, seed, &bad);
		if (t > opt.run_ns / 8 || n >= (UINT64_C(1) << 26))
			break;
		n *= 4;
	}
	n = (uint64_t)((double)n * opt.run_ns / (double)(t ? t : 1));
	return n < 16 ? 16 : n > (UINT64_C(1) << 26) ? UINT64_C(1) << 26 : n;
}

/* One engine's pool for the pair figures: the pool, its held IDs, its draws. */
struct pair_run {
	struct pool p;
	uint64_t *held;
	uint64_t seed, bad, iters;
};

static void pair_run_start(struct pair_run *pr, enum eng e, const struct fill *fl, uint64_t cap,
			   unsigned int policy)
{
	uint64_t i;

	pr->held = malloc((fl->n + 1) * sizeof(uint64_t));
	if (!pr->held)
		die("out of memory");
	pr->seed = 0x5eed + (uint64_t)e;
	pr->bad = 0;
	pool_create(&pr->p, e, cap, policy);
	fill_apply(fl, &pr->p);
	for (i = 0; i < fl->n; i++)
		pr->held[i] = fl->ids[i];
	pr->iters = calibrate(&pr->p, pr->held, fl->n, &pr->seed);
}

/* One timed run: ns per pair. */
static double pair_run_once(struct pair_run *pr, uint64_t nheld)
{
	return (double)pairs(&pr->p, pr->held, nheld, pr->iters, &pr->seed, &pr->bad) /
	       (double)pr->iters;
}

static void pair_run_end(struct pair_run *pr, const char *name)
{
	if (pr->bad) {
		fprintf(stderr, "numballoc-bench: %s: %" PRIu64 " failed operations (%d)\n", name,
			pr->bad, (int)pr->p.e);
		wrong++;
	}
	pool_destroy(&pr->p);
	free(pr->held);
}

/* One process: the ns of one pair per run into F; returns the median. */
static double measure_pairs(struct fig *f, enum eng e, const struct fill *fl, uint64_t cap,
			    unsigned int policy)
{
	struct pair_run pr;
	int run;

	pair_run_start(&pr, e, fl, cap, policy);
	for (run = 0; run < opt.runs; run++)
		fig_add(f, e, pair_run_once(&pr, fl->n));
	pair_run_end(&pr, f->name);
	return fig_median(f, e);
}

/*
 * The pair figures: the engines of MASK (bits 1 << enum eng) side by side,
 * their timed runs in turn (numballoc, then each baseline, then numballoc
 * again), so that a slow spell of this shared machine falls on all of
 * them alike, not on whichever ran then. Each engine has its own pool,
 * filled the same, and its own held IDs. *PAIRED gets the median of each
 * run's own ratio hint / numballoc.
 */
static void measure_pairs_turns(struct fig *f, unsigned int mask, const struct fill *fl,
				uint64_t cap, unsigned int policy, double *paired)
{
	struct pair_run pr[NENG];
	double r[MAXRUNS];
	enum eng e;
	int run;

	for (e = 0; e < NENG; e++)
		if (mask & (1u << e))
			pair_run_start(&pr[e], e, fl, cap, policy);
	for (run = 0; run < opt.runs; run++) {
		for (e = 0; e < NENG; e++)
			if (mask & (1u << e))
				fig_add(f, e, pair_run_once(&pr[e], fl->n));
		r[run] = f->v[E_HB][run] / f->v[E_NB][run];
	}
	*paired = median(r, opt.runs, NULL, NULL);
	for (e = 0; e < NENG; e++)
		if (mask & (1u << e))
			pair_run_end(&pr[e], f->name);
}

/* ------------------------------------------------ two processes at once */

#define DUO_SEGS 64		/* checkpoints in each child's round */
#define DUO_MIN_OVERLAP 0.9	/* a round pair below this is repeated, and said */
#define DUO_TRIES 3		/* attempts at a run's round pair, at most */

struct duo {
	int ready;		/* children that are set up */
	int nproc;		/* children in the round */
	int go;			/* set by the child that starts first: the other starts too */
	uint64_t alive[2];	/* each child's clock while it waits to start */
	uint64_t t0[2], t1[2];	/* each child's start and end, wall clock */
	uint64_t cpu[2];	/* each child's CPU time in its pairs */
	uint64_t bad;		/* failed operations */
	uint64_t nheld[2];	/* IDs each child holds */
	int nseg;		/* segments of a child's round, 1..DUO_SEGS */
	uint64_t seg_end[2][DUO_SEGS];	/* wall clock at each segment's end */
	uint64_t seg_cpu[2][DUO_SEGS];	/* CPU ns of each segment's pairs */
};

/*
 * Wait until the round's children are all running, so that two start
 * together (a child that spun alone may have been descheduled by the time
 * the other is ready). Each one stamps its clock while it waits; the first
 * to see the other's stamp fresh (DUO_FRESH_NS) sets go, and the other
 * starts as soon as it sees it, which it can only do running. After
 * DUO_WAIT_NS without that they start anyway, and the measured overlap
 * says so. Nothing here is timed.
 */
#define DUO_FRESH_NS 20000
#define DUO_WAIT_NS 1000000000
static void duo_start(struct duo *d, int who)
{
	uint64_t t, start = now_ns(), other;

	while (__atomic_load_n(&d->ready, __ATOMIC_ACQUIRE) < d->nproc)
		;
	if (d->nproc == 1)
		return;
	for (;;) {
		if (__atomic_load_n(&d->go, __ATOMIC_ACQUIRE))
			return;
		t = now_ns();
		__atomic_store_n(&d->alive[who], t, __ATOMIC_RELEASE);
		other = __atomic_load_n(&d->alive[!who], __ATOMIC_ACQUIRE);
		if ((other && other + DUO_FRESH_NS > t) || t - start > DUO_WAIT_NS) {
			__atomic_store_n(&d->go, 1, __ATOMIC_RELEASE);
			return;
		}
	}
}

/*
 * The child's ITERS pairs in d->nseg segments, each stamped with its end
 * (wall clock) and its CPU time, so that the parent can tell when the
 * child was running: a few clock reads per segment, nothing in the pairs.
 */
static void duo_child(struct duo *d, int who, struct pool *p, uint64_t *held, uint64_t iters)
{
	uint64_t seed = 0xd00 + (uint64_t)who * 7919 + (uint64_t)getpid(), bad = 0, t = 0, c;
	uint64_t n = (uint64_t)d->nseg;
	int s;

	pool_reopen(p);
	__atomic_add_fetch(&d->ready, 1, __ATOMIC_SEQ_CST);
	duo_start(d, who);
	d->t0[who] = now_ns();
	for (s = 0; s < d->nseg; s++) {
		c = pairs(p, held, d->nheld[who], iters / n + ((uint64_t)s < iters % n), &seed,
			  &bad);
		d->seg_end[who][s] = now_ns();
		d->seg_cpu[who][s] = c;
		t += c;
	}
	d->t1[who] = d->seg_end[who][d->nseg - 1];
	d->cpu[who] = t;
	if (bad)
		__atomic_add_fetch(&d->bad, bad, __ATOMIC_SEQ_CST);
	_exit(0);
}

/* Child WHO's segment S: its wall interval [*A, *B) and the share of it the child ran. */
static double duo_seg(const struct duo *d, int who, int s, uint64_t *a, uint64_t *b)
{
	*a = s ? d->seg_end[who][s - 1] : d->t0[who];
	*b = d->seg_end[who][s];
	if (*b <= *a)
		return 1;
	return d->seg_cpu[who][s] >= *b - *a ? 1 : (double)d->seg_cpu[who][s] / (double)(*b - *a);
}

/*
 * The share of the round's wall interval [T0, T1) in which all NPROC
 * children ran: with one child, the time it ran; with two, the time both
 * ran, each segment's CPU time taken as spread evenly over its interval
 * (segments are short beside the scheduler's slices, so a child that was
 * descheduled shows as segments with little CPU time).
 */
static double duo_overlap(const struct duo *d, int nproc, uint64_t t0, uint64_t t1)
{
	double both = 0;
	uint64_t a0, b0, a1, b1;
	int i = 0, j = 0;

	if (t1 <= t0)
		return 0;
	if (nproc == 1) {
		for (i = 0; i < d->nseg; i++)
			both += duo_seg(d, 0, i, &a0, &b0) * (double)(b0 - a0);
		return both / (double)(t1 - t0);
	}
	while (i < d->nseg && j < d->nseg) {
		double s0 = duo_seg(d, 0, i, &a0, &b0), s1 = duo_seg(d, 1, j, &a1, &b1);
		uint64_t lo = a0 > a1 ? a0 : a1, hi = b0 < b1 ? b0 : b1;

		if (hi > lo)
			both += s0 * s1 * (double)(hi - lo);
		if (b0 <= b1)
			i++;
		else
			j++;
	}
	return both / (double)(t1 - t0);
}

/*
 * NPROC forked processes (1 or 2) at once, ITERS pairs each, on P, child
 * WHO freeing from HELD[WHO]. Returns the slower child's CPU ns per pair
 * of all of them together; *WALL gets the wall ns per pair (from the first
 * child's start to the last one's end: what the callers paid), *OVERLAP
 * the share of that interval in which all of them ran (duo_overlap()).
 */
static double duo_round(struct duo *d, struct pool *p, uint64_t **held, uint64_t iters,
			int nproc, double *wall, double *overlap)
{
	pid_t pid[2];
	uint64_t cpu, t0, t1;
	int who;

	d->ready = 0;
	d->nproc = nproc;
	d->go = 0;
	d->alive[0] = d->alive[1] = 0;
	d->nseg = iters < DUO_SEGS ? (int)iters : DUO_SEGS;
	for (who = 0; who < nproc; who++) {
		pid[who] = fork();
		if (pid[who] < 0)
			die("fork: %s", strerror(errno));
		if (pid[who] == 0)
			duo_child(d, who, p, held[who], iters);
	}
	for (who = 0; who < nproc; who++)
		waitpid(pid[who], NULL, 0);
	cpu = d->cpu[0];
	t0 = d->t0[0];
	t1 = d->t1[0];
	if (nproc == 2) {
		cpu = cpu > d->cpu[1] ? cpu : d->cpu[1];
		t0 = t0 < d->t0[1] ? t0 : d->t0[1];
		t1 = t1 > d->t1[1] ? t1 : d->t1[1];
	}
	*wall = (double)(t1 - t0) / (double)((uint64_t)nproc * iters);
	*overlap = duo_overlap(d, nproc, t0, t1);
	return (double)cpu / (double)((uint64_t)nproc * iters);
}

/* One engine's part in measure_duo(). */
struct duo_eng {
	enum eng e;
	uint64_t iters;		/* pairs per process per round */
	double scale[MAXRUNS];	/* per run: throughput of two / throughput of one */
	double wall[MAXRUNS];	/* the same from wall time */
	double overlap[MAXRUNS];	/* per run: share of the two-process round both ran */
	double alone[MAXRUNS];	/* per run: share of the one-process round the child ran */
	int repeated;		/* round pairs run again for too little overlap */
	struct pool p;
	uint64_t *held[2];	/* the IDs each child frees from */
};

/*
 * One process, then two, in turn, each run: DE[k].iters pairs per process,
 * in forked children that open the same named pool (the one-process figure
 * is taken the same way as the two-process one, and at nearly the same
 * moment, so that a shared machine's swings fall on both). The NE engines
 * take their turns within each run, so that they, too, meet the same
 * swings. F1 and F2 get the ns per pair of the engines that have a column
 * (not the floor); DE[k].scale[run] the throughput of two over that of one
 * in that run, from the slower child's CPU time; DE[k].wall[run] the same
 * from wall time. The fill's IDs are dealt to the two children in turn
 * (both free all over the pool), or with HALVES the lower half of the
 * pool's to one, the upper half's to the other (each frees in its own
 * part, as processes that allocate apart do).
 *
 * On a loaded machine the two children may not run at the same moment,
 * and a lone child may be descheduled: then wall time measures the
 * scheduler, not the allocator. Each run's round pair is taken again (up
 * to DUO_TRIES times in all) while the two-process round's overlap or the
 * one-process round's running share is below DUO_MIN_OVERLAP; the last
 * attempt is kept whatever it is, with its overlap in DE[k].overlap[run]
 * and DE[k].alone[run], so that the figures can say which runs fell short.
 */
static void measure_duo(struct fig *f1, struct fig *f2, struct duo_eng *de, int ne,
			const struct fill *fl, uint64_t cap, unsigned int policy, int halves)
{
	struct duo *d = shared(sizeof(*d));
	uint64_t i;
	int run, who, k;

	for (k = 0; k < ne; k++) {
		pool_create(&de[k].p, de[k].e, cap, policy);
		fill_apply(fl, &de[k].p);
		for (who = 0; who < 2; who++)
			de[k].held[who] = shared((fl->n + 2) * sizeof(uint64_t));
		d->nheld[0] = d->nheld[1] = 0;	/* the same deal for every engine */
		for (i = 0; i < fl->n; i++) {
			who = halves ? fl->ids[i] >= cap / 2 : (int)(i % 2);
			de[k].held[who][d->nheld[who]++] = fl->ids[i];
		}
	}
	for (run = 0; run < opt.runs; run++) {
		for (k = 0; k < ne; k++) {
			double w1, w2, o1, o2, one, two;
			int try;

			for (try = 1;; try++) {
				one = duo_round(d, &de[k].p, de[k].held, de[k].iters, 1, &w1, &o1);
				two = duo_round(d, &de[k].p, de[k].held, de[k].iters, 2, &w2, &o2);
				if ((o1 >= DUO_MIN_OVERLAP && o2 >= DUO_MIN_OVERLAP) || try == DUO_TRIES)
					break;
				de[k].repeated++;
			}

			if (de[k].e < NENG) {
				fig_add(f1, de[k].e, one);
				fig_add(f2, de[k].e, two);
			}
			de[k].scale[run] = one / two;
			de[k].wall[run] = w1 / w2;
			de[k].overlap[run] = o2;
			de[k].alone[run] = o1;
		}
	}
	if (d->bad) {
		fprintf(stderr, "numballoc-bench: %s: %" PRIu64 " failed operations\n", f2->name,
			d->bad);
		wrong++;
	}
	for (k = 0; k < ne; k++) {
		pool_destroy(&de[k].p);
		for (who = 0; who < 2; who++)
			munmap(de[k].held[who], (fl->n + 2) * sizeof(uint64_t));
	}
	munmap(d, sizeof(*d));
}

/* The fills of the pair figures; -1 = a single free ID. */
static const double pair_fills[] = { 0, 50, 90, 99, 99.9, -1 };
#define NPAIR_FILLS (sizeof(pair_fills) / sizeof(pair_fills[0]))
static const double duo_fills[] = { 0, 90, 99, 99.9 };
#define NDUO_FILLS (sizeof(duo_fills) / sizeof(duo_fills[0]))

static void bench_pairs(void)
{
	unsigned int pol, fi, big;
	double paired;
	char lab[16], sfx[16];

	for (big = 0; big < 2; big++) {
		uint64_t cap = big ? opt.bigcap : opt.cap;

		sfx[0] = 0;
		if (big)
			snprintf(sfx, sizeof(sfx), "/2^%d", __builtin_ctzll(cap));
		printf("\n# alloc + free of a random held ID (held in a uint64_t array, the ID to free\n"
		       "# drawn as the loop reaches it: no prefetch), one process, pool of %" PRIu64
		       " IDs;\n# the engines' timed runs in turn; 'run by run': the median of each"
		       " run's hint / numballoc%s\n",
		       cap, big ? "\n# (no mutex figures here: its linear scan from 0 makes them minutes)" : "");
		for (pol = 0; pol < 3; pol++) {
			for (fi = 0; fi < NPAIR_FILLS; fi++) {
				struct fig f;
				struct fill fl;

				memset(&f, 0, sizeof(f));
				snprintf(f.name, sizeof(f.name), "pair/%s/%s%s", pol_name[pol],
					 fill_label(pair_fills[fi], lab, sizeof(lab)), sfx);
				if (skip(f.name))
					continue;
				fill_random(&fl, cap, fill_count(pair_fills[fi], cap), 42 + fi);
				measure_pairs_turns(&f,
						    (1u << E_NB) | (1u << E_HB) | (big ? 0 : 1u << E_MX),
						    &fl, cap, pol, &paired);
				snprintf(f.extra, sizeof(f.extra), "cap=%" PRIu64 " paired_hint=%.2f",
					 cap, paired);
				snprintf(f.note, sizeof(f.note), "run by run %.2f", paired);
				fig_print(&f);
				free(fl.ids);
			}
		}
	}
}

/* Did run RUN of DE have both rounds running at least DUO_MIN_OVERLAP of their wall time? */
static int duo_ok(const struct duo_eng *de, int run)
{
	return de->overlap[run] >= DUO_MIN_OVERLAP && de->alone[run] >= DUO_MIN_OVERLAP;
}

/*
 * DE's wall-time scale over its runs that duo_ok(), formatted into BUF
 * ("na" when there are none); returns how many runs those are.
 */
static int duo_ok_wall(const struct duo_eng *de, char *buf, size_t size)
{
	double w[MAXRUNS];
	int run, n = 0;

	for (run = 0; run < opt.runs; run++)
		if (duo_ok(de, run))
			w[n++] = de->wall[run];
	if (n)
		snprintf(buf, size, "%.2f", median(w, n, NULL, NULL));
	else
		snprintf(buf, size, "na");
	return n;
}

static void duo_one(unsigned int pol, double pct, uint64_t cap, int slot, int halves)
{
	struct duo_eng de[NENG + 1];
	struct fig f1, f2;
	struct fill fl;
	char lab[16], fx[48] = "", fn[24] = "", fo[128] = "", fon[24] = "";
	char okw[16], okh[16], okf[16];
	double med, lo, hi, mx, hb, wall, hbw, ov, ovlo, alo;
	int k, ne = NENG, nok;

	memset(&f1, 0, sizeof(f1));
	memset(&f2, 0, sizeof(f2));
	if (cap == 64)
		snprintf(lab, sizeof(lab), "pool64");
	else
		fill_label(pct, lab, sizeof(lab));
	snprintf(f1.name, sizeof(f1.name), "pair1/%s/%s%s", pol_name[pol], lab,
		 halves ? "/halves" : "");
	snprintf(f2.name, sizeof(f2.name), "pair2/%s/%s%s", pol_name[pol], lab,
		 halves ? "/halves" : "");
	if (skip(f2.name))
		return;
	fill_random(&fl, cap, fill_count(pct, cap), 77 + (uint64_t)slot);
	memset(de, 0, sizeof(de));
	for (k = 0; k < NENG; k++) {
		struct fig cal;
		double ns;

		/* iterations for about opt.run_ns per process, from a one-process look */
		memset(&cal, 0, sizeof(cal));
		de[k].e = (enum eng)k;
		ns = measure_pairs(&cal, de[k].e, &fl, cap, pol);
		de[k].iters = (uint64_t)(opt.duo_ns / (ns > 1 ? ns : 1));
		if (de[k].iters < 64)
			de[k].iters = 64;
	}
	/*
	 * Spread and cyclic beside the floor (baseline.h): the same pairs with
	 * two CAS on the freed ID's word and nothing else, as many per process
	 * as numballoc's. Where the floor does not scale, the cache lines that
	 * both processes write are the limit, not the allocator.
	 */
	if (pol != NUMBALLOC_LOWEST && cap > 64) {
		de[ne].e = E_FL;
		de[ne].iters = de[E_NB].iters;
		ne++;
	}
	measure_duo(&f1, &f2, de, ne, &fl, cap, pol, halves);
	med = median(de[E_NB].scale, opt.runs, &lo, &hi);
	wall = median(de[E_NB].wall, opt.runs, NULL, NULL);
	mx = median(de[E_MX].scale, opt.runs, NULL, NULL);
	hb = median(de[E_HB].scale, opt.runs, NULL, NULL);
	hbw = median(de[E_HB].wall, opt.runs, NULL, NULL);
	ov = median(de[E_NB].overlap, opt.runs, &ovlo, NULL);
	median(de[E_NB].alone, opt.runs, &alo, NULL);
	nok = duo_ok_wall(&de[E_NB], okw, sizeof(okw));
	duo_ok_wall(&de[E_HB], okh, sizeof(okh));
	if (ne > NENG) {
		double fl_med = median(de[E_FL].scale, opt.runs, NULL, NULL);
		double fl_wall = median(de[E_FL].wall, opt.runs, NULL, NULL);
		double fl_ov = median(de[E_FL].overlap, opt.runs, NULL, NULL);
		int fl_nok = duo_ok_wall(&de[E_FL], okf, sizeof(okf));

		snprintf(fx, sizeof(fx), " floor_scale=%.2f floor_wall_scale=%.2f", fl_med, fl_wall);
		snprintf(fn, sizeof(fn), ", floor %.2f", fl_wall);
		snprintf(fo, sizeof(fo),
			 "floor_overlap=%.2f floor_ok_runs=%d floor_repeated=%d floor_wall_scale_ok=%s ",
			 fl_ov, fl_nok, de[E_FL].repeated, okf);
		snprintf(fon, sizeof(fon), ", floor %s", okf);
	}
	snprintf(f2.extra, sizeof(f2.extra),
		 "scale=%.2f scale_min=%.2f scale_max=%.2f overlap=%.2f overlap_min=%.2f "
		 "alone_min=%.2f ok_runs=%d repeated=%d wall_scale_ok=%s hint_wall_scale_ok=%s %s"
		 "wall_scale=%.2f mutex_scale=%.2f hint_scale=%.2f hint_wall_scale=%.2f%s",
		 med, lo, hi, ov, ovlo, alo, nok, de[E_NB].repeated, okw, okh, fo, wall, mx, hb, hbw,
		 fx);
	snprintf(f2.note, sizeof(f2.note),
		 "x1 wall %.2f (hint %.2f%s); cpu %.2f; both ran %.0f%% (min %.0f%%); "
		 "%d/%d runs ok: wall %s (hint %s%s); %d repeated",
		 wall, hbw, fn, med, 100 * ov, 100 * ovlo, nok, opt.runs, okw, okh, fon,
		 de[E_NB].repeated);
	fig_print(&f1);
	fig_print(&f2);
	free(fl.ids);
}

static void bench_duo(void)
{
	unsigned int pol, fi;

	printf("\n# one process, then two at once, in turn (pair1: one forked process; pair2: ns per pair\n"
	       "# of both together, from the CPU time of the slower one; x1: throughput of two / throughput\n"
	       "# of one, the median of each run's own ratio, from wall time, then from CPU time). The\n"
	       "# fill is dealt to the two in turn, or (/halves) the lower half's IDs to one and the\n"
	       "# upper half's to the other: at 0%% nothing is held, so the 0%% line is both.\n"
	       "# Both ran: the median (and least) share of a two-process round's wall time in which\n"
	       "# both processes ran. A run is ok when that share, and the lone process's share of its\n"
	       "# own round, are at least %.0f%%; a run that is not is taken again (%d tries at most,\n"
	       "# 'repeated' counts them) and then kept; 'runs ok: wall' is the wall-time x1 of the ok\n"
	       "# runs alone (na: none). On a loaded machine only that figure is the allocator's.\n",
	       100 * DUO_MIN_OVERLAP, DUO_TRIES);
	for (pol = 0; pol < 3; pol++) {
		for (fi = 0; fi < NDUO_FILLS; fi++)
			duo_one(pol, duo_fills[fi], opt.cap, (int)fi, 0);
		duo_one(pol, 0, 64, NDUO_FILLS, 0);
		/* each process freeing in its own half (0% holds nothing to split) */
		if (pol != NUMBALLOC_LOWEST)
			for (fi = 1; fi < NDUO_FILLS; fi++)
				duo_one(pol, duo_fills[fi], opt.cap, (int)fi, 1);
	}
}

/* ------------------------------------------- a new handle's first claim */

struct first {
	uint64_t first_ns;	/* the first allocation */
	uint64_t whole_ns;	/* open + first allocation + close */
	int bad;
};

/*
 * A warm-up pool of the same kind: the child calls the allocator once on
 * it before timing, so that the figure is a new handle's first search and
 * not the child's own first touches (copy-on-write of its stack and TLS
 * after fork, lazy binding of the library's symbols).
 */
static struct pool warm[NENG];

static void first_child(struct pool *p, struct first *out)
{
	uint64_t t0, t1, t2, t3, t4, id;
	int r;

	if (p_alloc(&warm[p->e], &id) == 0)
		p_free(&warm[p->e], id);

	if (p->e == E_NB) {
		struct numballoc *h;

		t0 = now_ns();
		r = numballoc_open(p->name, NULL, &h);
		t1 = now_ns();
		if (r == 0)
			r = numballoc_alloc(h, &id);
		t2 = now_ns();
		if (r == 0)
			r = numballoc_free(h, id);
		t3 = now_ns();
		numballoc_close(h);
		t4 = now_ns();
		out->first_ns = t2 - t1;
		out->whole_ns = (t2 - t0) + (t4 - t3);
	} else {
		bl_attach(p->bl);
		t1 = now_ns();
		r = p_alloc(p, &id);
		t2 = now_ns();
		if (r == 0)
			r = p_free(p, id);
		out->first_ns = t2 - t1;
		out->whole_ns = 0;
	}
	out->bad = r != 0;
	_exit(0);
}

static void measure_first(struct fig *f, double *whole, enum eng e, const struct fill *fl,
			  unsigned int policy)
{
	struct first *out = shared(sizeof(*out));
	struct pool p;
	int run, k;

	pool_create(&p, e, opt.cap, policy);
	fill_apply(fl, &p);
	for (run = 0; run < opt.runs; run++) {
		double sum = 0, wsum = 0;

		for (k = 0; k < opt.samples; k++) {
			pid_t pid = fork();

			if (pid < 0)
				die("fork: %s", strerror(errno));
			if (pid == 0)
				first_child(&p, out);
			waitpid(pid, NULL, 0);
			if (out->bad)
				wrong++;
			sum += (double)out->first_ns;
			wsum += (double)out->whole_ns;
		}
		fig_add(f, e, sum / opt.samples);
		if (whole)
			whole[run] = wsum / opt.samples;
	}
	pool_destroy(&p);
	munmap(out, sizeof(*out));
}

static void bench_first(void)
{
	static const double fills[] = { 0, 50, 90, 99, 99.9, -1 };
	unsigned int pol, fi, bottom;
	enum eng e;
	char lab[16];

	printf("\n# a new handle's first allocation (a forked process, warmed up on another pool, opens the pool)\n");
	for (e = 0; e < NENG; e++)
		pool_create(&warm[e], e, 64, 2);
	for (pol = 0; pol < 3; pol++) {
		for (bottom = 0; bottom < 2; bottom++) {
			for (fi = bottom; fi < sizeof(fills) / sizeof(fills[0]); fi++) {
				struct fig f;
				struct fill fl;
				double whole[MAXRUNS];

				memset(&f, 0, sizeof(f));
				snprintf(f.name, sizeof(f.name), "first/%s/%s%s", pol_name[pol],
					 bottom ? "bottomup-" : "",
					 fill_label(fills[fi], lab, sizeof(lab)));
				if (skip(f.name))
					continue;
				if (bottom)
					fill_bottom(&fl, opt.cap, fill_count(fills[fi], opt.cap));
				else
					fill_random(&fl, opt.cap, fill_count(fills[fi], opt.cap),
						    99 + fi);
				for (e = 0; e < NENG; e++)
					measure_first(&f, e == E_NB ? whole : NULL, e, &fl, pol);
				snprintf(f.extra, sizeof(f.extra), "open_alloc_close_ns=%.0f",
					 median(whole, f.n[E_NB], NULL, NULL));
				snprintf(f.note, sizeof(f.note), "open+alloc+close %.1f us",
					 median(whole, f.n[E_NB], NULL, NULL) / 1000);
				fig_print(&f);
				free(fl.ids);
			}
		}
	}
	for (e = 0; e < NENG; e++)
		pool_destroy(&warm[e]);
}

/* ------------------------------------------------------------- blocks */

/*
 * ITERS allocations of blocks of N aligned to N, and as many frees of random
 * held blocks, in turns of at most BATCH allocations then as many frees
 * (the fill moves by at most BATCH blocks). Each turn's allocations and
 * frees are timed apart, by the wall clock (a vDSO call, where the CPU-time
 * clock is a system call: a few hundred ns a turn, under 1 ns an
 * operation). Returns the ns spent allocating; adds the ns spent freeing
 * to *FREE_NS. HELD has room for NHELD + BATCH blocks.
 */
static uint64_t block_turns(struct pool *p, uint32_t *held, uint64_t nheld, uint64_t n,
			    uint64_t batch, uint64_t iters, uint64_t *seed, uint64_t *bad,
			    uint64_t *free_ns)
{
	uint64_t done = 0, alloc_ns = 0;

	while (done < iters) {
		uint64_t b = iters - done < batch ? iters - done : batch, i, t0, first, got = 0;

		t0 = now_ns();
		for (i = 0; i < b; i++) {
			if (p_alloc_block(p, n, n, &first) < 0)
				++*bad;
			else
				held[nheld + got++] = (uint32_t)first;
		}
		alloc_ns += now_ns() - t0;
		nheld += got;
		t0 = now_ns();
		for (i = 0; i < got; i++) {
			uint64_t k = below(seed, nheld);

			first = held[k];
			held[k] = held[--nheld];
			if (p_free_block(p, first, n) < 0)
				++*bad;
		}
		*free_ns += now_ns() - t0;
		done += b;
	}
	return alloc_ns;
}

static void bench_aligned(uint64_t n, double pct)
{
	uint64_t slots = opt.cap / n, m = fill_count(pct, slots), i, k, seed, bad = 0;
	/* turns small against the free slots, so the fill stays where it is */
	uint64_t batch = (slots - m) / 4 < 64 ? (slots - m) / 4 : 64;
	double free_ns[NENG][MAXRUNS];
	struct fill fl, ids;
	struct fig f;
	enum eng e;

	memset(&f, 0, sizeof(f));
	snprintf(f.name, sizeof(f.name), "block%" PRIu64 "/aligned/%g%%", n, pct);
	if (skip(f.name))
		return;
	if (batch < 1)
		batch = 1;
	fill_random(&fl, slots, m, 5 + n);	/* block numbers */
	ids.ids = malloc(m * n * sizeof(uint32_t) + 1);
	if (!ids.ids)
		die("out of memory");
	for (i = 0; i < m; i++) {
		fl.ids[i] = (uint32_t)(fl.ids[i] * n);	/* first IDs of the blocks */
		for (k = 0; k < n; k++)
			ids.ids[i * n + k] = (uint32_t)(fl.ids[i] + k);
	}
	ids.n = m * n;
	for (e = 0; e < NENG; e++) {
		uint32_t *held = malloc((m + batch) * sizeof(uint32_t));
		struct pool p;
		uint64_t iters = 16, t, fns = 0;
		int run;

		if (!held)
			die("out of memory");
		seed = 0xb10c;
		pool_create(&p, e, opt.cap, 0);
		fill_apply(&ids, &p);
		memcpy(held, fl.ids, m * sizeof(uint32_t));
		for (;;) {	/* calibrate, by count */
			t = block_turns(&p, held, m, n, batch, iters, &seed, &bad, &fns);
			t += fns;
			if (t > opt.run_ns / 8 || iters >= (UINT64_C(1) << 24))
				break;
			iters *= 4;
		}
		iters = (uint64_t)((double)iters * opt.run_ns / (double)(t ? t : 1));
		if (iters < 16)
			iters = 16;
		for (run = 0; run < opt.runs; run++) {
			fns = 0;
			fig_add(&f, e,
				(double)block_turns(&p, held, m, n, batch, iters, &seed, &bad,
						    &fns) / (double)iters);
			free_ns[e][run] = (double)fns / (double)iters;
		}
		pool_destroy(&p);
		free(held);
	}
	if (bad) {
		fprintf(stderr, "numballoc-bench: %s: %" PRIu64 " failed operations\n", f.name, bad);
		wrong++;
	}
	snprintf(f.extra, sizeof(f.extra), "free_ns=%.1f mutex_free_ns=%.1f hint_free_ns=%.1f",
		 median(free_ns[E_NB], f.n[E_NB], NULL, NULL),
		 median(free_ns[E_MX], f.n[E_MX], NULL, NULL),
		 median(free_ns[E_HB], f.n[E_HB], NULL, NULL));
	snprintf(f.note, sizeof(f.note), "allocation alone; a free: %.0f ns",
		 median(free_ns[E_NB], f.n[E_NB], NULL, NULL));
	fig_print(&f);
	free(fl.ids);
	free(ids.ids);
}

/*
 * An unaligned run of 8 at 99% random single-ID occupancy. The fill is
 * made to have no free run of 8 at all; EXISTS then frees one run of 8 at
 * a random place. Each operation allocates the run and frees it again
 * (EXISTS: it must succeed) or fails (none: it must say -ENOSPC).
 */
static void bench_unaligned(int exists)
{
	uint64_t cap = opt.cap, nw = cap / 64, i, w, seed = 0x0a11, planted = 0;
	uint64_t *ref = calloc(nw, sizeof(uint64_t)), bad = 0;
	struct fill fl;
	struct fig f;
	enum eng e;
	int run;

	memset(&f, 0, sizeof(f));
	snprintf(f.name, sizeof(f.name), "run8/unaligned/99%%/%s", exists ? "exists" : "none");
	if (skip(f.name) || !ref) {
		free(ref);
		return;
	}
	fill_random(&fl, cap, fill_count(99, cap), 0x99);
	for (i = 0; i < fl.n; i++)
		ref[fl.ids[i] / 64] |= UINT64_C(1) << (fl.ids[i] % 64);
	/* break every free run of 8 or more: set its 8th bit */
	for (i = 0, w = 0; i < cap; i++) {
		if (ref[i / 64] >> (i % 64) & 1) {
			w = 0;
		} else if (++w == 8) {
			ref[i / 64] |= UINT64_C(1) << (i % 64);
			fl.ids[fl.n++] = (uint32_t)i;
			w = 0;
		}
	}
	if (exists) {	/* free one run of 8 at a random place */
		planted = below(&seed, cap - 8);
		for (i = 0; i < fl.n; i++) {
			if (fl.ids[i] >= planted && fl.ids[i] < planted + 8)
				fl.ids[i--] = fl.ids[--fl.n];
		}
	}
	for (e = 0; e < NENG; e++) {
		struct pool p;
		uint64_t iters = 4, t = 0, k, first;

		pool_create(&p, e, cap, 0);
		fill_apply(&fl, &p);
		for (run = -1; run < opt.runs; run++) {	/* run -1 calibrates */
			uint64_t t0 = cpu_ns();

			for (k = 0; k < iters; k++) {
				int r = p_alloc_block(&p, 8, 1, &first);

				if (exists && r == 0)
					r = p_free_block(&p, first, 8);
				if (exists ? r != 0 : r != -ENOSPC)
					bad++;
			}
			t = cpu_ns() - t0;
			if (run >= 0) {
				fig_add(&f, e, (double)t / (double)iters);
			} else {
				iters = (uint64_t)(opt.run_ns / ((double)t / (double)iters));
				iters = iters < 3 ? 3 : iters > 1000000 ? 1000000 : iters;
			}
		}
		pool_destroy(&p);
	}
	if (bad) {
		fprintf(stderr, "numballoc-bench: %s: %" PRIu64 " wrong answers\n", f.name, bad);
		wrong++;
	}
	snprintf(f.extra, sizeof(f.extra), "wrong=%" PRIu64, bad);
	snprintf(f.note, sizeof(f.note), "%s%s", exists ? "must succeed" : "must fail",
		 bad ? ", WRONG ANSWERS" : "");
	fig_print(&f);
	free(fl.ids);
	free(ref);
}

static void bench_blocks(void)
{
	printf("\n# blocks (pool of %" PRIu64 " IDs)\n", opt.cap);
	bench_aligned(8, 50);
	bench_aligned(8, 99);
	bench_aligned(64, 50);
	bench_aligned(64, 99);
	bench_unaligned(1);
	bench_unaligned(0);
}

/* ----------------------------------------------- the CLI and lock files */

extern char **environ;

/*
 * Run ARGV (argv[0] a path, this process's environment) with stdout to a
 * pipe; the first number it printed, or -1; *STATUS from waitpid(). The
 * child is started with posix_spawn(), which glibc does with
 * clone(CLONE_VM | CLONE_VFORK): this process's page tables are not copied.
 * A fork() copies them for all the private memory that the figures before
 * this one touched, a cost that lockfile/inproc shows and that a shell
 * script starting the same program does not pay (it forks the shell). A
 * program that cannot be started (glibc's posix_spawn() reports a failed
 * exec) gives -1 and the status of a child that exited 127, as the fork()
 * and execv() this replaces did.
 */
static long run_capture(char *const argv[], int *status)
{
	posix_spawn_file_actions_t fa;
	char buf[64];
	ssize_t n, got = 0;
	int fd[2], err;
	pid_t pid;

	if (pipe(fd) < 0)
		die("pipe: %s", strerror(errno));
	err = posix_spawn_file_actions_init(&fa);
	if (!err)
		err = posix_spawn_file_actions_adddup2(&fa, fd[1], 1);
	if (!err)
		err = posix_spawn_file_actions_addclose(&fa, fd[0]);
	if (!err)
		err = posix_spawn_file_actions_addclose(&fa, fd[1]);
	if (err)
		die("posix_spawn_file_actions: %s", strerror(err));
	err = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fd[1]);
	if (err) {
		fprintf(stderr, "numballoc-bench: posix_spawn %s: %s\n", argv[0], strerror(err));
		close(fd[0]);
		*status = W_EXITCODE(127, 0);
		return -1;
	}
	while (got < (ssize_t)sizeof(buf) - 1 &&
	       (n = read(fd[0], buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
		got += n;
	buf[got] = 0;
	close(fd[0]);
	waitpid(pid, status, 0);
	return got ? strtol(buf, NULL, 10) : -1;
}

/*
 * The lock-file pattern in a fork of this process: the first ID whose file
 * is not locked. Its time includes the fork() of the benchmark process.
 */
static long lockfile_inproc(const char *dir)
{
	struct first *out = shared(sizeof(*out));
	long id = -1;
	pid_t pid = fork();

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		char path[512];
		uint64_t i;

		for (i = 0; i < 65536; i++) {
			int fd;

			snprintf(path, sizeof(path), "%s/%" PRIu64 ".lock", dir, i);
			fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
			if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0) {
				out->first_ns = i;
				_exit(0);
			}
			if (fd >= 0)
				close(fd);
		}
		_exit(3);
	}
	waitpid(pid, NULL, 0);
	id = (long)out->first_ns;
	munmap(out, sizeof(*out));
	return id;
}

/*
 * One allocation by a new process, IDs 0..HELD-1 taken, each row the wall
 * time from start to reap, a mean of opt.samples per run, all rows in the
 * same loop: "numballoc-cli --pool P allocate" (cli/allocate) and
 * "/bin/echo HELD" (exec/echo: starting a program that prints a number, the
 * floor under the CLI), both started with posix_spawn(), not with a fork()
 * of this process (run_capture()); the lock-file pattern in "/bin/sh -c"
 * started the same way (lockfile/sh-flock) and in a fork of this process
 * (lockfile/inproc). The ratios compare rows of the same runs, so an --only
 * that selects any row runs and prints all four.
 */
static void bench_cli(void)
{
	enum { HELD = 10 };
	static const char script[] =
		"i=0; while [ $i -lt 65536 ]; do exec 9>\"$0/$i.lock\" && "
		"flock -n 9 && { echo $i; exit 0; }; i=$((i+1)); done; exit 3";
	struct fig fc, fe, fs, fi;
	char dir[] = "/tmp/numballoc-bench-XXXXXX", path[512], held[16];
	int fds[HELD], i, run, k, st;
	struct pool p;
	char *argv[8];

	printf("\n# one allocation by a new process, %d IDs held (bottom-up)\n", HELD);
	memset(&fc, 0, sizeof(fc));
	memset(&fe, 0, sizeof(fe));
	memset(&fs, 0, sizeof(fs));
	memset(&fi, 0, sizeof(fi));
	snprintf(fc.name, sizeof(fc.name), "cli/allocate");
	snprintf(fe.name, sizeof(fe.name), "exec/echo");
	snprintf(fs.name, sizeof(fs.name), "lockfile/sh-flock");
	snprintf(fi.name, sizeof(fi.name), "lockfile/inproc");
	if (skip(fc.name) && skip(fe.name) && skip(fs.name) && skip(fi.name))
		return;
	snprintf(held, sizeof(held), "%d", HELD);
	if (!mkdtemp(dir))
		die("mkdtemp: %s", strerror(errno));
	for (i = 0; i < HELD; i++) {
		snprintf(path, sizeof(path), "%s/%d.lock", dir, i);
		fds[i] = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fds[i] < 0 || flock(fds[i], LOCK_EX | LOCK_NB) < 0)
			die("%s: %s", path, strerror(errno));
	}
	pool_create(&p, E_NB, 65536, 0);
	for (i = 0; i < HELD; i++)
		p_set(&p, (uint64_t)i);
	for (run = 0; run < opt.runs; run++) {
		double sc = 0, se = 0, ss = 0, si = 0;

		for (k = 0; k < opt.samples; k++) {
			uint64_t t0 = now_ns(), t1;
			long id;

			if (opt.cli) {
				argv[0] = (char *)opt.cli;
				argv[1] = (char *)"--pool";
				argv[2] = p.name;
				argv[3] = (char *)"allocate";
				argv[4] = NULL;
				id = run_capture(argv, &st);
				t1 = now_ns();
				if (id != HELD || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
					fprintf(stderr, "numballoc-bench: %s allocate: got %ld, status %d\n",
						opt.cli, id, st);
					wrong++;
				}
				if (id >= 0)
					numballoc_free(p.nb, (uint64_t)id);
				sc += (double)(t1 - t0);
			}
			argv[0] = (char *)"/bin/echo";
			argv[1] = held;
			argv[2] = NULL;
			t0 = now_ns();
			id = run_capture(argv, &st);
			se += (double)(now_ns() - t0);
			if (id != HELD || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
				wrong++;
			argv[0] = (char *)"/bin/sh";
			argv[1] = (char *)"-c";
			argv[2] = (char *)script;
			argv[3] = dir;
			argv[4] = NULL;
			t0 = now_ns();
			id = run_capture(argv, &st);
			ss += (double)(now_ns() - t0);
			if (id != HELD)
				wrong++;
			t0 = now_ns();
			id = lockfile_inproc(dir);
			si += (double)(now_ns() - t0);
			if (id != HELD)
				wrong++;
		}
		if (opt.cli)
			fig_add(&fc, E_NB, sc / opt.samples);
		fig_add(&fe, E_NB, se / opt.samples);
		fig_add(&fs, E_NB, ss / opt.samples);
		fig_add(&fi, E_NB, si / opt.samples);
	}
	if (opt.cli) {
		double c = fig_median(&fc, E_NB), e = fig_median(&fe, E_NB);
		double s = fig_median(&fs, E_NB);

		snprintf(fc.extra, sizeof(fc.extra),
			 "ratio_lockfile_sh=%.2f ratio_lockfile_inproc=%.2f ratio_exec=%.2f", s / c,
			 fig_median(&fi, E_NB) / c, e / c);
		snprintf(fc.note, sizeof(fc.note),
			 "posix_spawn+exec; %+.0f us over exec/echo; x%.2f vs lockfile/sh-flock",
			 (c - e) / 1000, s / c);
		fig_print(&fc);
	} else {
		printf("cli/allocate: skipped (no numballoc-cli: give --cli PATH or $NUMBALLOC_CLI)\n");
	}
	snprintf(fe.note, sizeof(fe.note), "posix_spawn of /bin/echo: the exec floor");
	snprintf(fs.note, sizeof(fs.note),
		 "posix_spawn of sh -c: exec 9>N.lock; flock -n 9, per ID");
	snprintf(fi.note, sizeof(fi.note), "fork of the benchmark process, then open+flock per ID");
	fig_print(&fe);
	fig_print(&fs);
	fig_print(&fi);
	pool_destroy(&p);
	for (i = 0; i < 65536; i++) {
		snprintf(path, sizeof(path), "%s/%d.lock", dir, i);
		if (unlink(path) < 0 && i > HELD)
			break;
		if (i < HELD)
			close(fds[i]);
	}
	rmdir(dir);
}

/* ------------------------------------------------------------ the loop */

/*
 * The loop of the pair figures at 99%: random pick and held array, with no
 * allocator ("loop"), and with the floor of any allocator in its place:
 * two CAS on one word, a set and a clear of one bit ("floor").
 */
static double overhead_run(uint64_t *held, uint64_t nheld, uint64_t iters, int floor,
			   uint64_t *sum)
{
	uint64_t i, k, seed = 1, t0, word = 0;

	t0 = cpu_ns();
	for (i = 0; i < iters; i++) {
		k = pick(nheld, &seed);
		if (floor)
			uatomic_cmpxchg(&word, 0, UINT64_C(1) << (i % 64));
		held[nheld] = i;
		*sum += held[k];
		held[k] = held[nheld];
		if (floor)
			uatomic_cmpxchg(&word, UINT64_C(1) << (i % 64), 0);
	}
	t0 = cpu_ns() - t0;
	return (double)t0 / (double)iters;
}

static void bench_overhead(void)
{
	struct fill fl;
	uint64_t sum = 0, iters = (uint64_t)(opt.run_ns / 8), *held, i;
	double loop, floor;

	if (skip("overhead"))
		return;
	fill_random(&fl, opt.cap, fill_count(99, opt.cap), 3);
	held = malloc((fl.n + 1) * sizeof(uint64_t));
	if (!held)
		die("out of memory");
	for (i = 0; i < fl.n; i++)
		held[i] = fl.ids[i];
	loop = overhead_run(held, fl.n, iters, 0, &sum);
	floor = overhead_run(held, fl.n, iters, 1, &sum);
	free(held);
	printf("\n# the pair figures' loop at 99%% (random pick in the held array): %.1f ns;"
	       "\n# with two CAS on one word in it (the floor of any allocator): %.1f ns (%" PRIu64 ")\n",
	       loop, floor, sum & 1);
	machine_add("name=overhead/loop ns=%.1f\n", loop);
	machine_add("name=overhead/floor ns=%.1f\n", floor);
	free(fl.ids);
}

/*
 * In a build tree, tools/numballoc-cli is libtool's wrapper script, which
 * costs a shell start of its own: time the real program in .libs instead,
 * with the uninstalled library on LD_LIBRARY_PATH.
 */
static const char *cli_unwrap(const char *cli)
{
	static char real[4096], libdir[4096];
	const char *slash = strrchr(cli, '/');
	char head[2] = { 0, 0 };
	FILE *f = fopen(cli, "r");
	size_t dl = slash ? (size_t)(slash - cli) : 0;
	const char *old;
	char *env;

	if (!f)
		return cli;
	if (fread(head, 1, 2, f) != 2)
		head[0] = 0;
	fclose(f);
	if (head[0] != '#' || head[1] != '!' || dl >= 2000)
		return cli;
	snprintf(real, sizeof(real), "%.*s%s.libs/%s", (int)dl, cli, slash ? "/" : "",
		 slash ? slash + 1 : cli);
	snprintf(libdir, sizeof(libdir), "%.*s%s../lib/.libs", (int)dl, cli, slash ? "/" : "");
	if (access(real, X_OK) < 0 || access(libdir, R_OK) < 0)
		return cli;
	old = getenv("LD_LIBRARY_PATH");
	if (asprintf(&env, "%s%s%s", libdir, old ? ":" : "", old ? old : "") < 0)
		return cli;
	setenv("LD_LIBRARY_PATH", env, 1);
	free(env);
	printf("timing %s (the program behind libtool's wrapper %s)\n", real, cli);
	return real;
}

/* bench/bench-buffer.c (issue 5): the offset buffer and page allocator workloads. */
void bench_buffer(int quick);

static void usage(FILE *f)
{
	fprintf(f,
		"usage: numballoc-bench [--quick] [--runs N] [--only TEXT] [--cli PATH]\n"
		"  --quick      a few seconds in all: a pool of 65536 IDs, short runs\n"
		"  --runs N     timed runs per figure (5..%d; default 7, --quick 5)\n"
		"  --only TEXT  only the figures whose name contains TEXT\n"
		"  --cli PATH   the numballoc-cli to time (default: $NUMBALLOC_CLI)\n"
		"Figures are medians of the runs; ratios are baseline time / numballoc time.\n",
		MAXRUNS);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "quick", no_argument, NULL, 'q' }, { "runs", required_argument, NULL, 'r' },
		{ "only", required_argument, NULL, 'o' }, { "cli", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },   { NULL, 0, NULL, 0 }
	};
	int c;

	opt.runs = 7;
	opt.cli = getenv("NUMBALLOC_CLI");
	while ((c = getopt_long(argc, argv, "qr:o:c:h", lo, NULL)) != -1) {
		switch (c) {
		case 'q':
			opt.quick = 1;
			break;
		case 'r':
			opt.runs = atoi(optarg);
			break;
		case 'o':
			opt.only = optarg;
			break;
		case 'c':
			opt.cli = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || opt.runs < 5 || opt.runs > MAXRUNS) {
		usage(stderr);
		return 2;
	}
	if (opt.cli && (!opt.cli[0] || access(opt.cli, X_OK) < 0)) {
		printf("numballoc-cli not found at '%s': its figure is skipped\n", opt.cli);
		opt.cli = NULL;
	}
	if (opt.cli)
		opt.cli = cli_unwrap(opt.cli);
	if (opt.quick && opt.runs == 7)
		opt.runs = 5;
	opt.cap = opt.quick ? 65536 : UINT64_C(1) << 20;
	opt.bigcap = opt.quick ? UINT64_C(1) << 18 : UINT64_C(1) << 24;
	opt.run_ns = opt.quick ? 300e3 : 20e6;
	opt.duo_ns = opt.quick ? 300e3 : 30e6;
	opt.samples = opt.quick ? 1 : 5;
	main_pid = getpid();
	atexit(names_cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGPIPE, on_signal);

	printf("numballoc-bench%s: %d runs per figure; median, min, max of numballoc, then the\n"
	       "medians of the baselines (mutex: process-shared mutex + linear scan; hint: Go\n"
	       "numballoc's lock-free scan from a per-process word hint) and the ratios\n"
	       "baseline/numballoc (above 1: numballoc is faster). One-process figures count\n"
	       "the thread's CPU time (time descheduled by other work is not counted).\n",
	       opt.quick ? " --quick" : "", opt.runs);
	printf("%-30s %10s %10s %10s | %10s %10s | %6s %6s\n", "figure", "median", "min", "max",
	       "mutex", "hint", "xmutex", "xhint");
	bench_pairs();
	bench_overhead();
	bench_duo();
	bench_first();
	bench_blocks();
	bench_cli();
	if (!opt.only || strstr("buffer pages", opt.only)) {
		printf("\n# buffer and pages (bench/bench-buffer.c)\n");
		fflush(stdout);
		bench_buffer(opt.quick);
		fflush(stdout);
	}
	printf("\n# machine-readable\n");
	if (machine)
		fputs(machine, stdout);
	if (wrong)
		printf("numballoc-bench: %d wrong answers or failed operations\n", wrong);
	return wrong ? 1 : 0;
}
