/* SPDX-License-Identifier: MIT */
/*
 * segment.h - where the words live: a named POSIX shared-memory object, a
 * regular file, or private memory, with a validated header.
 * See the comment at the top of segment.c.
 */
#ifndef NB_SEGMENT_H
#define NB_SEGMENT_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

#define NB_MAGIC UINT64_C(0x31636f6c6c61626e)	/* "nballoc1" little-endian */
#define NB_VERSION 3
/*
 * Issue 20 (lowest): an ID pool whose LOWEST searches start from the
 * advice word of its engine (bitmap.c, "The lowest advice"), which every
 * free must lower. An older build would free without lowering it, so such
 * a pool carries this version and older builds refuse it
 * (-NUMBALLOC_EVERSION). Every other segment keeps NB_VERSION, and this
 * build opens both.
 */
#define NB_VERSION_LOW 4
#define NB_HEADER_SIZE 4096
#define NB_AREAS 4
#define NB_PARAMS 4

enum nb_kind {
	NB_KIND_IDS = 1,
	NB_KIND_PAGES = 2,
	NB_KIND_BUFFER = 3,
};

/*
 * The header at offset 0 of every segment. Every field up to and including
 * checksum is written once by the creator before the segment gets its name
 * and never again; checksum covers them all.
 */
struct nb_header {
	uint64_t magic;			/* NB_MAGIC */
	uint32_t version;		/* NB_VERSION */
	uint32_t kind;			/* enum nb_kind */
	uint64_t header_size;		/* NB_HEADER_SIZE */
	uint64_t total_size;		/* bytes the layout needs; the object is at least this big */
	uint64_t capacity;		/* bits of the engine: IDs, pages or buffer units */
	uint64_t base;			/* the number of bit 0 (ID pools) */
	uint32_t policy;		/* enum numballoc_policy */
	uint32_t flags;			/* NUMBALLOC_OWNERS */
	uint64_t param[NB_PARAMS];	/* kind-specific: page size, unit ... */
	uint64_t area_off[NB_AREAS];	/* offset of each area, aligned; 0 when absent */
	uint64_t area_size[NB_AREAS];	/* its size in bytes */
	uint64_t checksum;		/* nb_header_checksum() of the fields above */
	/* Mutable, shared, not checksummed: validate at every use. */
	uint64_t capacity_now;		/* grown capacity (CAS, only up), 0 = capacity */
};

/* What a face wants of a segment, and what it finds in an existing one. */
struct nb_layout {
	uint32_t kind;
	uint32_t policy;
	uint32_t flags;
	uint64_t capacity;
	uint64_t base;
	uint64_t param[NB_PARAMS];
	uint64_t area_size[NB_AREAS];	/* filled by the face's layout function */
	uint64_t area_align[NB_AREAS];	/* a power of two, or 0 for 64 */
	uint32_t version;		/* set by the face's layout function: NB_VERSION_LOW,
					 * or 0 for NB_VERSION (issue 20, lowest) */
};

/*
 * Compute area sizes from the parameters of L (kind, capacity, param...).
 * Returns 0 or -EINVAL when the parameters are out of range: it is called
 * on parameters read from an untrusted segment too.
 */
typedef int (*nb_layout_fn)(struct nb_layout *l);
/* Initialise the areas of a new segment before anyone else can see it. */
typedef int (*nb_init_fn)(void *base, const struct nb_header *h, void *arg);

struct nb_segment {
	void *map;			/* the whole mapping, header first */
	size_t size;			/* bytes mapped (== header.total_size) */
	int fd;				/* -1 for a private segment */
	int created;			/* this open created it */
	int rdonly;			/* opened with NUMBALLOC_RDONLY: the mapping is PROT_READ */
	struct nb_header h;		/* the validated header, copied at open */
	const struct nb_header *hdr;	/* == &h: never the shared one */
};

/*
 * Open or create a segment. NAME (shared memory), PATH (a file) or neither
 * (private memory). WANT holds the parameters; zero capacity, base, params
 * and policy mean "whatever the existing segment has". FLAGS: NUMBALLOC_CREATE,
 * NUMBALLOC_EXCL, NUMBALLOC_RDONLY (an existing object, mapped PROT_READ; a
 * new object gets MODE exactly, whatever the umask). On success the
 * header has been validated against the object's real size.
 */
int nb_segment_open(struct nb_segment *seg, const char *name, const char *path,
		    unsigned int flags, unsigned int mode, struct nb_layout *want,
		    nb_layout_fn layout, nb_init_fn init, void *arg);
void nb_segment_close(struct nb_segment *seg);
/* The start of area I in this process's mapping, or NULL if absent. */
void *nb_segment_area(const struct nb_segment *seg, int i);
/* Check a pool name; writes the name with its leading '/' into BUF. */
int nb_name_check(const char *name, char *buf, size_t len);
int nb_segment_unlink(const char *name);
uint64_t nb_header_checksum(const struct nb_header *h);

/* 1 if the N bytes at P are all zero: the reserved fields of an opts struct. */
static inline int nb_zeroed(const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n--)
		if (*b++)
			return 0;
	return 1;
}

/* Growth: make the object at least SIZE bytes long (never shorter). */
int nb_segment_extend(const struct nb_segment *seg, uint64_t size);
/* A new mapping of the object's first SIZE bytes, checked against fstat. */
int nb_segment_map(const struct nb_segment *seg, uint64_t size, void **map);
/* The shared, mutable capacity word of the header in this mapping. */
uint64_t *nb_segment_capacity_word(const struct nb_segment *seg);

#endif /* NB_SEGMENT_H */
