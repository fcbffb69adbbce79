/* SPDX-License-Identifier: MIT */
/*
 * segfit.c - the segregated-fit baseline of the buffer benchmark: the
 * classic design (TLSF and OffsetAllocator are refinements of it) in one
 * MAP_SHARED mapping under one process-shared pthread mutex, so that forked
 * processes share it as they share a numballoc buffer.
 *
 * Free blocks only are recorded: len[s] is the length of the free block
 * that starts at unit s (0 elsewhere), start[e] the start of the free
 * block that ends at unit e (checked against len[] before use), and
 * next[]/prev[] link the blocks of one size class. Classes: exact below
 * 64 units, then 8 per power of two. An allocation takes the first block
 * of the smallest non-empty class whose blocks all fit (a mask of the
 * non-empty classes finds it), else looks through the class that holds
 * its own size; the rest of the block goes back. A free merges with the
 * free neighbours on both sides. Every operation is O(1) but that last
 * look.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "fit.h"

#define SF_NIL UINT32_MAX
#define SF_BINS 256		/* 64 exact, then 8 per power of two up to 2^30 units */
#define SF_MASKS (SF_BINS / 64)
#define SF_MAX (UINT64_C(1) << 30)

struct sf {
	pthread_mutex_t mu;		/* process-shared: guards everything below */
	uint64_t units;			/* the buffer, < SF_MAX */
	uint64_t mask[SF_MASKS];	/* bit b: class b is not empty */
	uint32_t head[SF_BINS];		/* first block of each class, or SF_NIL */
	uint32_t *len, *start, *next, *prev;	/* units entries each, in this mapping */
	size_t size;			/* bytes of the mapping */
};

static unsigned int sf_bin(uint64_t l)
{
	unsigned int lg;

	if (l < 64)
		return (unsigned int)l;
	lg = 63u - (unsigned int)__builtin_clzll(l);
	return 64 + (lg - 6) * 8 + (unsigned int)((l >> (lg - 3)) & 7);
}

static uint64_t sf_bin_low(unsigned int b)
{
	if (b < 64)
		return b;
	return (UINT64_C(8) + (b - 64) % 8) << ((b - 64) / 8 + 3);
}

static void sf_insert(struct sf *s, uint32_t at, uint32_t l)
{
	unsigned int b = sf_bin(l);

	s->len[at] = l;
	s->start[at + l - 1] = at;
	s->prev[at] = SF_NIL;
	s->next[at] = s->head[b];
	if (s->head[b] != SF_NIL)
		s->prev[s->head[b]] = at;
	s->head[b] = at;
	s->mask[b / 64] |= UINT64_C(1) << (b % 64);
}

static void sf_remove(struct sf *s, uint32_t at)
{
	unsigned int b = sf_bin(s->len[at]);

	if (s->prev[at] != SF_NIL)
		s->next[s->prev[at]] = s->next[at];
	else
		s->head[b] = s->next[at];
	if (s->next[at] != SF_NIL)
		s->prev[s->next[at]] = s->prev[at];
	if (s->head[b] == SF_NIL)
		s->mask[b / 64] &= ~(UINT64_C(1) << (b % 64));
	s->len[at] = 0;
}

/* The first non-empty class >= B, or SF_BINS. */
static unsigned int sf_next_bin(const struct sf *s, unsigned int b)
{
	unsigned int w;

	for (w = b / 64; w < SF_MASKS; w++) {
		uint64_t m = s->mask[w] & (w == b / 64 ? ~UINT64_C(0) << (b % 64) : ~UINT64_C(0));

		if (m)
			return w * 64 + (unsigned int)__builtin_ctzll(m);
	}
	return SF_BINS;
}

static int sf_alloc_locked(struct sf *s, uint64_t n, uint64_t *first)
{
	unsigned int b = sf_bin(n);
	uint32_t at = SF_NIL, l;

	if (sf_bin_low(b) < n)
		b++;
	b = sf_next_bin(s, b);
	if (b < SF_BINS) {
		at = s->head[b];
	} else {
		for (at = s->head[sf_bin(n)]; at != SF_NIL && s->len[at] < n; at = s->next[at])
			;
		if (at == SF_NIL)
			return -ENOSPC;
	}
	l = s->len[at];
	sf_remove(s, at);
	if (l > n)
		sf_insert(s, at + (uint32_t)n, l - (uint32_t)n);
	*first = at;
	return 0;
}

static void sf_free_locked(struct sf *s, uint64_t first, uint64_t n)
{
	uint32_t at = (uint32_t)first, l = (uint32_t)n, p;

	if (first + n < s->units && s->len[first + n]) {
		l += s->len[first + n];
		sf_remove(s, (uint32_t)(first + n));
	}
	if (first > 0) {
		p = s->start[first - 1];
		if (p < first && s->len[p] && p + s->len[p] == first) {
			l += s->len[p];
			sf_remove(s, p);
			at = p;
		}
	}
	sf_insert(s, at, l);
}

static int sf_make(struct fit *f)
{
	pthread_mutexattr_t ma;
	size_t size;
	struct sf *s;
	void *p;

	if (f->units == 0 || f->units >= SF_MAX)
		return -EINVAL;
	size = sizeof(*s) + 4 * f->units * sizeof(uint32_t);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	s = p;
	s->size = size;
	s->units = f->units;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutex_init(&s->mu, &ma);
	pthread_mutexattr_destroy(&ma);
	s->len = (void *)(s + 1);	/* the arrays follow the header */
	s->start = s->len + f->units;
	s->next = s->start + f->units;
	s->prev = s->next + f->units;
	memset(s->head, 0xff, sizeof(s->head));
	sf_insert(s, 0, (uint32_t)f->units);
	f->shared = s;
	return 0;
}

static int sf_join(struct fit *f)
{
	f->local = f->shared;	/* one mapping at one address: fork keeps it */
	return 0;
}

static int sf_alloc(struct fit *f, uint64_t n, uint64_t *first, uint32_t *tag)
{
	struct sf *s = f->local;
	int r;

	(void)tag;
	pthread_mutex_lock(&s->mu);
	r = sf_alloc_locked(s, n, first);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int sf_free(struct fit *f, uint64_t first, uint64_t n, uint32_t tag)
{
	struct sf *s = f->local;

	(void)tag;
	pthread_mutex_lock(&s->mu);
	sf_free_locked(s, first, n);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

static double sf_frag(struct fit *f)
{
	struct sf *s = f->local;
	uint64_t i, free = 0, big = 0;

	pthread_mutex_lock(&s->mu);
	for (i = 0; i < s->units; i++)
		if (s->len[i]) {
			free += s->len[i];
			big = s->len[i] > big ? s->len[i] : big;
			i += s->len[i] - 1;
		}
	pthread_mutex_unlock(&s->mu);
	return big ? (double)free / (double)big : 0.0;
}

static void sf_leave(struct fit *f)
{
	f->local = NULL;
}

static void sf_unmake(struct fit *f)
{
	struct sf *s = f->shared;

	pthread_mutex_destroy(&s->mu);
	munmap(s, s->size);
	f->shared = NULL;
}

void fit_segfit(struct fit *f)
{
	f->label = "segfit+mutex";
	f->make = sf_make;
	f->join = sf_join;
	f->alloc = sf_alloc;
	f->free = sf_free;
	f->frag = sf_frag;
	f->leave = sf_leave;
	f->unmake = sf_unmake;
}
