/* SPDX-License-Identifier: MIT */
/*
 * check_pyglet.c - differential test against pyglet's Allocator.
 *
 * tests/pyglet-diff.py drives pyglet.graphics.allocation.Allocator (from
 * Debian's python3-pyglet) with random operations and prints each one
 * with pyglet's answer, adjusted only for pyglet's documented faults (see
 * the script). This program replays every line on numballoc_buf and
 * compares return values, offsets, needed capacities, every statistic
 * and the merged regions. One TAP test per seed; all skipped where no
 * python3 with pyglet is found.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numballoc.h"

#ifndef TOP_SRCDIR
#define TOP_SRCDIR "."
#endif

#define NSEEDS 6
#define NOPS 3000
#define MAXREG 4096

static const char *const pythons[] = { "python3", "/usr/bin/python3" };

struct run {
	struct numballoc_buf *b;
	char why[512];
	unsigned long line;
};

static int fail(struct run *r, const char *what, const char *line)
{
	snprintf(r->why, sizeof(r->why), "line %lu: %s: %.300s", r->line, what, line);
	return -1;
}

static int check_stat(struct run *r, char *line)
{
	static uint64_t starts[MAXREG], sizes[MAXREG];
	struct numballoc_buf_stat st;
	uint64_t cap, fr, ff, lg, s, z;
	double frag, usage;
	size_t n, want, i;
	char *p;
	int k;

	if (sscanf(line, "stat %" SCNu64 " %" SCNu64 " %" SCNu64 " %lf %lf %" SCNu64 " %zu%n",
		   &cap, &fr, &ff, &frag, &usage, &lg, &want, &k) != 7)
		return fail(r, "bad line", line);
	if (numballoc_buf_stat(r->b, &st) || numballoc_buf_regions(r->b, starts, sizes, MAXREG, &n))
		return fail(r, "stat failed", line);
	if (st.capacity != cap || st.free_size != fr || st.fragmented_free_size != ff ||
	    st.largest_free != lg || fabs(st.fragmentation - frag) > 1e-12 ||
	    fabs(st.usage - usage) > 1e-12) {
		char buf[200];

		snprintf(buf, sizeof(buf),
			 "numballoc: %" PRIu64 " %" PRIu64 " %" PRIu64 " %.17g %.17g %" PRIu64,
			 st.capacity, st.free_size, st.fragmented_free_size, st.fragmentation,
			 st.usage, st.largest_free);
		return fail(r, buf, line);
	}
	if (n != want)
		return fail(r, "number of regions", line);
	p = line + k;
	for (i = 0; i < n && i < MAXREG; i++) {
		s = strtoull(p, &p, 10);
		z = strtoull(p, &p, 10);
		if (starts[i] != s || sizes[i] != z)
			return fail(r, "regions", line);
	}
	return 0;
}

static int replay(struct run *r, char *line)
{
	uint64_t a, b, c, d, got, need;
	char res[16];
	int ret;

	if (sscanf(line, "new %" SCNu64, &a) == 1) {
		/* pyglet places by first fit: so must the allocator under test */
		struct numballoc_buf_opts o = { .capacity = a, .max_capacity = 1 << 20,
						.flags = NUMBALLOC_BUF_FIRST_FIT };

		numballoc_buf_close(r->b);
		r->b = NULL;
		return numballoc_buf_open(NULL, &o, &r->b) ? fail(r, "open", line) : 0;
	}
	if (!r->b)
		return fail(r, "no buffer", line);
	if (sscanf(line, "alloc %" SCNu64 " %15s %" SCNu64, &a, res, &b) == 3) {
		ret = numballoc_buf_alloc(r->b, a, &got);
		if (!strcmp(res, "ok"))
			return ret || got != b ? fail(r, "alloc differs", line) : 0;
		if (ret != -ENOSPC || numballoc_buf_needed(r->b, a, &need) || need != b)
			return fail(r, "alloc should fail with this needed capacity", line);
		return 0;
	}
	if (sscanf(line, "dealloc %" SCNu64 " %" SCNu64, &a, &b) == 2)
		return numballoc_buf_dealloc(r->b, a, b) ? fail(r, "dealloc", line) : 0;
	if (sscanf(line, "realloc %" SCNu64 " %" SCNu64 " %" SCNu64 " %15s %" SCNu64, &a, &b, &c,
		   res, &d) >= 4) {
		ret = numballoc_buf_realloc(r->b, a, b, c, &got);
		if (!strcmp(res, "ok"))
			return ret || got != d ? fail(r, "realloc differs", line) : 0;
		return ret != -ENOSPC ? fail(r, "realloc should fail", line) : 0;
	}
	if (sscanf(line, "grow %" SCNu64, &a) == 1)
		return numballoc_buf_set_capacity(r->b, a) ? fail(r, "grow", line) : 0;
	if (!strncmp(line, "stat ", 5))
		return check_stat(r, line);
	return fail(r, "unknown line", line);
}

/* 1 passed, 0 failed, -1 skipped (REASON says why). */
static int run_seed(int seed, char *reason, size_t len)
{
	static char line[1 << 16];
	struct run r = { 0 };
	char cmd[1024];
	size_t i;
	int ok = -1, status;

	for (i = 0; i < sizeof(pythons) / sizeof(pythons[0]) && ok < 0; i++) {
		FILE *f;

		snprintf(cmd, sizeof(cmd), "%s '%s/tests/pyglet-diff.py' %d %d 2>/dev/null",
			 pythons[i], TOP_SRCDIR, seed, NOPS);
		f = popen(cmd, "r");
		if (!f)
			continue;
		r.line = 0;
		ok = 1;
		while (fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\n")] = '\0';
			r.line++;
			if (r.line == 1 && !strncmp(line, "skip ", 5)) {
				snprintf(reason, len, "%.500s", line + 5);
				ok = -1;
				break;
			}
			if (ok == 1 && replay(&r, line) < 0)
				ok = 0;
		}
		status = pclose(f);
		if (ok == 1 && (status != 0 || r.line == 0)) {
			snprintf(reason, len, "%s did not run the script", pythons[i]);
			ok = -1;
		}
	}
	numballoc_buf_close(r.b);
	if (ok == 0)
		snprintf(reason, len, "%s", r.why);
	return ok;
}

int main(void)
{
	char reason[600] = "no python3";
	int seed, r, failed = 0;

	r = run_seed(1, reason, sizeof(reason));
	if (r < 0) {
		printf("1..0 # SKIP %s\n", reason);
		return 0;
	}
	printf("1..%d\n", NSEEDS);
	for (seed = 1; seed <= NSEEDS; seed++) {
		if (seed > 1)
			r = run_seed(seed, reason, sizeof(reason));
		if (r > 0) {
			printf("ok %d - pyglet seed %d: %d operations agree\n", seed, seed, NOPS);
		} else {
			printf("not ok %d - pyglet seed %d: %s\n", seed, seed, reason);
			failed++;
		}
	}
	return failed ? 1 : 0;
}
