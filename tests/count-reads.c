/* SPDX-License-Identifier: MIT */
/*
 * count-reads.c - the counter of the NB_COUNT_READS test build
 * (tests/cli-counted): the engine adds one for every word it reads and
 * owners.c one for every record. When $NB_COUNT_READS_FILE names a file,
 * the count is written there at exit, so that a shell test can tell a
 * command that looked at a few words from one that scanned the pool.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bitmap.h"

uint64_t nb_words_read;

static void __attribute__((destructor)) report(void)
{
	const char *path = getenv("NB_COUNT_READS_FILE");
	FILE *f;

	if (!path || !*path)
		return;
	f = fopen(path, "w");
	if (!f)
		return;
	fprintf(f, "%llu\n", (unsigned long long)nb_words_read);
	fclose(f);
}
