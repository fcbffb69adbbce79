/* SPDX-License-Identifier: MIT */
/*
 * bench-util.h - what the benchmark programs share: a fast random number
 * generator, the thread's CPU clock, and the random picks of the pair
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
 * The random picks in a held array of the pair figures, drawn PICK_AHEAD
 * pairs early and prefetched then. The array is megabytes; an allocator's
 * atomic operations are full barriers, so a pick fetched one pair ahead
 * had not arrived and its miss (30 ns and more) was timed as the
 * allocator's.
 */
#define PICK_AHEAD 16

struct picks {
	uint64_t ring[PICK_AHEAD];
	uint64_t i;
};

static inline void picks_init(struct picks *pk, const uint32_t *held, uint64_t nheld,
			      uint64_t *seed)
{
	for (pk->i = 0; pk->i < PICK_AHEAD; pk->i++) {
		pk->ring[pk->i] = below(seed, nheld + 1);
		__builtin_prefetch(&held[pk->ring[pk->i]], 1);
	}
}

/* The next pick (an index into HELD[0..NHELD]); draws and prefetches its successor. */
static inline uint64_t pick(struct picks *pk, const uint32_t *held, uint64_t nheld,
			    uint64_t *seed)
{
	uint64_t *slot = &pk->ring[pk->i++ % PICK_AHEAD], k = *slot;

	*slot = below(seed, nheld + 1);
	__builtin_prefetch(&held[*slot], 1);
	return k;
}

#endif /* NB_BENCH_UTIL_H */
