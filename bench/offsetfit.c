/* SPDX-License-Identifier: MIT */
/*
 * offsetfit.c - the one-thread speed bar of the buffer benchmark: an O(1)
 * offset allocator of this benchmark's own in the manner of Sebastian
 * Aaltonen's OffsetAllocator and of TLSF (written here from their
 * published design, no code taken). Single-threaded, no lock: it runs in
 * bufbench's one-thread mode only, where it is what the issue's
 * "2x OffsetAllocator" target is measured against in the same run.
 *
 * Layout (process-private memory):
 *   - nodes: one record per block, free or allocated (offset, size, the
 *     block's neighbours by address, and for a free block its size-class
 *     list); a node number is the allocation's tag, which the caller keeps
 *     and passes back at free, as OffsetAllocator's metadata is kept;
 *   - unused nodes on a LIFO list threaded through bin_next (so a node
 *     freed by a merge is the next one reused, still in the cache), and
 *     a high-water mark below which every node has been used once;
 *   - 256 size classes on a float-like scale (3 mantissa bits: exact
 *     below 8 units, then 8 classes per power of two), a free list each;
 *   - a two-level mask of the non-empty classes: top bit t says that
 *     leaf[t] (the classes 8t..8t+7) is not zero.
 *
 * alloc(n): the smallest non-empty class whose every block holds n (n's
 * class rounded up) from the two masks, its first block; the rest of the
 * block becomes a new free node after it (class rounded down). free(tag):
 * merge with the free neighbours by address, then the class list. Every
 * step is O(1); only when no class rounded up has a block does an alloc
 * look through the one class that holds n's own size (rare: it avoids
 * OffsetAllocator's failures while a fitting block exists).
 *
 * fit.h's interface: start in units; the tag is the node number.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "fit.h"

#define OF_NIL UINT32_MAX
#define OF_USED (UINT32_MAX - 1)	/* bin_prev of an allocated node */
#define OF_BINS 256			/* 32 top classes of 8 leaves */

struct of_node {
	uint32_t off, size;		/* the block, in units */
	uint32_t bin_prev, bin_next;	/* class list; bin_prev OF_USED when allocated */
	uint32_t nb_prev, nb_next;	/* neighbours by address, or OF_NIL */
};

struct of {
	uint32_t top;			/* bit t: leaf[t] != 0 */
	uint8_t leaf[32];		/* bit l of leaf[t]: class 8t+l not empty */
	uint32_t head[OF_BINS];		/* first free node of each class, or OF_NIL */
	uint32_t spare;			/* unused nodes, through bin_next */
	uint32_t hwm;			/* nodes [0, hwm) have been used */
	uint32_t nnodes;		/* the node array's length */
	uint64_t units, free_units;
	struct of_node *node;		/* nnodes records */
	size_t size;			/* bytes of the node mapping */
};

/* The class of a block of S units: the largest whose low bound <= S. */
static inline uint32_t of_bin_down(uint32_t s)
{
	uint32_t sh;

	if (s < 8)
		return s;
	sh = 28u - (uint32_t)__builtin_clz(s);	/* highest bit - 3 */
	return ((sh + 1) << 3) | ((s >> sh) & 7);
}

/* The smallest class whose every block holds S units. */
static inline uint32_t of_bin_up(uint32_t s)
{
	uint32_t sh;

	if (s < 8)
		return s;
	sh = 28u - (uint32_t)__builtin_clz(s);
	return (((sh + 1) << 3) | ((s >> sh) & 7)) + ((s & ((1u << sh) - 1)) != 0);
}

static inline void of_push(struct of *o, uint32_t i)
{
	struct of_node *x = &o->node[i];
	uint32_t b = of_bin_down(x->size), h = o->head[b];

	x->bin_prev = OF_NIL;
	x->bin_next = h;
	if (h != OF_NIL)
		o->node[h].bin_prev = i;
	else {
		o->leaf[b >> 3] |= (uint8_t)(1u << (b & 7));
		o->top |= 1u << (b >> 3);
	}
	o->head[b] = i;
}

static inline void of_unlink(struct of *o, uint32_t i)
{
	struct of_node *x = &o->node[i];

	if (x->bin_prev != OF_NIL) {
		o->node[x->bin_prev].bin_next = x->bin_next;
	} else {
		uint32_t b = of_bin_down(x->size);

		o->head[b] = x->bin_next;
		if (x->bin_next == OF_NIL) {
			o->leaf[b >> 3] &= (uint8_t)~(1u << (b & 7));
			if (!o->leaf[b >> 3])
				o->top &= ~(1u << (b >> 3));
		}
	}
	if (x->bin_next != OF_NIL)
		o->node[x->bin_next].bin_prev = x->bin_prev;
}

static inline uint32_t of_new(struct of *o)
{
	uint32_t i = o->spare;

	if (i != OF_NIL) {
		o->spare = o->node[i].bin_next;
		return i;
	}
	return o->hwm < o->nnodes ? o->hwm++ : OF_NIL;
}

static inline void of_drop(struct of *o, uint32_t i)
{
	o->node[i].bin_next = o->spare;
	o->spare = i;
}

/* The first non-empty class >= B, or OF_BINS. */
static inline uint32_t of_find(const struct of *o, uint32_t b)
{
	uint32_t t = b >> 3, m = o->leaf[t] & (0xffu << (b & 7)), top;

	if (m)
		return (t << 3) | (uint32_t)__builtin_ctz(m);
	top = t + 1 < 32 ? o->top & (~0u << (t + 1)) : 0;
	if (!top)
		return OF_BINS;
	t = (uint32_t)__builtin_ctz(top);
	return (t << 3) | (uint32_t)__builtin_ctz(o->leaf[t]);
}

static int of_alloc(struct fit *f, uint64_t n64, uint64_t *start, uint32_t *tag)
{
	struct of *o = f->local;
	uint32_t n = (uint32_t)n64, b, i, r;
	struct of_node *x;

	if (n64 == 0 || n64 > o->units)
		return -EINVAL;
	b = of_find(o, of_bin_up(n));
	if (b < OF_BINS) {
		i = o->head[b];
	} else {
		/* rare: a block of n's own class may still hold it */
		for (i = o->head[of_bin_down(n)]; i != OF_NIL && o->node[i].size < n;
		     i = o->node[i].bin_next)
			;
		if (i == OF_NIL)
			return -ENOSPC;
	}
	of_unlink(o, i);
	x = &o->node[i];
	if (x->size > n) {
		r = of_new(o);
		if (r == OF_NIL) {	/* out of nodes: give the block back */
			of_push(o, i);
			return -ENOSPC;
		}
		o->node[r] = (struct of_node){ .off = x->off + n, .size = x->size - n,
					       .nb_prev = i, .nb_next = x->nb_next };
		if (x->nb_next != OF_NIL)
			o->node[x->nb_next].nb_prev = r;
		x->nb_next = r;
		x->size = n;
		of_push(o, r);
	}
	x->bin_prev = OF_USED;
	o->free_units -= n;
	*start = x->off;
	*tag = i;
	return 0;
}

static int of_free(struct fit *f, uint64_t start, uint64_t n, uint32_t tag)
{
	struct of *o = f->local;
	struct of_node *x, *y;
	uint32_t p, q;

	if (tag >= o->hwm)
		return -EINVAL;
	x = &o->node[tag];
	if (x->bin_prev != OF_USED || x->off != start || x->size != n)
		return -ENOENT;
	o->free_units += n;
	p = x->nb_prev;
	if (p != OF_NIL && o->node[p].bin_prev != OF_USED) {
		y = &o->node[p];
		of_unlink(o, p);
		x->off = y->off;
		x->size += y->size;
		x->nb_prev = y->nb_prev;
		if (y->nb_prev != OF_NIL)
			o->node[y->nb_prev].nb_next = tag;
		of_drop(o, p);
	}
	q = x->nb_next;
	if (q != OF_NIL && o->node[q].bin_prev != OF_USED) {
		y = &o->node[q];
		of_unlink(o, q);
		x->size += y->size;
		x->nb_next = y->nb_next;
		if (y->nb_next != OF_NIL)
			o->node[y->nb_next].nb_prev = tag;
		of_drop(o, q);
	}
	of_push(o, tag);
	return 0;
}

static int of_make(struct fit *f)
{
	struct of *o;
	size_t size;
	void *p;

	if (f->units == 0 || f->units >= OF_USED / 2)
		return -EINVAL;
	o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	/* at most one node per unit, and one spare: pages are touched as used */
	o->nnodes = (uint32_t)f->units + 1;
	size = (size_t)o->nnodes * sizeof(struct of_node);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		free(o);
		return -ENOMEM;
	}
	o->node = p;
	o->size = size;
	o->units = f->units;
	o->free_units = f->units;
	o->spare = OF_NIL;
	memset(o->head, 0xff, sizeof(o->head));
	o->node[0] = (struct of_node){ .off = 0, .size = (uint32_t)f->units,
				       .nb_prev = OF_NIL, .nb_next = OF_NIL };
	o->hwm = 1;
	of_push(o, 0);
	f->shared = o;
	return 0;
}

static int of_join(struct fit *f)
{
	f->local = f->shared;
	return 0;
}

/* The largest free block: the longest of the highest non-empty class. */
static uint64_t of_largest(struct fit *f)
{
	struct of *o = f->local;
	uint32_t t, b, i, best = 0;

	if (!o->top)
		return 0;
	t = 31u - (uint32_t)__builtin_clz(o->top);
	b = (t << 3) | (31u - (uint32_t)__builtin_clz(o->leaf[t]));
	for (i = o->head[b]; i != OF_NIL; i = o->node[i].bin_next)
		if (o->node[i].size > best)
			best = o->node[i].size;
	return best;
}

static double of_frag(struct fit *f)
{
	struct of *o = f->local;
	uint64_t l = of_largest(f);

	return l ? (double)o->free_units / (double)l : 0.0;
}

static void of_leave(struct fit *f)
{
	f->local = NULL;
}

static void of_unmake(struct fit *f)
{
	struct of *o = f->shared;

	munmap(o->node, o->size);
	free(o);
	f->shared = NULL;
}

void fit_offset(struct fit *f)
{
	f->label = "offset";
	f->one_thread = 1;
	f->make = of_make;
	f->join = of_join;
	f->alloc = of_alloc;
	f->free = of_free;
	f->frag = of_frag;
	f->largest = of_largest;
	f->leave = of_leave;
	f->unmake = of_unmake;
}
