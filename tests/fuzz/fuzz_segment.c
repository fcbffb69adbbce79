/* SPDX-License-Identifier: MIT */
/*
 * fuzz_segment.c - libFuzzer target: open a segment made of arbitrary bytes
 * and run operations on it.
 *
 * Input: byte 0 chooses how the bytes become a segment, bytes 1..8 seed
 * the operations, the rest is the payload.
 *
 *	mode 0	the payload is the whole file, as it is
 *	mode 1	the payload is the whole file, with its header checksum made
 *		right (so the layout checks behind the checksum get fuzzed)
 *	mode 2	a valid pool is created (kind and small parameters from the
 *		seed), then the payload overwrites everything after its
 *		header: engine words, summary levels, cursor, owner records
 *
 * The file is opened as an ID pool and, when this build has them, as a
 * page arena and an offset buffer. Every open must fail with an error or
 * give a pool whose answers stay in range; any answer out of range is a
 * crash (abort), and so is any read or write outside the mapping
 * (AddressSanitizer, SIGSEGV), undefined behaviour (UBSan) and any loop
 * that does not end (libFuzzer's -timeout).
 *
 * Built by tests/fuzz/run.sh with clang -fsanitize=fuzzer,address,undefined
 * from the library's sources; NB_FUZZ_PAGES and NB_FUZZ_BUFFER are defined
 * when lib/pages.c and lib/buffer.c exist.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "numballoc.h"
#include "segment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                           \
	do {                                                                               \
		if (!(c)) {                                                                \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);   \
			abort();                                                           \
		}                                                                          \
	} while (0)

static char path[64];

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15u;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * UINT64_C(2685821657736338717);
}

static int is_error(int r)
{
	return r < 0 && r > -4096;
}

static void write_file(const uint8_t *p, size_t n)
{
	int fd;

	unlink(path);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	CHECK(write(fd, p, n) == (ssize_t)n);
	close(fd);
}

/* ------------------------------------------------------------------- ID pools */

static void ids_exercise(struct numballoc *p, uint64_t *s)
{
	struct numballoc_stat st;
	uint64_t id, lo, hi, k, from, last = 0;
	pid_t who;
	int r;

	CHECK(numballoc_stat(p, &st) == 0);
	CHECK(st.capacity > 0 && st.used <= st.capacity && st.largest_free_run <= st.capacity);
	lo = st.base;
	hi = st.base + (st.capacity - 1);
	CHECK(hi >= lo);
	for (k = 0; k < 64; k++) {
		unsigned int op = (unsigned int)(rnd(s) % 10);

		id = lo + rnd(s) % st.capacity;
		switch (op) {
		case 0:
		case 1:
			r = numballoc_alloc(p, &id);
			CHECK(r == 0 ? id >= lo && id <= hi : r == -ENOSPC);
			break;
		case 2:
			r = numballoc_alloc_block(p, 1 + rnd(s) % 40, UINT64_C(1) << (rnd(s) % 6), &id);
			CHECK(r == 0 ? id >= lo && id <= hi : r == -ENOSPC || r == -EINVAL);
			break;
		case 3:
			r = numballoc_alloc_id(p, id);
			CHECK(r == 0 || r == -EEXIST);
			break;
		case 4:
			r = numballoc_free(p, id);
			CHECK(r == 0 || r == -ENOENT);
			break;
		case 5:
			r = numballoc_free_block(p, id, 1 + rnd(s) % 8);
			CHECK(r == 0 || r == -ENOENT || r == -EINVAL);
			break;
		case 6:
			r = numballoc_test(p, id);
			CHECK(r == 0 || r == 1);
			r = numballoc_owner(p, id, &who);
			CHECK(r == 0 || r == -ENOENT || r == -EOPNOTSUPP);
			break;
		case 7:
			r = numballoc_alloc_in(p, id, id + rnd(s) % 100, &from);
			CHECK(r == 0 ? from >= id && from <= hi : r == -ENOSPC || r == -EINVAL);
			break;
		case 8:
			r = numballoc_reclaim(p, &from);
			CHECK(r == 0 ? from <= st.capacity : r == -EOPNOTSUPP);
			break;
		default:
			r = numballoc_free_owner(p, (pid_t)(1 + rnd(s) % 4000000), &from);
			CHECK(r == 0 || r == -EOPNOTSUPP);
			break;
		}
	}
	/* fill it: at most capacity successes, then -ENOSPC */
	for (k = 0; k <= st.capacity && numballoc_alloc(p, &id) == 0; k++)
		CHECK(id >= lo && id <= hi);
	CHECK(k <= st.capacity);
	/* walk it: strictly increasing, bounded */
	for (k = 0, from = lo; k <= st.capacity && numballoc_next(p, from, &id) == 0; k++) {
		CHECK(id >= from && id <= hi && (k == 0 || id > last));
		last = id;
		if (id == hi)
			break;
		from = id + 1;
	}
	CHECK(k <= st.capacity);
	CHECK(numballoc_stat(p, &st) == 0 && st.used <= st.capacity);
}

static void ids_try(uint64_t seed)
{
	struct numballoc_opts o;
	struct numballoc *p;
	int r;

	memset(&o, 0, sizeof(o));
	o.path = path;
	r = numballoc_open(NULL, &o, &p);
	CHECK(r == 0 || is_error(r));
	if (r < 0)
		return;
	ids_exercise(p, &seed);
	numballoc_close(p);
}

static int ids_create(uint64_t *s)
{
	struct numballoc_opts o;
	struct numballoc *p;

	memset(&o, 0, sizeof(o));
	o.path = path;
	o.capacity = 1 + rnd(s) % 700;
	o.base = rnd(s) % 3 ? rnd(s) % 100000 : UINT64_MAX - o.capacity + 1;
	o.policy = (unsigned int)(rnd(s) % 3);
	o.flags = NUMBALLOC_CREATE | NUMBALLOC_EXCL | (rnd(s) % 2 ? NUMBALLOC_OWNERS : 0);
	if (numballoc_open(NULL, &o, &p) < 0)
		return -1;
	numballoc_close(p);
	return 0;
}

/* ----------------------------------------------------------------- page arenas */

#ifdef NB_FUZZ_PAGES
static void pages_try(uint64_t seed)
{
	struct numballoc_pages_opts o;
	struct numballoc_pages_stat st;
	struct numballoc_pages *pa;
	uint64_t first, n, k;
	unsigned char *a;
	int r;

	memset(&o, 0, sizeof(o));
	o.path = path;
	r = numballoc_pages_open(NULL, &o, &pa);
	CHECK(r == 0 || is_error(r));
	if (r < 0)
		return;
	CHECK(numballoc_pages_stat(pa, &st) == 0);
	CHECK(st.used <= st.total && st.largest_free <= st.total);
	for (k = 0; k < 48; k++) {
		n = 1 + rnd(&seed) % 8;
		if (rnd(&seed) % 2) {
			r = numballoc_pages_alloc(pa, n, UINT64_C(1) << (rnd(&seed) % 4), &first);
			CHECK(r == 0 || r == -ENOSPC || r == -EINVAL);
			if (r == 0) {
				CHECK(first < st.total && n <= st.total - first);
				a = numballoc_pages_addr(pa, first);
				CHECK(a != NULL);
				a[0] = 1;	/* inside the mapping, or SIGSEGV */
				a[n * st.page_size - 1] = 1;
			}
		} else {
			r = numballoc_pages_free(pa, rnd(&seed) % (st.total + 2), n);
			CHECK(r == 0 || r == -ENOENT || r == -EINVAL);
		}
	}
	CHECK(numballoc_pages_addr(pa, st.total) == NULL);
	numballoc_pages_close(pa);
}

static int pages_create(uint64_t *s)
{
	struct numballoc_pages_opts o;
	struct numballoc_pages *pa;

	memset(&o, 0, sizeof(o));
	o.path = path;
	o.page_size = UINT64_C(64) << (rnd(s) % 3);
	o.npages = 1 + rnd(s) % 60;
	o.flags = NUMBALLOC_CREATE | NUMBALLOC_EXCL;
	if (numballoc_pages_open(NULL, &o, &pa) < 0)
		return -1;
	numballoc_pages_close(pa);
	return 0;
}
#endif

/* -------------------------------------------------------------- offset buffers */

#ifdef NB_FUZZ_BUFFER
static void buf_try(uint64_t seed)
{
	struct numballoc_buf_opts o;
	struct numballoc_buf_stat st;
	struct numballoc_buf *b;
	uint64_t start, size, starts[8], sizes[8], k, ns;
	size_t n;
	int r;

	memset(&o, 0, sizeof(o));
	o.path = path;
	r = numballoc_buf_open(NULL, &o, &b);
	CHECK(r == 0 || is_error(r));
	if (r < 0)
		return;
	CHECK(numballoc_buf_stat(b, &st) == 0);
	CHECK(st.free_size <= st.capacity && st.largest_free <= st.capacity);
	for (k = 0; k < 48; k++) {
		size = 1 + rnd(&seed) % (st.unit * 16 + 1);
		switch (rnd(&seed) % 4) {
		case 0:
			r = numballoc_buf_alloc(b, size, &start);
			CHECK(r == 0 ? start < st.max_capacity : is_error(r));
			break;
		case 1:
			r = numballoc_buf_dealloc(b, rnd(&seed) % (st.capacity + 1), size);
			CHECK(r == 0 || is_error(r));
			break;
		case 2:
			r = numballoc_buf_realloc(b, rnd(&seed) % (st.capacity + 1), size,
						  rnd(&seed) % (size * 2 + 1), &ns);
			CHECK(r == 0 || is_error(r));
			break;
		default:
			r = numballoc_buf_regions(b, starts, sizes, 8, &n);
			CHECK(r == 0 || is_error(r));
			break;
		}
	}
	CHECK(numballoc_buf_stat(b, &st) == 0 && st.free_size <= st.capacity);
	numballoc_buf_close(b);
}

static int buf_create(uint64_t *s)
{
	struct numballoc_buf_opts o;
	struct numballoc_buf *b;

	memset(&o, 0, sizeof(o));
	o.path = path;
	o.unit = UINT64_C(1) << (rnd(s) % 4);
	o.capacity = o.unit * (1 + rnd(s) % 500);
	o.max_capacity = o.capacity * (1 + rnd(s) % 3);
	o.flags = NUMBALLOC_CREATE | NUMBALLOC_EXCL;
	if (numballoc_buf_open(NULL, &o, &b) < 0)
		return -1;
	numballoc_buf_close(b);
	return 0;
}
#endif

static void try_all(uint64_t seed)
{
	ids_try(seed);
#ifdef NB_FUZZ_PAGES
	pages_try(seed);
#endif
#ifdef NB_FUZZ_BUFFER
	buf_try(seed);
#endif
}

/* Create a valid segment, then overwrite all after its header with P. */
static void overlay(const uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t s = seed;
	int fd, r = -1;
	off_t end;

	unlink(path);
	switch (seed % 3) {
#ifdef NB_FUZZ_PAGES
	case 1:
		r = pages_create(&s);
		break;
#endif
#ifdef NB_FUZZ_BUFFER
	case 2:
		r = buf_create(&s);
		break;
#endif
	default:
		r = ids_create(&s);
		break;
	}
	if (r < 0)
		return;
	fd = open(path, O_RDWR | O_CLOEXEC);
	CHECK(fd >= 0);
	end = lseek(fd, 0, SEEK_END);
	CHECK(end >= NB_HEADER_SIZE);
	if ((off_t)n > end - NB_HEADER_SIZE)
		n = (size_t)(end - NB_HEADER_SIZE);
	CHECK(pwrite(fd, p, n, NB_HEADER_SIZE) == (ssize_t)n);
	close(fd);
	try_all(seed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t seed = 0;
	unsigned int mode;

	if (!path[0])
		snprintf(path, sizeof(path), "/dev/shm/nbfuzz-%ld", (long)getpid());
	if (size < 9)
		return 0;
	mode = data[0] % 3;
	memcpy(&seed, data + 1, sizeof(seed));
	data += 9;
	size -= 9;
	if (mode == 2) {
		overlay(data, size, seed);
	} else if (mode == 1 && size >= sizeof(struct nb_header)) {
		uint8_t *copy = malloc(size);
		struct nb_header h;

		CHECK(copy != NULL);
		memcpy(copy, data, size);
		memcpy(&h, copy, sizeof(h));
		h.checksum = nb_header_checksum(&h);
		memcpy(copy, &h, sizeof(h));
		write_file(copy, size);
		free(copy);
		try_all(seed);
	} else {
		write_file(data, size);
		try_all(seed);
	}
	unlink(path);
	return 0;
}
