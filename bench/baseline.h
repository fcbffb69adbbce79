/* SPDX-License-Identifier: MIT */
/*
 * baseline.h - the two allocators numballoc-bench compares against, on the
 * same bitmap (bit set = allocated, 64-bit words, bit b in word b / 64):
 *
 *   mutex: the words guarded by one process-shared pthread mutex, searched
 *          by a linear scan (from 0, from a shared cursor, or from a
 *          per-process word for the three policies);
 *   hint:  the Go numballoc algorithm on 64-bit words: a lock-free CAS scan
 *          from a per-process word hint, no summary index;
 *   floor: not an allocator for use, the least any allocator on these words
 *          does in a pair: a free clears the ID's bit with one CAS, and the
 *          next allocation sets that same bit again with one CAS.
 *
 * All three use one MAP_SHARED anonymous mapping, so forked processes
 * share them. Capacities are multiples of 64.
 */
#ifndef NB_BENCH_BASELINE_H
#define NB_BENCH_BASELINE_H

#include <pthread.h>
#include <stdint.h>

/* The first cache line of the shared mapping. */
struct bl_shared {
	pthread_mutex_t mu;	/* process-shared; guards words and cursor for "mutex" */
	uint64_t cursor;	/* mutex CYCLIC: the last bit handed out */
};

struct bl {
	struct bl_shared *sh;	/* start of the shared mapping */
	uint64_t nbits;		/* capacity, a multiple of 64 */
	uint64_t nwords;	/* nbits / 64 */
	uint64_t *words;	/* nwords words in the same mapping, 64-byte aligned */
	size_t size;		/* bytes of the mapping */
	uint64_t hint;		/* this process's word hint (this struct is not shared) */
	uint64_t last;		/* floor: the bit this process freed last, or UINT64_MAX */
};

struct bl *bl_create(uint64_t nbits);
void bl_destroy(struct bl *b);
/* This process starts afresh: a new per-process word hint (a new handle). */
void bl_attach(struct bl *b);
/* Set BIT without a search (filling); 0, or -EEXIST. */
int bl_set(struct bl *b, uint64_t bit);

int mx_alloc(struct bl *b, unsigned int policy, uint64_t *bit);
int mx_free(struct bl *b, uint64_t bit);
int mx_alloc_block(struct bl *b, uint64_t n, uint64_t align, uint64_t *first);
int mx_free_block(struct bl *b, uint64_t first, uint64_t n);

int hb_alloc(struct bl *b, uint64_t *bit);
int hb_free(struct bl *b, uint64_t bit);
int hb_alloc_block(struct bl *b, uint64_t n, uint64_t align, uint64_t *first);
int hb_free_block(struct bl *b, uint64_t first, uint64_t n);

int fl_alloc(struct bl *b, uint64_t *bit);
int fl_free(struct bl *b, uint64_t bit);

#endif
