/* SPDX-License-Identifier: MIT */
/*
 * mkpool.c - make a page arena or an offset buffer by name, for the shell
 * tests (the CLI makes ID pools only): "mkpool pages NAME NPAGES USED" or
 * "mkpool buffer NAME BYTES USED". USED pages (bytes) are allocated and
 * stay allocated after exit.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numballoc.h"

int main(int argc, char **argv)
{
	unsigned long long size, used;
	uint64_t first;
	int r;

	if (argc != 5) {
		fprintf(stderr, "usage: mkpool pages|buffer NAME SIZE USED\n");
		return 2;
	}
	size = strtoull(argv[3], NULL, 0);
	used = strtoull(argv[4], NULL, 0);
	if (!strcmp(argv[1], "pages")) {
		struct numballoc_pages_opts o;
		struct numballoc_pages *pa;

		memset(&o, 0, sizeof(o));
		o.npages = size;
		o.flags = NUMBALLOC_CREATE | NUMBALLOC_EXCL;
		r = numballoc_pages_open(argv[2], &o, &pa);
		if (r == 0 && used)
			r = numballoc_pages_alloc(pa, used, 1, &first);
		numballoc_pages_close(r == 0 ? pa : NULL);
	} else if (!strcmp(argv[1], "buffer")) {
		struct numballoc_buf_opts o;
		struct numballoc_buf *b;

		memset(&o, 0, sizeof(o));
		o.capacity = size;
		o.flags = NUMBALLOC_CREATE | NUMBALLOC_EXCL;
		r = numballoc_buf_open(argv[2], &o, &b);
		if (r == 0 && used)
			r = numballoc_buf_alloc(b, used, &first);
		numballoc_buf_close(r == 0 ? b : NULL);
	} else {
		fprintf(stderr, "mkpool: pages or buffer\n");
		return 2;
	}
	if (r < 0) {
		fprintf(stderr, "mkpool: %s\n", numballoc_strerror(r));
		return 1;
	}
	return 0;
}
