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
/* Free one ID: -ENOENT if it is not allocated. SPREAD: this thread's next search looks near ID. */
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

/* Page allocator */

struct numballoc_pages;

/*
 * Options of numballoc_pages_open(). Zero-initialise the whole struct and
 * set what you need; the reserved fields must stay zero.
 */
struct numballoc_pages_opts {
	uint64_t page_size;	/* bytes per page, a power of two; 0: the system's page size */
	uint64_t npages;	/* pages in the arena; 0 on open: whatever it has */
	const char *path;	/* back the arena by this regular file instead of a name */
	void *mem;		/* private: the caller's memory to hand out (name and path NULL) */
	size_t mem_size;	/* its size in bytes */
	unsigned int flags;	/* NUMBALLOC_CREATE, NUMBALLOC_EXCL */
	unsigned int mode;	/* permission bits on creation; 0 means 0600 */
	unsigned int reserved_u[6];	/* must be zero */
	uint64_t reserved[6];	/* must be zero */
};

struct numballoc_pages_stat {
	uint64_t page_size;	/* bytes per page */
	uint64_t total;		/* pages in the arena */
	uint64_t used;		/* allocated pages, counted when asked */
	uint64_t available;	/* total - used */
	uint64_t largest_free;	/* longest run of free pages */
	uint64_t reserved[4];
};

/*
 * Open the page arena NAME (a POSIX shared-memory name), or the file
 * opts->path, creating it with NUMBALLOC_CREATE: the segment holds the
 * allocation bitmap and the pages themselves, and every process maps it at
 * its own address. With NAME and path NULL, a private allocator over
 * opts->mem (rounded in to whole pages: the first page starts at the first
 * multiple of page_size in it). On success *PAP is a new handle; on
 * failure *PAP is untouched and nothing was created.
 */
NUMBALLOC_EXPORT int numballoc_pages_open(const char *name,
					  const struct numballoc_pages_opts *opts,
					  struct numballoc_pages **pap);
/* Release a handle (NULL is accepted); the arena, its pages and their contents stay. */
NUMBALLOC_EXPORT int numballoc_pages_close(struct numballoc_pages *pa);
/*
 * Allocate NUM contiguous pages, the first a multiple of ALIGN pages (a
 * power of two; 0 or 1: any), the lowest such run. -ENOSPC only when no
 * free run fits.
 */
NUMBALLOC_EXPORT int numballoc_pages_alloc(struct numballoc_pages *pa, uint64_t num,
					   uint64_t align, uint64_t *first);
/* Free NUM pages from FIRST: -ENOENT, and nothing freed, if any is not allocated. */
NUMBALLOC_EXPORT int numballoc_pages_free(struct numballoc_pages *pa, uint64_t first,
					  uint64_t num);
/* Fill *ST; used, available and largest_free are counted from the bitmap now. */
NUMBALLOC_EXPORT int numballoc_pages_stat(struct numballoc_pages *pa,
					  struct numballoc_pages_stat *st);
/* The address of page PAGE in this process, or NULL if PAGE is out of range. */
NUMBALLOC_EXPORT void *numballoc_pages_addr(struct numballoc_pages *pa, uint64_t page);
/* The address of page 0 in this process. */
NUMBALLOC_EXPORT void *numballoc_pages_base(struct numballoc_pages *pa);

/* Offset buffer allocator */

struct numballoc_buf;

/* Buffer placement (issue 16): a flag of numballoc_buf_opts, chosen at each open. */
#define NUMBALLOC_BUF_FIRST_FIT 0x10u	/* the lowest offset that fits (pyglet's placement) */

/*
 * Options of numballoc_buf_open(). Sizes and offsets are in bytes of the
 * caller's buffer; the allocator hands them out in units of opts->unit.
 * Zero-initialise the whole struct; the reserved fields must stay zero.
 */
struct numballoc_buf_opts {
	uint64_t capacity;	/* bytes, a multiple of unit; 0 on open: whatever it has */
	uint64_t unit;		/* bytes per bitmap bit; 0 means 1 */
	uint64_t max_capacity;	/* growth limit, fixed at creation; 0: max(capacity, 2^32 units), <= 2^40 bytes */
	const char *path;	/* back the allocator by this regular file instead of a name */
	unsigned int flags;	/* NUMBALLOC_CREATE, NUMBALLOC_EXCL, NUMBALLOC_BUF_FIRST_FIT */
	unsigned int mode;	/* permission bits on creation; 0 means 0600 */
	unsigned int reserved_u[6];	/* must be zero */
	uint64_t reserved[6];	/* must be zero */
};

struct numballoc_buf_stat {
	uint64_t capacity;		/* bytes managed now */
	uint64_t max_capacity;		/* the growth limit */
	uint64_t unit;			/* bytes per bitmap bit */
	uint64_t free_size;		/* all unallocated bytes, a leading gap included */
	uint64_t fragmented_free_size;	/* free_size minus the final free block */
	uint64_t largest_free;		/* the largest free range */
	double fragmentation;		/* fragmented_free_size / free_size; 0 when nothing is free */
	double usage;			/* 1 - free_size / capacity */
	uint64_t reserved[4];
};

/*
 * Open the offset allocator NAME (shared memory), or the file opts->path,
 * or a private one for this process's threads when both are NULL. It
 * manages offsets only; the buffer itself is the caller's. On success *BP
 * is a new handle; on failure *BP is untouched and nothing was created
 * (an object this call made is removed). Byte sizes (capacity, unit,
 * max_capacity) above NUMBALLOC_CAPACITY_MAX are -EINVAL.
 */
NUMBALLOC_EXPORT int numballoc_buf_open(const char *name, const struct numballoc_buf_opts *opts,
					struct numballoc_buf **bp);
/* Release a handle (NULL is accepted); a shared allocator and its allocations stay. */
NUMBALLOC_EXPORT int numballoc_buf_close(struct numballoc_buf *b);
/*
 * Allocate SIZE bytes (rounded up to whole units): *START. By default from
 * a chunk this handle owns (see numballoc_buf_open(3)); with
 * NUMBALLOC_BUF_FIRST_FIT at the lowest offset where they fit. Size 0
 * gives *START = 0 and changes nothing. -ENOSPC only when no free range
 * of that size exists; then numballoc_buf_needed() tells how large to grow.
 */
NUMBALLOC_EXPORT int numballoc_buf_alloc(struct numballoc_buf *b, uint64_t size,
					 uint64_t *start);
/*
 * The capacity that makes an allocation of SIZE succeed at the end: the
 * end of the last allocated region plus SIZE (pyglet's requested_capacity).
 */
NUMBALLOC_EXPORT int numballoc_buf_needed(struct numballoc_buf *b, uint64_t size,
					  uint64_t *capacity);
/*
 * Free SIZE bytes from START, any part of allocated space: -ENOENT, and
 * nothing freed, unless all of it is allocated. Size 0 does nothing.
 */
NUMBALLOC_EXPORT int numballoc_buf_dealloc(struct numballoc_buf *b, uint64_t start,
					   uint64_t size);
/*
 * Resize the allocation [START, START+SIZE) to NEW_SIZE: in place when it
 * shrinks, stays or the space after it is free (up to the end of the
 * capacity), else at a new place (*NEW_START), allocated before the old
 * range is freed, so they never overlap; the caller moves the contents.
 * -ENOSPC and nothing changed when it fits nowhere; -ENOENT when the old
 * range is not entirely allocated. NEW_SIZE 0 frees; SIZE 0 allocates.
 */
NUMBALLOC_EXPORT int numballoc_buf_realloc(struct numballoc_buf *b, uint64_t start,
					   uint64_t size, uint64_t new_size,
					   uint64_t *new_start);
/*
 * The allocated space as merged regions in address order (adjacent
 * allocations form one region): the first MAX in STARTS and SIZES, and
 * their total number in *N even when it is larger than MAX.
 */
NUMBALLOC_EXPORT int numballoc_buf_regions(struct numballoc_buf *b, uint64_t *starts,
					   uint64_t *sizes, size_t max, size_t *n);
/* Fill *ST, counted from the bitmap now. */
NUMBALLOC_EXPORT int numballoc_buf_stat(struct numballoc_buf *b, struct numballoc_buf_stat *st);
/*
 * Grow the capacity to CAPACITY bytes (a multiple of the unit, above
 * today's, at most max_capacity: else -EINVAL), while any thread or
 * process keeps allocating. Existing allocations never move.
 */
NUMBALLOC_EXPORT int numballoc_buf_set_capacity(struct numballoc_buf *b, uint64_t capacity);

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

/* First hour (issue 19): read-only looks, the range in O(1), handing IDs on */

/*
 * numballoc_open() flag: open an existing pool read-only (O_RDONLY, a
 * PROT_READ mapping), for a user who may read the object but not write
 * it. numballoc_test, numballoc_next, numballoc_stat, numballoc_range and
 * numballoc_owner work; every call that would write returns -EROFS and
 * changes nothing. With NUMBALLOC_CREATE, or for a private pool: -EINVAL.
 */
#define NUMBALLOC_RDONLY 0x8u

/*
 * The range of the pool, from its header, without counting: *BASE the
 * first ID, *CAPACITY the number of IDs (either pointer may be NULL).
 * O(1) whatever the pool's size; numballoc_stat() counts.
 */
NUMBALLOC_EXPORT int numballoc_range(struct numballoc *pool, uint64_t *base,
				     uint64_t *capacity);
/*
 * Hand the allocated ID on to the running process PID: its record names
 * PID from now on, and the ID stays held while PID lives. -ENOENT if ID is
 * not allocated, -ESRCH if PID is not running, -EOPNOTSUPP on a pool
 * without owners, -EINVAL for an ID outside the pool or PID <= 0.
 */
NUMBALLOC_EXPORT int numballoc_chown(struct numballoc *pool, uint64_t id, pid_t pid);
/*
 * numballoc_reclaim() that names what it released: at most MAX IDs, each
 * in IDS[i] with its dead holder in HOLDERS[i] (HOLDERS may be NULL), *N
 * how many. It stops after MAX: call again while *N == MAX.
 */
NUMBALLOC_EXPORT int numballoc_reclaim_ids(struct numballoc *pool, uint64_t *ids,
					   pid_t *holders, size_t max, size_t *n);
/* Redis backend: holder leases (issue 17) */

/*
 * A pool named by a URL, redis://[USER[:PASSWORD]@]HOST[:PORT]/POOL[?db=N],
 * lives in Redis (numballoc_redis(7)); the functions above keep their
 * meaning on it. Its holders are names with leases, not processes: an
 * allocation through a handle with a holder is leased to that holder, each
 * of its allocations and each renew restart the lease, and when a lease
 * ends the server releases what the holder held. On a shared-memory pool
 * these functions return -EOPNOTSUPP.
 */

/* Lease what POOL allocates from now on to HOLDER (NULL: none) for TTL_MS ms. */
NUMBALLOC_EXPORT int numballoc_set_holder(struct numballoc *pool, const char *holder,
					  uint64_t ttl_ms);
/* Renew the lease of the handle's holder on all it holds; *COUNT (may be NULL) gets how many. */
NUMBALLOC_EXPORT int numballoc_renew(struct numballoc *pool, uint64_t *count);
/* The holder of ID into BUF (SIZE bytes, NUL-terminated); -ENOENT when ID has none. */
NUMBALLOC_EXPORT int numballoc_holder(struct numballoc *pool, uint64_t id, char *buf,
				      size_t size);

#ifdef __cplusplus
}
#endif

#endif /* NUMBALLOC_H */
