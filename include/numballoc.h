/* SPDX-License-Identifier: MIT */
/*
 * numballoc.h - lock-free allocation of numbers, page runs and buffer
 * offsets from pools shared between processes.
 *
 * One public header. Every function returns 0 (or a documented
 * non-negative value) on success and a negative errno value on failure;
 * numballoc_strerror() names both the system's errors and the library's
 * own (NUMBALLOC_ECORRUPT, NUMBALLOC_EVERSION, NUMBALLOC_EKIND).
 *
 * Handles are opaque. A handle may be used by any number of threads of the
 * process that opened it at once; it must not be used after its close.
 * A handle is not inherited usefully across fork(): a child opens its own.
 *
 * Errors shared by every function (see numballoc(7)):
 *   -EINVAL    a bad argument, or parameters that contradict an existing pool
 *   -ENOSPC    no free number, run, page run or range of the size asked for
 *   -EEXIST    already allocated; or the pool exists and NUMBALLOC_EXCL was given
 *   -ENOENT    not allocated; or no such pool and NUMBALLOC_CREATE was not given
 *   -NUMBALLOC_ECORRUPT  the segment is not a valid numballoc segment
 *   -NUMBALLOC_EVERSION  the segment has a format version this library does not know
 *   -NUMBALLOC_EKIND     the segment holds another kind of pool (pages, buffer)
 *   and the system's errors from shm_open(3), open(2), mmap(2) ... passed through.
 */
#ifndef NUMBALLOC_H
#define NUMBALLOC_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && defined(NUMBALLOC_BUILDING)
#define NUMBALLOC_EXPORT __attribute__((visibility("default")))
#else
#define NUMBALLOC_EXPORT
#endif

/* The library's own error numbers, returned negated like errno values. */
#define NUMBALLOC_ECORRUPT EUCLEAN		/* bad magic, layout, checksum or size */
#define NUMBALLOC_EVERSION EPROTONOSUPPORT	/* unknown segment format version */
#define NUMBALLOC_EKIND EMEDIUMTYPE		/* the segment holds another kind of pool */

/* Longest pool name, not counting the leading '/'. */
#define NUMBALLOC_NAME_MAX 200
/* Largest capacity of one pool (IDs, pages or buffer units). */
#define NUMBALLOC_CAPACITY_MAX (UINT64_C(1) << 40)

/* Flags for the opts of every kind of pool. */
#define NUMBALLOC_CREATE 0x1u	/* create the pool if it does not exist */
#define NUMBALLOC_EXCL 0x2u	/* with CREATE: fail with -EEXIST if it exists */
#define NUMBALLOC_OWNERS 0x4u	/* record the holder of every allocation (create only) */

/* Allocation policies of an ID pool. */
enum numballoc_policy {
	NUMBALLOC_LOWEST = 0,	/* the lowest free ID (file descriptors, IDA) */
	NUMBALLOC_CYCLIC = 1,	/* the next free ID after the last handed out (PIDs) */
	NUMBALLOC_SPREAD = 2,	/* any free ID, threads start apart (throughput) */
};

struct numballoc;

/*
 * Options of numballoc_open(). Zero-initialise the whole struct and set
 * what you need; the reserved fields must stay zero (they let later
 * versions add fields without changing the ABI).
 */
struct numballoc_opts {
	uint64_t capacity;	/* number of IDs; 0 on open: whatever the pool has */
	uint64_t base;		/* first ID; 0 on open: whatever the pool has */
	const char *path;	/* back the pool by this regular file instead of a name */
	unsigned int policy;	/* enum numballoc_policy; LOWEST on open: the pool's */
	unsigned int flags;	/* NUMBALLOC_CREATE, NUMBALLOC_EXCL, NUMBALLOC_OWNERS */
	unsigned int mode;	/* permission bits on creation; 0 means 0600 */
	unsigned int reserved_u[5];	/* must be zero */
	uint64_t reserved[6];	/* must be zero */
};

struct numballoc_stat {
	uint64_t capacity;	/* number of IDs in the pool */
	uint64_t base;		/* the first ID */
	uint64_t used;		/* allocated IDs, counted when asked */
	uint64_t free;		/* capacity - used */
	uint64_t largest_free_run;	/* longest run of consecutive free IDs */
	unsigned int policy;	/* enum numballoc_policy */
	unsigned int flags;	/* the pool's NUMBALLOC_OWNERS flag */
	uint64_t reserved[4];
};

/*
 * Open the ID pool NAME ("ports" or "/ports", a POSIX shared-memory name),
 * or the file opts->path when NAME is NULL, or a private pool for the
 * threads of this process when both are NULL. Creates it with
 * NUMBALLOC_CREATE. Concurrent creators of one pool agree on one pool;
 * no opener ever sees it half made. On success *POOLP is a new handle;
 * on failure *POOLP is untouched and nothing was created.
 */
NUMBALLOC_EXPORT int numballoc_open(const char *name, const struct numballoc_opts *opts,
				    struct numballoc **poolp);
/* Release a handle (NULL is accepted). The pool and its IDs stay. */
NUMBALLOC_EXPORT int numballoc_close(struct numballoc *pool);
/* Remove the name of a shared pool of any kind; open handles keep working. */
NUMBALLOC_EXPORT int numballoc_unlink(const char *name);

/* Allocate one ID by the pool's policy. -ENOSPC only when none is free. */
NUMBALLOC_EXPORT int numballoc_alloc(struct numballoc *pool, uint64_t *id);
/* Allocate one ID in [MIN, MAX] (inclusive, clipped to the pool: -EINVAL if disjoint). */
NUMBALLOC_EXPORT int numballoc_alloc_in(struct numballoc *pool, uint64_t min, uint64_t max,
					uint64_t *id);
/* Claim exactly ID: -EEXIST if it is held. */
NUMBALLOC_EXPORT int numballoc_alloc_id(struct numballoc *pool, uint64_t id);
/* COUNT contiguous IDs, the first a multiple of ALIGN from base (power of two, 0 or 1: any). */
NUMBALLOC_EXPORT int numballoc_alloc_block(struct numballoc *pool, uint64_t count, uint64_t align,
					   uint64_t *first);
/* Free one ID: -ENOENT if it is not allocated. */
NUMBALLOC_EXPORT int numballoc_free(struct numballoc *pool, uint64_t id);
/* Free COUNT IDs from FIRST: -ENOENT, and nothing freed, if any is not allocated. */
NUMBALLOC_EXPORT int numballoc_free_block(struct numballoc *pool, uint64_t first, uint64_t count);
/* 1 if ID is allocated, 0 if free, negative on error. */
NUMBALLOC_EXPORT int numballoc_test(struct numballoc *pool, uint64_t id);
/* The first allocated ID >= FROM in *ID; -ENOENT when there is none. */
NUMBALLOC_EXPORT int numballoc_next(struct numballoc *pool, uint64_t from, uint64_t *id);
/* Fill *ST; used, free and largest_free_run are counted from the words now. */
NUMBALLOC_EXPORT int numballoc_stat(struct numballoc *pool, struct numballoc_stat *st);
/* A message for a negative (or positive) error number; never NULL. */
NUMBALLOC_EXPORT const char *numballoc_strerror(int err);

/* Owners and reclaim */

/*
 * On an ID pool created with NUMBALLOC_OWNERS every allocated ID records
 * its holder: a process ID with its start time, so a reused PID is never
 * taken for the holder. A holder that dies without freeing (SIGKILL, a
 * crash, an exit) leaves its IDs to numballoc_reclaim(), which an
 * allocation that would fail with -ENOSPC also runs once by itself.
 * On a pool without owners these functions return -EOPNOTSUPP.
 */

/*
 * Record PID as the holder of the IDs this handle allocates from now on
 * (0: the calling process, the default). -ESRCH if PID is not running.
 */
NUMBALLOC_EXPORT int numballoc_set_owner(struct numballoc *pool, pid_t pid);
/* The PID recorded for ID in *PID; -ENOENT if ID is not allocated. */
NUMBALLOC_EXPORT int numballoc_owner(struct numballoc *pool, uint64_t id, pid_t *pid);
/*
 * Release every ID whose holder no longer exists; *COUNT (may be NULL) gets
 * how many this call released. Safe from many processes at once; never
 * releases an ID of a live holder.
 */
NUMBALLOC_EXPORT int numballoc_reclaim(struct numballoc *pool, uint64_t *count);
/* Release every ID that PID holds, alive or not; *COUNT (may be NULL) gets how many. */
NUMBALLOC_EXPORT int numballoc_free_owner(struct numballoc *pool, pid_t pid, uint64_t *count);

#ifdef __cplusplus
}
#endif

#endif /* NUMBALLOC_H */
