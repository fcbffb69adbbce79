/* SPDX-License-Identifier: MIT */
/*
 * mkseeds.c - write the seed corpus of fuzz_segment into DIR: valid
 * segments made by the library, in the fuzz target's input format (a mode
 * byte, eight seed bytes, then the segment or the payload).
 *
 *	cc -I. -Iinclude -Ilib [-DNB_FUZZ_PAGES] [-DNB_FUZZ_BUFFER] tests/fuzz/mkseeds.c
 *	   lib/bitmap.c lib/segment.c lib/idpool.c lib/owners.c lib/error.c
 *	   [lib/pages.c] [lib/buffer.c] $(pkg-config --cflags --libs liburcu-bp)
 *	./a.out tests/fuzz/corpus
 * (with a config.h that defines _GNU_SOURCE in the first directory).
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "numballoc.h"

static const char *tmp = "/tmp/nb-mkseeds.seg";

/* Write DIR/NAME: MODE, SEED, then the bytes of the segment file (or PAYLOAD). */
static void emit(const char *dir, const char *name, unsigned char mode, uint64_t seed,
		 const void *payload, size_t n)
{
	char out[512], buf[1 << 16];
	ssize_t k;
	FILE *f;
	int fd;

	snprintf(out, sizeof(out), "%s/%s", dir, name);
	f = fopen(out, "wb");
	if (!f) {
		perror(out);
		exit(1);
	}
	fwrite(&mode, 1, 1, f);
	fwrite(&seed, sizeof(seed), 1, f);
	if (payload) {
		fwrite(payload, 1, n, f);
	} else {
		fd = open(tmp, O_RDONLY);
		while ((k = read(fd, buf, sizeof(buf))) > 0)
			fwrite(buf, 1, (size_t)k, f);
		close(fd);
	}
	fclose(f);
}

static void ids(uint64_t cap, uint64_t base, unsigned int policy, unsigned int flags, int fill)
{
	struct numballoc_opts o;
	struct numballoc *p;
	uint64_t id;
	int i;

	unlink(tmp);
	memset(&o, 0, sizeof(o));
	o.capacity = cap;
	o.base = base;
	o.policy = policy;
	o.path = tmp;
	o.flags = NUMBALLOC_CREATE | flags;
	if (numballoc_open(NULL, &o, &p) < 0)
		exit(1);
	for (i = 0; i < fill; i++)
		numballoc_alloc(p, &id);
	numballoc_close(p);
}

int main(int argc, char **argv)
{
	unsigned char junk[2048];
	size_t i;

	if (argc != 2)
		return 2;
	mkdir(argv[1], 0755);
	ids(100, 0, NUMBALLOC_LOWEST, 0, 30);
	emit(argv[1], "ids-100", 0, 1, NULL, 0);
	emit(argv[1], "ids-100-sum", 1, 2, NULL, 0);
	ids(300, 5000, NUMBALLOC_CYCLIC, NUMBALLOC_OWNERS, 77);
	emit(argv[1], "ids-300-owners", 0, 3, NULL, 0);
	ids(64, UINT64_MAX - 63, NUMBALLOC_SPREAD, NUMBALLOC_OWNERS, 64);
	emit(argv[1], "ids-64-top-full", 0, 4, NULL, 0);
	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 37 + (i >> 3));
	emit(argv[1], "overlay-ids", 2, 3, junk, sizeof(junk));
	memset(junk, 0xff, sizeof(junk));
	emit(argv[1], "overlay-ones", 2, 6, junk, sizeof(junk));
#ifdef NB_FUZZ_PAGES
	{
		struct numballoc_pages_opts o;
		struct numballoc_pages *pa;
		uint64_t first;

		unlink(tmp);
		memset(&o, 0, sizeof(o));
		o.path = tmp;
		o.page_size = 64;
		o.npages = 20;
		o.flags = NUMBALLOC_CREATE;
		if (numballoc_pages_open(NULL, &o, &pa) == 0) {
			numballoc_pages_alloc(pa, 3, 1, &first);
			numballoc_pages_close(pa);
			emit(argv[1], "pages-20", 0, 7, NULL, 0);
		}
		emit(argv[1], "overlay-pages", 2, 4, junk, 512);
	}
#endif
#ifdef NB_FUZZ_BUFFER
	{
		struct numballoc_buf_opts o;
		struct numballoc_buf *b;
		uint64_t start;

		unlink(tmp);
		memset(&o, 0, sizeof(o));
		o.path = tmp;
		o.unit = 8;
		o.capacity = 800;
		o.max_capacity = 1600;
		o.flags = NUMBALLOC_CREATE;
		if (numballoc_buf_open(NULL, &o, &b) == 0) {
			numballoc_buf_alloc(b, 40, &start);
			numballoc_buf_alloc(b, 100, &start);
			numballoc_buf_close(b);
			emit(argv[1], "buffer-800", 0, 8, NULL, 0);
		}
		emit(argv[1], "overlay-buffer", 2, 5, junk, 512);
	}
#endif
	unlink(tmp);
	return 0;
}
