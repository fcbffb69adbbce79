/* SPDX-License-Identifier: MIT */
/*
 * baseline.c - the allocators numballoc-bench measures numballoc against.
 * See baseline.h. Deliberately plain: what a careful programmer writes
 * without a summary index.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <urcu/uatomic.h>

#include "baseline.h"

#define FULL UINT64_MAX
#define NONE UINT64_MAX

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	x *= UINT64_C(0xc4ceb9fe1a85ec53);
	x ^= x >> 33;
	return x;
}

struct bl *bl_create(uint64_t nbits)
{
	pthread_mutexattr_t a;
	size_t size = 64 + nbits / 8;
	struct bl *b;
	void *p;

	if (nbits == 0 || nbits % 64)
		return NULL;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	b = calloc(1, sizeof(*b));
	if (!b) {
		munmap(p, size);
		return NULL;
	}
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	/* the mutex lives in the shared mapping's first line */
	b->words = (uint64_t *)p + 8;
	b->nbits = nbits;
	b->nwords = nbits / 64;
	b->size = size;
	b->sh = p;
	pthread_mutex_init(&b->sh->mu, &a);
	pthread_mutexattr_destroy(&a);
	bl_attach(b);
	return b;
}

_Static_assert(sizeof(struct bl_shared) <= 64, "the shared header is one line");

static pthread_mutex_t *mu(struct bl *b)
{
	return &b->sh->mu;
}

static uint64_t *cursor(struct bl *b)
{
	return &b->sh->cursor;
}

void bl_destroy(struct bl *b)
{
	if (!b)
		return;
	munmap(b->sh, b->size);
	free(b);
}

void bl_attach(struct bl *b)
{
	b->hint = mix64((uint64_t)getpid() * 0x9e3779b97f4a7c15u ^ (uint64_t)(uintptr_t)b) % b->nwords;
	b->last = NONE;
}

int bl_set(struct bl *b, uint64_t bit)
{
	uint64_t m = UINT64_C(1) << (bit % 64);

	if (bit >= b->nbits)
		return -EINVAL;
	if (uatomic_read(&b->words[bit / 64]) & m)
		return -EEXIST;
	uatomic_or(&b->words[bit / 64], m);
	return 0;
}

/* The first clear bit >= FROM, or NONE: full words are skipped whole. */
static uint64_t next_clear(const struct bl *b, uint64_t from)
{
	uint64_t w;

	for (w = from / 64; w < b->nwords; w++) {
		uint64_t x = ~uatomic_read(&b->words[w]);

		if (w == from / 64)
			x &= FULL << (from % 64);
		if (x)
			return w * 64 + (uint64_t)__builtin_ctzll(x);
	}
	return NONE;
}

/* The first set bit in [from, to], or NONE. */
static uint64_t first_set(const struct bl *b, uint64_t from, uint64_t to)
{
	uint64_t w;

	for (w = from / 64; w <= to / 64; w++) {
		uint64_t x = uatomic_read(&b->words[w]);

		if (w == from / 64)
			x &= FULL << (from % 64);
		if (w == to / 64)
			x &= FULL >> (63 - to % 64);
		if (x)
			return w * 64 + (uint64_t)__builtin_ctzll(x);
	}
	return NONE;
}

static uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1);
}

/* First fit of N clear bits aligned to A with the first in [from, nbits - n]. */
static uint64_t find_run(const struct bl *b, uint64_t n, uint64_t a, uint64_t from)
{
	uint64_t pos = align_up(from, a);

	while (pos + n <= b->nbits) {
		uint64_t z = next_clear(b, pos), s;

		if (z == NONE)
			return NONE;
		if (z != pos) {
			pos = align_up(z, a);
			continue;
		}
		s = first_set(b, pos, pos + n - 1);
		if (s == NONE)
			return pos;
		pos = align_up(s + 1, a);
	}
	return NONE;
}

static uint64_t run_mask(uint64_t w, uint64_t first, uint64_t last)
{
	uint64_t m = FULL;

	if (w == first / 64)
		m &= FULL << (first % 64);
	if (w == last / 64)
		m &= FULL >> (63 - last % 64);
	return m;
}

/* ----------------------------------------------------------- mutex */

static uint64_t mx_scan(struct bl *b, uint64_t from_word)
{
	uint64_t i, w;

	for (i = 0; i < b->nwords; i++) {
		w = from_word + i < b->nwords ? from_word + i : from_word + i - b->nwords;
		if (b->words[w] != FULL) {
			uint64_t x = ~b->words[w];

			b->words[w] |= x & -x;
			return w * 64 + (uint64_t)__builtin_ctzll(x);
		}
	}
	return NONE;
}

/* CYCLIC: the first clear bit after the cursor, wrapping. */
static uint64_t mx_scan_cyclic(struct bl *b)
{
	uint64_t c = *cursor(b) + 1, w, x;

	if (c >= b->nbits)
		c = 0;
	w = c / 64;
	x = ~b->words[w] & (FULL << (c % 64));
	if (x) {
		b->words[w] |= x & -x;
		return w * 64 + (uint64_t)__builtin_ctzll(x);
	}
	return mx_scan(b, w + 1 < b->nwords ? w + 1 : 0);
}

int mx_alloc(struct bl *b, unsigned int policy, uint64_t *bit)
{
	uint64_t r;

	pthread_mutex_lock(mu(b));
	if (policy == 1) {
		r = mx_scan_cyclic(b);
		if (r != NONE)
			*cursor(b) = r;
	} else if (policy == 2) {
		r = mx_scan(b, b->hint);
		if (r != NONE)
			b->hint = r / 64;
	} else {
		r = mx_scan(b, 0);
	}
	pthread_mutex_unlock(mu(b));
	if (r == NONE)
		return -ENOSPC;
	*bit = r;
	return 0;
}

int mx_free(struct bl *b, uint64_t bit)
{
	uint64_t m = UINT64_C(1) << (bit % 64);
	int r = 0;

	pthread_mutex_lock(mu(b));
	if (b->words[bit / 64] & m)
		b->words[bit / 64] &= ~m;
	else
		r = -ENOENT;
	pthread_mutex_unlock(mu(b));
	return r;
}

int mx_alloc_block(struct bl *b, uint64_t n, uint64_t align, uint64_t *first)
{
	uint64_t pos, w, last;

	pthread_mutex_lock(mu(b));
	pos = find_run(b, n, align ? align : 1, 0);
	if (pos != NONE) {
		last = pos + n - 1;
		for (w = pos / 64; w <= last / 64; w++)
			b->words[w] |= run_mask(w, pos, last);
	}
	pthread_mutex_unlock(mu(b));
	if (pos == NONE)
		return -ENOSPC;
	*first = pos;
	return 0;
}

int mx_free_block(struct bl *b, uint64_t first, uint64_t n)
{
	uint64_t w, last = first + n - 1;

	pthread_mutex_lock(mu(b));
	for (w = first / 64; w <= last / 64; w++)
		b->words[w] &= ~run_mask(w, first, last);
	pthread_mutex_unlock(mu(b));
	return 0;
}

/* ------------------------------------------------------------ hint */

int hb_alloc(struct bl *b, uint64_t *bit)
{
	uint64_t i, w = b->hint;

	for (i = 0; i < b->nwords; i++) {
		uint64_t old = uatomic_read(&b->words[w]);

		while (old != FULL) {
			uint64_t m = ~old & (old + 1), prev;

			prev = uatomic_cmpxchg(&b->words[w], old, old | m);
			if (prev == old) {
				b->hint = w;
				*bit = w * 64 + (uint64_t)__builtin_ctzll(m);
				return 0;
			}
			old = prev;
		}
		if (++w == b->nwords)
			w = 0;
	}
	return -ENOSPC;
}

static int clear_mask(struct bl *b, uint64_t w, uint64_t m, int strict)
{
	uint64_t old = uatomic_read(&b->words[w]), prev;

	for (;;) {
		if (strict && (old & m) != m)
			return -ENOENT;
		prev = uatomic_cmpxchg(&b->words[w], old, old & ~m);
		if (prev == old)
			return 0;
		old = prev;
	}
}

int hb_free(struct bl *b, uint64_t bit)
{
	return clear_mask(b, bit / 64, UINT64_C(1) << (bit % 64), 1);
}

/* Claim [pos, pos + n) word by word; roll back on a conflict. */
static int hb_claim_range(struct bl *b, uint64_t pos, uint64_t n)
{
	uint64_t w, last = pos + n - 1;

	for (w = pos / 64; w <= last / 64; w++) {
		uint64_t m = run_mask(w, pos, last), old = uatomic_read(&b->words[w]), prev;

		for (;;) {
			if (old & m)
				goto undo;
			prev = uatomic_cmpxchg(&b->words[w], old, old | m);
			if (prev == old)
				break;
			old = prev;
		}
	}
	return 0;
undo:
	while (w-- > pos / 64)
		clear_mask(b, w, run_mask(w, pos, last), 0);
	return -EEXIST;
}

int hb_alloc_block(struct bl *b, uint64_t n, uint64_t align, uint64_t *first)
{
	uint64_t pos, from = b->hint * 64;
	int pass, tries;

	if (!align)
		align = 1;
	for (pass = 0; pass < 2; pass++) {
		for (tries = 0; tries < 1000; tries++) {
			pos = find_run(b, n, align, from);
			if (pos == NONE)
				break;
			if (hb_claim_range(b, pos, n) == 0) {
				b->hint = pos / 64;
				*first = pos;
				return 0;
			}
		}
		from = 0;
	}
	return -ENOSPC;
}

int hb_free_block(struct bl *b, uint64_t first, uint64_t n)
{
	uint64_t w, last = first + n - 1;

	for (w = first / 64; w <= last / 64; w++)
		clear_mask(b, w, run_mask(w, first, last), 0);
	return 0;
}

/* ----------------------------------------------------------- floor */

/*
 * The floor under the pair figures: the bit this process freed last is set
 * again with one CAS on a word it has just written; nothing is searched,
 * nothing but that word is read or written. If the bit was taken meanwhile
 * (another process's search), the hint scan takes over, so the floor never
 * hands out a held bit.
 */
int fl_alloc(struct bl *b, uint64_t *bit)
{
	uint64_t last = b->last;

	b->last = NONE;
	if (last != NONE) {
		uint64_t *p = &b->words[last / 64], m = UINT64_C(1) << (last % 64);
		uint64_t old = uatomic_read(p);

		if (!(old & m) && uatomic_cmpxchg(p, old, old | m) == old) {
			*bit = last;
			return 0;
		}
	}
	return hb_alloc(b, bit);
}

int fl_free(struct bl *b, uint64_t bit)
{
	int r = hb_free(b, bit);

	if (r == 0)
		b->last = bit;
	return r;
}
