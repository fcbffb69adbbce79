/* SPDX-License-Identifier: MIT */
/*
 * check_access.c - the first hour's calls (issue 19): numballoc_range(),
 * NUMBALLOC_RDONLY (also as an unprivileged user who may read the object
 * but not write it), exact creation modes, numballoc_chown() and
 * numballoc_reclaim_ids(), with their error paths. Every error leaves the
 * pool as it was.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "numballoc.h"
#include "testutil.h"

#define NOBODY 65534

static struct numballoc *create(const char *name, uint64_t cap, uint64_t base,
				unsigned int flags, unsigned int mode)
{
	struct numballoc_opts o;
	struct numballoc *p;

	memset(&o, 0, sizeof(o));
	o.capacity = cap;
	o.base = base;
	o.mode = mode;
	o.flags = NUMBALLOC_CREATE | NUMBALLOC_EXCL | flags;
	ck_assert_int_eq(numballoc_open(name, &o, &p), 0);
	return p;
}

static int open_flags(const char *name, unsigned int flags, struct numballoc **p)
{
	struct numballoc_opts o;

	memset(&o, 0, sizeof(o));
	o.flags = flags;
	return numballoc_open(name, &o, p);
}

static uint64_t used(struct numballoc *p)
{
	struct numballoc_stat st;

	ck_assert_int_eq(numballoc_stat(p, &st), 0);
	return st.used;
}

/* A child that sleeps until killed: a live process to hand IDs to. */
static pid_t sleeper(void)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		for (;;)
			pause();
	}
	return pid;
}

static void reap(pid_t pid)
{
	int st;

	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
}

/* A pid that ran and is gone (reaped): not running. */
static pid_t dead_pid(void)
{
	pid_t pid = fork();
	int st;

	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return pid;
}

START_TEST(test_range)
{
	const char *name = tu_name("range");
	struct numballoc *p, *q;
	uint64_t base = 1, cap = 1;

	p = create(name, 1000, 20000, 0, 0);
	ck_assert_int_eq(numballoc_range(p, &base, &cap), 0);
	ck_assert_uint_eq(base, 20000);
	ck_assert_uint_eq(cap, 1000);
	/* either pointer may be NULL */
	base = cap = 7;
	ck_assert_int_eq(numballoc_range(p, NULL, &cap), 0);
	ck_assert_uint_eq(cap, 1000);
	ck_assert_int_eq(numballoc_range(p, &base, NULL), 0);
	ck_assert_uint_eq(base, 20000);
	ck_assert_int_eq(numballoc_range(p, NULL, NULL), 0);
	ck_assert_int_eq(numballoc_range(NULL, &base, &cap), -EINVAL);
	/* another handle, opened without parameters, reads the same header */
	ck_assert_int_eq(open_flags(name, 0, &q), 0);
	ck_assert_int_eq(numballoc_range(q, &base, &cap), 0);
	ck_assert_uint_eq(base, 20000);
	ck_assert_uint_eq(cap, 1000);
	numballoc_close(q);
	numballoc_close(p);
	/* a private pool, base 0 */
	ck_assert_int_eq(numballoc_open(NULL, NULL, &p), -EINVAL);	/* capacity 0 */
	{
		struct numballoc_opts o;

		memset(&o, 0, sizeof(o));
		o.capacity = 1;
		ck_assert_int_eq(numballoc_open(NULL, &o, &p), 0);
		ck_assert_int_eq(numballoc_range(p, &base, &cap), 0);
		ck_assert_uint_eq(base, 0);
		ck_assert_uint_eq(cap, 1);
		numballoc_close(p);
	}
}
END_TEST

START_TEST(test_rdonly)
{
	const char *name = tu_name("ro");
	struct numballoc *w, *r;
	uint64_t id, first, count;
	size_t n;
	pid_t pid, self = getpid();

	w = create(name, 100, 10, NUMBALLOC_OWNERS, 0644);
	ck_assert_int_eq(numballoc_alloc_id(w, 15), 0);
	ck_assert_int_eq(numballoc_alloc_id(w, 16), 0);

	ck_assert_int_eq(open_flags(name, NUMBALLOC_RDONLY, &r), 0);
	/* the looks work */
	ck_assert_int_eq(numballoc_test(r, 15), 1);
	ck_assert_int_eq(numballoc_test(r, 17), 0);
	ck_assert_int_eq(numballoc_next(r, 0, &id), 0);
	ck_assert_uint_eq(id, 15);
	ck_assert_uint_eq(used(r), 2);
	ck_assert_int_eq(numballoc_range(r, &first, &count), 0);
	ck_assert_uint_eq(first, 10);
	ck_assert_uint_eq(count, 100);
	ck_assert_int_eq(numballoc_owner(r, 16, &pid), 0);
	ck_assert_int_eq(pid, self);
	/* every writer says -EROFS */
	ck_assert_int_eq(numballoc_alloc(r, &id), -EROFS);
	ck_assert_int_eq(numballoc_alloc_in(r, 10, 20, &id), -EROFS);
	ck_assert_int_eq(numballoc_alloc_id(r, 30), -EROFS);
	ck_assert_int_eq(numballoc_alloc_block(r, 2, 1, &id), -EROFS);
	ck_assert_int_eq(numballoc_free(r, 15), -EROFS);
	ck_assert_int_eq(numballoc_free_block(r, 15, 2), -EROFS);
	ck_assert_int_eq(numballoc_set_owner(r, 0), -EROFS);
	ck_assert_int_eq(numballoc_reclaim(r, &count), -EROFS);
	ck_assert_int_eq(numballoc_free_owner(r, self, &count), -EROFS);
	ck_assert_int_eq(numballoc_chown(r, 15, self), -EROFS);
	ck_assert_int_eq(numballoc_reclaim_ids(r, &id, NULL, 1, &n), -EROFS);
	ck_assert_str_ne(numballoc_strerror(-EROFS), "");
	/* bad arguments are still bad arguments */
	ck_assert_int_eq(numballoc_free(r, 5), -EINVAL);
	/* nothing changed */
	ck_assert_uint_eq(used(w), 2);
	ck_assert_int_eq(numballoc_test(w, 15), 1);
	ck_assert_int_eq(numballoc_test(w, 16), 1);
	ck_assert_int_eq(numballoc_owner(w, 15, &pid), 0);
	ck_assert_int_eq(pid, self);
	/* and the writer's changes are seen through the read-only mapping */
	ck_assert_int_eq(numballoc_free(w, 15), 0);
	ck_assert_int_eq(numballoc_test(r, 15), 0);
	numballoc_close(r);

	/* read-only opens what exists, and nothing else */
	ck_assert_int_eq(open_flags(name, NUMBALLOC_RDONLY | NUMBALLOC_CREATE, &r), -EINVAL);
	ck_assert_int_eq(open_flags(name, NUMBALLOC_RDONLY | NUMBALLOC_EXCL, &r), -EINVAL);
	ck_assert_int_eq(open_flags(tu_name("ro-missing"), NUMBALLOC_RDONLY, &r), -ENOENT);
	{
		struct numballoc_opts o;

		memset(&o, 0, sizeof(o));
		o.capacity = 10;
		o.flags = NUMBALLOC_RDONLY;
		ck_assert_int_eq(numballoc_open(NULL, &o, &r), -EINVAL);	/* private */
	}
	/* the pages and buffer faces do not take the flag */
	{
		struct numballoc_pages_opts po;
		struct numballoc_pages *pa;
		struct numballoc_buf_opts bo;
		struct numballoc_buf *b;

		memset(&po, 0, sizeof(po));
		po.flags = NUMBALLOC_RDONLY;
		ck_assert_int_eq(numballoc_pages_open(name, &po, &pa), -EINVAL);
		memset(&bo, 0, sizeof(bo));
		bo.flags = NUMBALLOC_RDONLY;
		ck_assert_int_eq(numballoc_buf_open(name, &bo, &b), -EINVAL);
	}
	numballoc_close(w);
}
END_TEST

/*
 * As nobody: a 0644 object opens read-only and reads right; read-write is
 * -EACCES; a 0600 object does not open at all. Exit status: 0 ok, 77 the
 * identity could not be changed, else the failed step.
 */
static int as_nobody(const char *readable, const char *private_name)
{
	struct numballoc *p;
	uint64_t id;
	pid_t pid;

	if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
		return 77;
	if (open_flags(readable, 0, &p) != -EACCES)
		return 1;
	if (open_flags(readable, NUMBALLOC_RDONLY, &p) != 0)
		return 2;
	if (numballoc_test(p, 3) != 1 || numballoc_next(p, 0, &id) != 0 || id != 3)
		return 3;
	if (used(p) != 1 || numballoc_owner(p, 3, &pid) != 0 || pid != getppid())
		return 4;
	if (numballoc_alloc(p, &id) != -EROFS || numballoc_free(p, 3) != -EROFS)
		return 5;
	numballoc_close(p);
	if (open_flags(private_name, NUMBALLOC_RDONLY, &p) != -EACCES)
		return 6;
	return 0;
}

START_TEST(test_rdonly_unprivileged)
{
	const char *name = tu_name("ro-nobody"), *priv = tu_name("ro-private");
	struct numballoc *w, *v;
	pid_t pid;
	int st;

	if (geteuid() != 0) {
		fprintf(stderr, "# SKIP read-only as nobody: not root, cannot change identity\n");
		return;
	}
	w = create(name, 64, 0, NUMBALLOC_OWNERS, 0644);
	v = create(priv, 64, 0, 0, 0600);
	ck_assert_int_eq(numballoc_alloc_id(w, 3), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(as_nobody(name, priv));
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	if (WEXITSTATUS(st) == 77) {
		fprintf(stderr, "# SKIP read-only as nobody: setuid(65534) refused\n");
	} else {
		ck_assert_int_eq(WEXITSTATUS(st), 0);
	}
	ck_assert_uint_eq(used(w), 1);
	numballoc_close(v);
	numballoc_close(w);
}
END_TEST

static unsigned int mode_of_shm(const char *name)
{
	char path[300];
	struct stat st;

	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_mode & 07777;
}

START_TEST(test_exact_mode)
{
	const char *name = tu_name("mode"), *file = tu_path("mode");
	struct numballoc_opts o;
	struct numballoc *p;
	struct stat st;
	mode_t old = umask(077);

	p = create(name, 10, 0, 0, 0664);
	ck_assert_uint_eq(mode_of_shm(name), 0664);
	numballoc_close(p);
	memset(&o, 0, sizeof(o));
	o.capacity = 10;
	o.path = file;
	o.mode = 0640;
	o.flags = NUMBALLOC_CREATE;
	ck_assert_int_eq(numballoc_open(NULL, &o, &p), 0);
	ck_assert_int_eq(stat(file, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0640);
	numballoc_close(p);
	/* mode 0 is 0600, whatever the umask */
	umask(0);
	name = tu_name("mode0");
	p = create(name, 10, 0, 0, 0);
	ck_assert_uint_eq(mode_of_shm(name), 0600);
	numballoc_close(p);
	umask(old);
}
END_TEST

START_TEST(test_chown)
{
	const char *name = tu_name("chown"), *plain = tu_name("chown-plain");
	struct numballoc *p, *q;
	uint64_t id, n;
	pid_t server, gone, pid;
	int st;

	p = create(name, 16, 100, NUMBALLOC_OWNERS, 0);
	server = sleeper();
	gone = dead_pid();

	/* A "script" (a child) takes a port, gives it to the server, and dies. */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct numballoc *c;

		if (numballoc_open(name, NULL, &c) < 0 || numballoc_alloc(c, &id) < 0 ||
		    id != 100 || numballoc_chown(c, id, server) < 0)
			_exit(1);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ck_assert_int_eq(numballoc_owner(p, 100, &pid), 0);
	ck_assert_int_eq(pid, server);
	/* the script is dead, the server lives: the port stays held */
	ck_assert_int_eq(numballoc_reclaim(p, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(numballoc_test(p, 100), 1);

	/* errors change nothing */
	ck_assert_int_eq(numballoc_chown(p, 101, server), -ENOENT);	/* not allocated */
	ck_assert_int_eq(numballoc_test(p, 101), 0);
	ck_assert_int_eq(numballoc_chown(p, 100, gone), -ESRCH);	/* not running */
	ck_assert_int_eq(numballoc_chown(p, 100, 0), -EINVAL);
	ck_assert_int_eq(numballoc_chown(p, 100, -1), -EINVAL);
	ck_assert_int_eq(numballoc_chown(p, 99, server), -EINVAL);	/* outside */
	ck_assert_int_eq(numballoc_chown(p, 116, server), -EINVAL);
	ck_assert_int_eq(numballoc_chown(NULL, 100, server), -EINVAL);
	ck_assert_int_eq(numballoc_owner(p, 100, &pid), 0);
	ck_assert_int_eq(pid, server);
	q = create(plain, 16, 0, 0, 0);
	ck_assert_int_eq(numballoc_alloc(q, &id), 0);
	ck_assert_int_eq(numballoc_chown(q, id, server), -EOPNOTSUPP);	/* no owners */
	numballoc_close(q);

	/* back to us, then the server dies: still ours */
	ck_assert_int_eq(numballoc_chown(p, 100, getpid()), 0);
	ck_assert_int_eq(numballoc_chown(p, 100, getpid()), 0);	/* same holder: fine */
	ck_assert_int_eq(numballoc_owner(p, 100, &pid), 0);
	ck_assert_int_eq(pid, getpid());
	ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_int_eq(numballoc_chown(p, id, server), 0);
	reap(server);
	ck_assert_int_eq(numballoc_reclaim(p, &n), 0);
	ck_assert_uint_eq(n, 1);	/* the server's one */
	ck_assert_int_eq(numballoc_test(p, id), 0);
	ck_assert_int_eq(numballoc_test(p, 100), 1);
	numballoc_close(p);
}
END_TEST

START_TEST(test_reclaim_ids)
{
	const char *name = tu_name("rids"), *plain = tu_name("rids-plain");
	struct numballoc *p, *q;
	uint64_t ids[8];
	pid_t holders[8], child;
	size_t n, total = 0, i;
	int st;

	p = create(name, 32, 1000, NUMBALLOC_OWNERS, 0);
	ck_assert_int_eq(numballoc_alloc_id(p, 1000), 0);	/* ours: stays */
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		struct numballoc *c;
		uint64_t id;
		int k;

		if (numballoc_open(name, NULL, &c) < 0)
			_exit(1);
		for (k = 0; k < 5; k++)
			if (numballoc_alloc(c, &id) < 0)
				_exit(1);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(child, &st, 0), child);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ck_assert_uint_eq(used(p), 6);

	/* errors first: nothing released */
	ck_assert_int_eq(numballoc_reclaim_ids(p, ids, holders, 0, &n), -EINVAL);
	ck_assert_int_eq(numballoc_reclaim_ids(p, NULL, holders, 8, &n), -EINVAL);
	ck_assert_int_eq(numballoc_reclaim_ids(p, ids, holders, 8, NULL), -EINVAL);
	ck_assert_int_eq(numballoc_reclaim_ids(NULL, ids, holders, 8, &n), -EINVAL);
	q = create(plain, 8, 0, 0, 0);
	ck_assert_int_eq(numballoc_reclaim_ids(q, ids, NULL, 8, &n), -EOPNOTSUPP);
	numballoc_close(q);
	ck_assert_uint_eq(used(p), 6);

	/* two at a time, in ID order, each named with its dead holder */
	for (;;) {
		ck_assert_int_eq(numballoc_reclaim_ids(p, ids + total, holders + total, 2, &n), 0);
		ck_assert_uint_le(n, 2);
		total += n;
		if (n < 2)
			break;
	}
	ck_assert_uint_eq(total, 5);
	for (i = 0; i < total; i++) {
		ck_assert_uint_eq(ids[i], 1001 + i);
		ck_assert_int_eq(holders[i], child);
	}
	ck_assert_uint_eq(used(p), 1);
	ck_assert_int_eq(numballoc_test(p, 1000), 1);
	/* HOLDERS may be NULL; nothing more to reclaim */
	ck_assert_int_eq(numballoc_reclaim_ids(p, ids, NULL, 8, &n), 0);
	ck_assert_uint_eq(n, 0);
	numballoc_close(p);
}
END_TEST

static Suite *access_suite(void)
{
	Suite *s = suite_create("access");
	TCase *tc = tcase_create("api");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_range);
	tcase_add_test(tc, test_rdonly);
	tcase_add_test(tc, test_rdonly_unprivileged);
	tcase_add_test(tc, test_exact_mode);
	tcase_add_test(tc, test_chown);
	tcase_add_test(tc, test_reclaim_ids);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(access_suite());
}
