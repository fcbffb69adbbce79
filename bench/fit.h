/* SPDX-License-Identifier: MIT */
/*
 * fit.h - the allocators of the buffer benchmark (bench/bufbench.c)
 * behind one interface: offsets in units of a buffer of UNITS units,
 * shared between the threads of a process and between forked processes.
 *
 *   numballoc:     numballoc_buf on a named buffer (default placement,
 *                  or first fit with NUMBALLOC_BUF_FIRST_FIT);
 *   segfit:        a segregated-fit allocator of this benchmark's own
 *                  (bench/segfit.c) under one process-shared mutex;
 *   offset:        an O(1) offset allocator of this benchmark's own in the
 *                  manner of OffsetAllocator and TLSF (bench/offsetfit.c),
 *                  single-threaded, no lock: one-thread mode only;
 *   boost:         Boost.Interprocess managed_shared_memory (best fit in a
 *                  red-black tree under a process-shared mutex), built
 *                  only when configure found Boost (bench/boostfit.cc).
 *
 * make() runs once in the parent; join() in every process that uses it
 * (the parent for threads, each forked child for processes) and gives a
 * handle that the threads of that process share.
 *
 * alloc() may give a tag (e.g. a node number) that the caller keeps with
 * the allocation and passes back to free(), as OffsetAllocator's callers
 * keep its metadata; the others set it to 0 and ignore it.
 */
#ifndef NB_BENCH_FIT_H
#define NB_BENCH_FIT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct fit {
	const char *label;	/* printed */
	uint64_t units;		/* the buffer's units */
	unsigned int flags;	/* numballoc: open flags */
	int one_thread;		/* not thread- or process-safe: one-thread mode only */
	char name[64];		/* a shared-memory name unique to this run */
	void *shared;		/* made by make(): inherited across fork */
	void *local;		/* made by join(): this process's handle */
	/* the operations, in units */
	int (*make)(struct fit *f);
	int (*join)(struct fit *f);
	int (*alloc)(struct fit *f, uint64_t n, uint64_t *start, uint32_t *tag);
	int (*free)(struct fit *f, uint64_t start, uint64_t n, uint32_t tag);
	/* free units over the largest free range, or 0 when unknown */
	double (*frag)(struct fit *f);
	/* the largest free range now, in units; NULL when unknown */
	uint64_t (*largest)(struct fit *f);
	void (*leave)(struct fit *f);
	void (*unmake)(struct fit *f);
};

void fit_numballoc(struct fit *f, unsigned int flags);
void fit_segfit(struct fit *f);
void fit_offset(struct fit *f);
/* 0, or -1 when the benchmark was built without Boost. */
int fit_boost(struct fit *f);

#ifdef __cplusplus
}
#endif

#endif
