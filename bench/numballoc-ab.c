/* SPDX-License-Identifier: MIT */
/*
 * numballoc-ab - two builds of libnumballoc in one process, compared on
 * the pair figure of numballoc-bench (allocate one ID by the pool's
 * policy, then free a random held ID, on a pool filled at random).
 *
 * The machines this runs on are shared and swing by 2x from one second to
 * the next, so two programs run one after the other compare the machine's
 * moods as much as the builds. Here each build is loaded with dlopen()
 * (RTLD_LOCAL: each has its own symbols and its own thread-local hints),
 * gets its own pool filled the same way, and the two take turns: short
 * rounds, A then B, then B then A, and so on. The figure is the median of
 * the rounds' own ratios B/A, with its quartiles: below 1, B is faster.
 * The held IDs are a uint64_t array and the ID to free is drawn as the
 * loop reaches it, with no prefetch (bench-util.h): what a caller pays.
 *
 *	numballoc-ab [--rounds N] [--iters N] [--bits B] A.so B.so POLICY FILL
 *
 * POLICY: lowest, cyclic or spread. FILL: a percentage (0 to 99.99) or
 * "1free" (one free ID). Not a test: it prints figures and fails only on
 * bad arguments or a wrong answer from an allocator.
 */
#include "config.h"

#include <dlfcn.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "numballoc.h"
#include "bench-util.h"

#define MAXROUNDS 201

struct build {
	const char *path;
	int (*open)(const char *, const struct numballoc_opts *, struct numballoc **);
	int (*close)(struct numballoc *);
	int (*unlink)(const char *);
	int (*alloc)(struct numballoc *, uint64_t *);
	int (*alloc_id)(struct numballoc *, uint64_t);
	int (*free)(struct numballoc *, uint64_t);
	struct numballoc *pool;
	char name[64];
	uint64_t *held;			/* the IDs held, as a caller keeps them */
	double ns[MAXROUNDS];
};

/* The pools made so far: die() unlinks them, so a failed run leaves no segment behind. */
static struct build *made[2];
static int nmade;

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("numballoc-ab: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	while (nmade > 0) {
		struct build *b = made[--nmade];

		b->unlink(b->name);
	}
	exit(2);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void *sym(void *h, const char *path, const char *name)
{
	void *f = dlsym(h, name);

	if (!f)
		die("%s: no %s", path, name);
	return f;
}

static void load(struct build *b, unsigned int policy, uint64_t cap, const uint32_t *ids,
		 uint64_t n, int which)
{
	struct numballoc_opts o;
	void *h = dlopen(b->path, RTLD_NOW | RTLD_LOCAL);
	uint64_t i;
	int r;

	if (!h)
		die("%s", dlerror());
	b->open = sym(h, b->path, "numballoc_open");
	b->close = sym(h, b->path, "numballoc_close");
	b->unlink = sym(h, b->path, "numballoc_unlink");
	b->alloc = sym(h, b->path, "numballoc_alloc");
	b->alloc_id = sym(h, b->path, "numballoc_alloc_id");
	b->free = sym(h, b->path, "numballoc_free");
	memset(&o, 0, sizeof(o));
	o.capacity = cap;
	o.policy = policy;
	o.flags = NUMBALLOC_CREATE | NUMBALLOC_EXCL;
	snprintf(b->name, sizeof(b->name), "numballoc-ab-%ld-%d", (long)getpid(), which);
	r = b->open(b->name, &o, &b->pool);
	if (r < 0)
		die("%s: numballoc_open: %s", b->path, strerror(-r));
	made[nmade++] = b;
	b->held = malloc((n + 1) * sizeof(uint64_t));
	if (!b->held)
		die("out of memory");
	for (i = 0; i < n; i++) {
		if (b->alloc_id(b->pool, ids[i]) < 0)
			die("%s: filling the pool failed", b->path);
		b->held[i] = ids[i];
	}
}

/* ITERS pairs on B's pool; the CPU ns of one pair. */
static double round_of(struct build *b, uint64_t n, uint64_t iters, uint64_t *seed)
{
	uint64_t i, id, t0;

	t0 = cpu_ns();
	for (i = 0; i < iters; i++) {
		uint64_t k = pick(n, seed);

		if (b->alloc(b->pool, &id) < 0)
			die("%s: an allocation failed with %" PRIu64 " IDs held", b->path, n);
		b->held[n] = id;
		id = b->held[k];
		b->held[k] = b->held[n];
		if (b->free(b->pool, id) < 0)
			die("%s: freeing a held ID failed", b->path);
	}
	return (double)(cpu_ns() - t0) / (double)iters;
}

static void usage(void)
{
	fputs("usage: numballoc-ab [--rounds N] [--iters N] [--bits B] A.so B.so POLICY FILL\n"
	      "  POLICY  lowest, cyclic or spread\n"
	      "  FILL    percent of the pool held at random (0 to 99.99), or 1free\n"
	      "  --rounds N  rounds per build, 5..201 (default 21)\n"
	      "  --iters N   pairs per round (default 200000)\n"
	      "  --bits B    a pool of 2^B IDs, 7..26 (default 20)\n",
	      stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "rounds", required_argument, NULL, 'r' },
		{ "iters", required_argument, NULL, 'i' },
		{ "bits", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const policies[] = { "lowest", "cyclic", "spread" };
	struct build b[2];
	double ratio[MAXROUNDS], fill;
	uint64_t n, i, seed = 0x5eed, iters = 200000, cap = UINT64_C(1) << 20;
	uint32_t *ids;
	unsigned int policy;
	int c, rounds = 21, rd;
	char *end;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 'r') {
			rounds = (int)strtol(optarg, &end, 10);
			if (*end || rounds < 5 || rounds > MAXROUNDS)
				usage();
		} else if (c == 'i') {
			iters = strtoull(optarg, &end, 10);
			if (*end || iters == 0)
				usage();
		} else if (c == 'b') {
			i = strtoull(optarg, &end, 10);
			if (*end || i < 7 || i > 26)
				usage();
			cap = UINT64_C(1) << i;
		} else {
			usage();
		}
	}
	if (argc - optind != 4)
		usage();
	for (policy = 0; policy < 3; policy++)
		if (!strcmp(argv[optind + 2], policies[policy]))
			break;
	if (policy == 3)
		usage();
	if (!strcmp(argv[optind + 3], "1free")) {
		n = cap - 1;
	} else {
		fill = strtod(argv[optind + 3], &end);
		if (*end || !(fill >= 0 && fill < 100))
			usage();
		n = (uint64_t)((double)cap * fill / 100);
	}
	/* the same random fill for both: a shuffle of every ID, the first N held */
	ids = malloc(cap * sizeof(uint32_t));
	if (!ids)
		die("out of memory");
	for (i = 0; i < cap; i++)
		ids[i] = (uint32_t)i;
	for (i = cap - 1; i > 0; i--) {
		uint64_t j = below(&seed, i + 1);
		uint32_t t = ids[i];

		ids[i] = ids[j];
		ids[j] = t;
	}
	memset(b, 0, sizeof(b));
	for (c = 0; c < 2; c++) {
		b[c].path = argv[optind + c];
		load(&b[c], policy, cap, ids, n, c);
	}
	free(ids);
	/* two warm-up rounds each, then A B, B A, A B, ... */
	for (rd = -2; rd < rounds; rd++) {
		for (c = 0; c < 2; c++) {
			int who = rd & 1 ? 1 - c : c;
			double ns = round_of(&b[who], n, iters, &seed);

			if (rd >= 0)
				b[who].ns[rd] = ns;
		}
	}
	for (rd = 0; rd < rounds; rd++)
		ratio[rd] = b[1].ns[rd] / b[0].ns[rd];
	for (c = 0; c < 2; c++) {
		qsort(b[c].ns, (size_t)rounds, sizeof(double), cmp_double);
		b[c].close(b[c].pool);
		b[c].unlink(b[c].name);
		free(b[c].held);
	}
	qsort(ratio, (size_t)rounds, sizeof(double), cmp_double);
	printf("%s %s: A %.1f ns, B %.1f ns a pair (medians of %d rounds); "
	       "B/A %.2f (quartiles %.2f..%.2f)\n",
	       policies[policy], argv[optind + 3], b[0].ns[rounds / 2], b[1].ns[rounds / 2], rounds,
	       ratio[rounds / 2], ratio[rounds / 4], ratio[3 * rounds / 4]);
	return 0;
}
