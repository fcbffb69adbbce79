/* SPDX-License-Identifier: MIT */
/*
 * bench-util.h - what the benchmark programs share: a fast random number
 * generator, the thread's CPU clock, and the random pick of the pair
 * figures. Header only (static inline): each program stays one file to
 * read, and bench-buffer.c still builds alone.
 */
#ifndef NB_BENCH_UTIL_H
#define NB_BENCH_UTIL_H

#include <stdint.h>
#include <time.h>

/* xorshift64*: a state that is never zero gives a full-period sequence. */
static inline uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * UINT64_C(2685821657736338717);
}

/* Uniform in [0, n) without a division. */
static inline uint64_t below(uint64_t *s, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)rnd(s) * n) >> 64);
}

/*
 * One-process figures count this thread's CPU time, not wall time: on a
 * machine shared with other work, time spent descheduled is not ours.
 */
static inline uint64_t cpu_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/*
 * The pair figures free a random held ID, drawn as the loop reaches it:
 * no look-ahead, no prefetch. A caller that frees an ID it took long ago
 * meets its entry in a large array, and the ID's word, cold; the
 * allocator's own writes (the words, the summary) are then timed the way
 * that caller pays for them. (Until issue 20 the picks were drawn 16 pairs
 * ahead and prefetched, which hid those misses.)
 */
static inline uint64_t pick(uint64_t nheld, uint64_t *seed)
{
	return below(seed, nheld + 1);
}

#endif /* NB_BENCH_UTIL_H */
