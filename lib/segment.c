/* SPDX-License-Identifier: MIT */
/*
 * segment.c - where the words live.
 *
 * A segment is a named POSIX shared-memory object (/dev/shm/NAME on Linux),
 * a regular file, or private anonymous memory. It starts with a 4 KiB
 * header (struct nb_header) followed by the areas a face asked for (the
 * engine's words, owner records, pages), each aligned:
 *
 *	0		struct nb_header, then zeros up to NB_HEADER_SIZE
 *	area_off[0]	area 0, area_size[0] bytes
 *	...
 *	total_size	end; the object may be longer, never shorter
 *
 * Creation is atomic. The creator makes an unnamed file (O_TMPFILE in the
 * target's directory, or a uniquely named temporary one where O_TMPFILE is
 * not supported), sizes it, writes the header and initialises every area,
 * and only then gives it its name with link(2), which fails with EEXIST if
 * the name exists. So an opener either finds no object or a complete one:
 * there is no half-made pool to wait for, no SIGBUS on a short object, and
 * a creator killed at any moment leaves nothing behind under the name. Two
 * concurrent creators: one link wins, the other opens the winner's object.
 *
 * The segment never trusts what it opens: the object must be a regular
 * file at least as long as the header says, and the header must have the
 * magic, a known version, a matching checksum, the expected kind, and
 * exactly the layout that the face computes from the header's parameters.
 * The segment never interprets the areas. The header is copied at open and
 * only the copy is used afterwards, so a later write to the shared header
 * changes nothing in a process that has it open.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "numballoc.h"
#include "segment.h"

#define SHM_DIR "/dev/shm"

uint64_t nb_header_checksum(const struct nb_header *h)
{
	const unsigned char *p = (const unsigned char *)h;
	size_t n = offsetof(struct nb_header, checksum), i;
	uint64_t x = UINT64_C(0xcbf29ce484222325);	/* FNV-1a */

	for (i = 0; i < n; i++) {
		x ^= p[i];
		x *= UINT64_C(0x100000001b3);
	}
	return x;
}

int nb_name_check(const char *name, char *buf, size_t len)
{
	size_t n;

	if (!name)
		return -EINVAL;
	if (name[0] == '/')
		name++;
	n = strlen(name);
	if (n == 0 || n > NUMBALLOC_NAME_MAX || strchr(name, '/') ||
	    !strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	if ((size_t)snprintf(buf, len, "/%s", name) >= len)
		return -EINVAL;
	return 0;
}

/* Lay the areas of L out after the header; 0 or -EINVAL when they do not fit. */
static int layout_offsets(const struct nb_layout *l, uint64_t *off, uint64_t *total)
{
	uint64_t pos = NB_HEADER_SIZE;
	int i;

	for (i = 0; i < NB_AREAS; i++) {
		uint64_t a = l->area_align[i] ? l->area_align[i] : 64;

		off[i] = 0;
		if (!l->area_size[i])
			continue;
		if (a & (a - 1) || pos > UINT64_MAX - a)
			return -EINVAL;
		pos = (pos + a - 1) & ~(a - 1);
		off[i] = pos;
		if (l->area_size[i] > (uint64_t)SSIZE_MAX - pos)
			return -EINVAL;
		pos += l->area_size[i];
	}
	*total = pos;
	return 0;
}

static void header_fill(struct nb_header *h, const struct nb_layout *l, const uint64_t *off,
			uint64_t total)
{
	int i;

	memset(h, 0, sizeof(*h));
	h->version = l->version ? l->version : NB_VERSION;
	h->kind = l->kind;
	h->header_size = NB_HEADER_SIZE;
	h->total_size = total;
	h->capacity = l->capacity;
	h->base = l->base;
	h->policy = l->policy;
	h->flags = l->flags;
	for (i = 0; i < NB_PARAMS; i++)
		h->param[i] = l->param[i];
	for (i = 0; i < NB_AREAS; i++) {
		h->area_off[i] = off[i];
		h->area_size[i] = l->area_size[i];
	}
	h->magic = NB_MAGIC;
	h->checksum = nb_header_checksum(h);
}

/*
 * Validate the header H of an object of SIZE bytes against what the face
 * computes from its parameters, and against WANT's non-zero parameters.
 */
static int header_check(const struct nb_header *h, uint64_t size, const struct nb_layout *want,
			nb_layout_fn layout)
{
	struct nb_layout l;
	uint64_t off[NB_AREAS], total;
	int i;

	if (h->magic != NB_MAGIC)
		return -NUMBALLOC_ECORRUPT;
	if (h->version != NB_VERSION && h->version != NB_VERSION_LOW)
		return -NUMBALLOC_EVERSION;
	if (h->checksum != nb_header_checksum(h) || h->header_size != NB_HEADER_SIZE)
		return -NUMBALLOC_ECORRUPT;
	if (h->kind != want->kind)
		return h->kind >= NB_KIND_IDS && h->kind <= NB_KIND_BUFFER ? -NUMBALLOC_EKIND
									    : -NUMBALLOC_ECORRUPT;
	memset(&l, 0, sizeof(l));
	l.kind = h->kind;
	l.policy = h->policy;
	l.flags = h->flags;
	l.capacity = h->capacity;
	l.base = h->base;
	for (i = 0; i < NB_PARAMS; i++)
		l.param[i] = h->param[i];
	if (layout(&l) < 0 || layout_offsets(&l, off, &total) < 0)
		return -NUMBALLOC_ECORRUPT;
	for (i = 0; i < NB_AREAS; i++)
		if (h->area_off[i] != off[i] || h->area_size[i] != l.area_size[i])
			return -NUMBALLOC_ECORRUPT;
	if (h->total_size != total || total > size)
		return -NUMBALLOC_ECORRUPT;
	/* The caller's wishes: zero means "whatever it has". */
	if ((want->capacity && want->capacity != h->capacity) ||
	    (want->base && want->base != h->base) ||
	    (want->policy && want->policy != h->policy) ||
	    ((want->flags & NUMBALLOC_OWNERS) && !(h->flags & NUMBALLOC_OWNERS)))
		return -EINVAL;
	for (i = 0; i < NB_PARAMS; i++)
		if (want->param[i] && want->param[i] != h->param[i])
			return -EINVAL;
	return 0;
}

/* Map and validate an open object. */
static int attach_fd(struct nb_segment *seg, int fd, const struct nb_layout *want,
		     nb_layout_fn layout, int rdonly)
{
	struct nb_header h;
	struct stat st;
	void *map;
	ssize_t n;
	int r;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -NUMBALLOC_ECORRUPT;
	if (st.st_size < NB_HEADER_SIZE)
		return -NUMBALLOC_ECORRUPT;
	/* Read, do not map, the header: the object may be shorter than it says. */
	n = pread(fd, &h, sizeof(h), 0);
	if (n < 0)
		return -errno;
	if ((size_t)n != sizeof(h))
		return -NUMBALLOC_ECORRUPT;
	r = header_check(&h, (uint64_t)st.st_size, want, layout);
	if (r < 0)
		return r;
	if (h.total_size > SIZE_MAX)
		return -NUMBALLOC_ECORRUPT;
	/* Read-only: a store through this mapping would be SIGSEGV, never a change. */
	map = mmap(NULL, (size_t)h.total_size, rdonly ? PROT_READ : PROT_READ | PROT_WRITE,
		   MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	/* The header in the mapping is what we checked: it is never rewritten. */
	if (memcmp(map, &h, offsetof(struct nb_header, capacity_now))) {
		munmap(map, (size_t)h.total_size);
		return -NUMBALLOC_ECORRUPT;
	}
	seg->map = map;
	seg->size = (size_t)h.total_size;
	seg->fd = fd;
	seg->rdonly = rdonly;
	seg->h = h;
	seg->hdr = &seg->h;
	return 0;
}

/* Size FD, write the header and let the face initialise its areas. */
static int build(struct nb_segment *seg, int fd, struct nb_layout *l, nb_init_fn init, void *arg)
{
	uint64_t off[NB_AREAS], total;
	struct nb_header h;
	void *map;
	int r;

	r = layout_offsets(l, off, &total);
	if (r < 0)
		return r;
	if (total > SIZE_MAX)
		return -ENOMEM;
	header_fill(&h, l, off, total);
	if (fd >= 0) {
		if (ftruncate(fd, (off_t)total) < 0)
			return -errno;
		/* Reserve the blocks now: a full file system is -ENOSPC here, not SIGBUS later. */
		r = posix_fallocate(fd, 0, (off_t)total);
		if (r)
			return -r;
		map = mmap(NULL, (size_t)total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	} else {
		map = mmap(NULL, (size_t)total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			   -1, 0);
	}
	if (map == MAP_FAILED)
		return -errno;
	memcpy(map, &h, sizeof(h));
	seg->map = map;
	seg->size = (size_t)total;
	seg->fd = fd;
	seg->h = h;
	seg->hdr = &seg->h;
	if (init) {
		r = init(map, seg->hdr, arg);
		if (r < 0) {
			munmap(map, (size_t)total);
			seg->map = NULL;
			return r;
		}
	}
	return 0;
}

/* The directory and the last component of the object's path. */
static int split_target(const char *name, const char *path, char *dir, size_t len,
			const char **leaf)
{
	const char *slash;

	if (name) {
		if ((size_t)snprintf(dir, len, "%s", SHM_DIR) >= len)
			return -ENAMETOOLONG;
		*leaf = name + 1;
		return 0;
	}
	slash = strrchr(path, '/');
	if (!slash) {
		snprintf(dir, len, ".");
		*leaf = path;
	} else if (slash == path) {
		snprintf(dir, len, "/");
		*leaf = path + 1;
	} else {
		if ((size_t)(slash - path) >= len)
			return -ENAMETOOLONG;
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
		*leaf = slash + 1;
	}
	return **leaf ? 0 : -EINVAL;
}

/*
 * Create the object complete and give it its name. 0 on success (SEG holds
 * it), -EEXIST if the name exists (nothing is left behind).
 */
static int create_new(struct nb_segment *seg, const char *name, const char *path,
		      unsigned int mode, struct nb_layout *l, nb_init_fn init, void *arg)
{
	char dir[PATH_MAX], tmp[PATH_MAX + 64], target[PATH_MAX + 8], proc[64];
	const char *leaf;
	int fd, r, named_tmp = 0;

	r = split_target(name, path, dir, sizeof(dir), &leaf);
	if (r < 0)
		return r;
	if ((size_t)snprintf(target, sizeof(target), "%s/%s", dir, leaf) >= sizeof(target))
		return -ENAMETOOLONG;
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.nbtmp.%ld.%ld", dir, leaf,
				     (long)getpid(), (long)ts.tv_nsec) >= sizeof(tmp))
			return -ENAMETOOLONG;
		fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
		named_tmp = 1;
	}
	if (fd < 0)
		return -errno;
	/*
	 * The mode asked for, exactly: open(2) took the umask's bits away.
	 * The object has no name yet, so nobody sees it with another mode.
	 */
	if (fchmod(fd, mode) < 0) {
		r = -errno;
		goto fail;
	}
	r = build(seg, fd, l, init, arg);
	if (r < 0)
		goto fail;
	if (named_tmp) {
		r = link(tmp, target) < 0 ? -errno : 0;
		unlink(tmp);
	} else {
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		r = linkat(AT_FDCWD, proc, AT_FDCWD, target, AT_SYMLINK_FOLLOW) < 0 ? -errno : 0;
	}
	if (r < 0) {
		munmap(seg->map, seg->size);
		seg->map = NULL;
		close(fd);
		return r;
	}
	seg->created = 1;
	return 0;
fail:
	if (named_tmp)
		unlink(tmp);
	close(fd);
	return r;
}

static int open_existing(const char *name, const char *path, int rdonly)
{
	int fd, acc = rdonly ? O_RDONLY : O_RDWR;

	if (name)
		fd = shm_open(name, acc, 0);
	else
		fd = open(path, acc | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno == ELOOP ? -ELOOP : -errno;
	return fd;
}

int nb_segment_open(struct nb_segment *seg, const char *name, const char *path,
		    unsigned int flags, unsigned int mode, struct nb_layout *want,
		    nb_layout_fn layout, nb_init_fn init, void *arg)
{
	char nbuf[NUMBALLOC_NAME_MAX + 2];
	int r, fd, tries, rdonly = !!(flags & NUMBALLOC_RDONLY);

	memset(seg, 0, sizeof(*seg));
	seg->fd = -1;
	/* Read-only opens what exists: nothing to create, nothing private. */
	if (rdonly && ((flags & NUMBALLOC_CREATE) || (!name && !path)))
		return -EINVAL;
	if (name) {
		r = nb_name_check(name, nbuf, sizeof(nbuf));
		if (r < 0)
			return r;
		name = nbuf;
	} else if (path && (!*path || strlen(path) >= PATH_MAX)) {
		return -EINVAL;
	}
	if (!name && !path) {
		r = layout(want);
		if (r < 0)
			return r;
		return build(seg, -1, want, init, arg);
	}
	if (mode == 0)
		mode = 0600;
	if (mode & ~07777u)
		return -EINVAL;
	/* A creator and a destroyer may race: a few rounds settle it. */
	for (tries = 0; tries < 100; tries++) {
		if (!(flags & NUMBALLOC_EXCL) || !(flags & NUMBALLOC_CREATE)) {
			fd = open_existing(name, path, rdonly);
			if (fd >= 0) {
				r = attach_fd(seg, fd, want, layout, rdonly);
				if (r < 0)
					close(fd);
				return r;
			}
			if (fd != -ENOENT || !(flags & NUMBALLOC_CREATE))
				return fd;
		}
		r = layout(want);
		if (r < 0)
			return r;
		r = create_new(seg, name, path, mode, want, init, arg);
		if (r != -EEXIST)
			return r;
		if (flags & NUMBALLOC_EXCL)
			return -EEXIST;
	}
	return -EAGAIN;
}

void nb_segment_close(struct nb_segment *seg)
{
	if (seg->map)
		munmap(seg->map, seg->size);
	if (seg->fd >= 0)
		close(seg->fd);
	seg->map = NULL;
	seg->fd = -1;
}

void *nb_segment_area(const struct nb_segment *seg, int i)
{
	if (i < 0 || i >= NB_AREAS || !seg->hdr->area_off[i])
		return NULL;
	return (char *)seg->map + seg->hdr->area_off[i];
}

int nb_segment_unlink(const char *name)
{
	char nbuf[NUMBALLOC_NAME_MAX + 2];
	int r;

	r = nb_name_check(name, nbuf, sizeof(nbuf));
	if (r < 0)
		return r;
	return shm_unlink(nbuf) < 0 ? -errno : 0;
}

/*
 * Growth. The words never move: the object is only ever extended, by
 * fallocate(2) of its last byte, which cannot shrink it even when growers
 * race (ftruncate(2) could: a slower grower would cut a faster one's part
 * off). The new part reads as zeros.
 */
int nb_segment_extend(const struct nb_segment *seg, uint64_t size)
{
	struct stat st;

	if (seg->fd < 0)
		return size <= seg->size ? 0 : -ENOSPC;
	if (size > (uint64_t)SSIZE_MAX)
		return -EFBIG;
	if (fstat(seg->fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size >= size)
		return 0;
	if (fallocate(seg->fd, 0, (off_t)size - 1, 1) == 0)
		return 0;
	if (errno != EOPNOTSUPP)
		return -errno;
	/* A file system without fallocate: re-check, then truncate up. */
	if (fstat(seg->fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size < size && ftruncate(seg->fd, (off_t)size) < 0)
		return -errno;
	return 0;
}

int nb_segment_map(const struct nb_segment *seg, uint64_t size, void **map)
{
	struct stat st;
	void *m;

	if (seg->fd < 0 || size > SIZE_MAX)
		return -EINVAL;
	if (fstat(seg->fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size < size)
		return -NUMBALLOC_ECORRUPT;	/* never map past the end: SIGBUS */
	m = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, seg->fd, 0);
	if (m == MAP_FAILED)
		return -errno;
	*map = m;
	return 0;
}

uint64_t *nb_segment_capacity_word(const struct nb_segment *seg)
{
	return &((struct nb_header *)seg->map)->capacity_now;
}
