/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static pid_t run_pid;
static unsigned int counter;
static char tmpdir[256];

static pid_t runner(void)
{
	if (!run_pid)
		run_pid = getpid();
	return run_pid;
}

const char *tu_name(const char *tag)
{
	static __thread char buf[8][128];
	static __thread unsigned int k;
	char *b = buf[k++ % 8];

	snprintf(b, sizeof(buf[0]), "nbt-%ld-%s-%ld-%u", (long)runner(), tag, (long)getpid(),
		 counter++);
	return b;
}

const char *tu_path(const char *tag)
{
	static __thread char buf[8][512];
	static __thread unsigned int k;
	char *b = buf[k++ % 8];

	if (!tmpdir[0]) {
		snprintf(tmpdir, sizeof(tmpdir), "%s/nbt-%ld.d",
			 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)runner());
		mkdir(tmpdir, 0700);
	}
	snprintf(b, sizeof(buf[0]), "%s/%s-%ld-%u", tmpdir, tag, (long)getpid(), counter++);
	return b;
}

void *tu_shared(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		abort();
	}
	return p;
}

uint64_t tu_rand(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15u;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * UINT64_C(2685821657736338717);
}

int tu_wait_all(const pid_t *pids, int n)
{
	int i, st, bad = 0;

	for (i = 0; i < n; i++) {
		if (waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad++;
	}
	return bad;
}

static void remove_prefixed(const char *dir, const char *prefix)
{
	char path[1024];
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, prefix, strlen(prefix)) &&
		    strncmp(e->d_name + 1, prefix, strlen(prefix)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
}

static void cleanup(void)
{
	char prefix[64];

	snprintf(prefix, sizeof(prefix), "nbt-%ld-", (long)runner());
	remove_prefixed("/dev/shm", prefix);
	if (tmpdir[0]) {
		remove_prefixed(tmpdir, "");
		rmdir(tmpdir);
	}
}

int tu_run(Suite *s)
{
	SRunner *sr;
	int failed;

	runner();
	/* make the temporary directory before forking so that cleanup knows it */
	tu_path("init");
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	cleanup();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
