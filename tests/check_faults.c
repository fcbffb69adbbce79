/* SPDX-License-Identifier: MIT */
/*
 * check_faults.c - SIGKILL at random moments, and hostile input.
 *
 * Kill rounds: worker processes open (and create) one shared owner pool,
 * allocate, free and reclaim on it, marking a shared witness array with an
 * atomic exchange for every ID they hold; the parent SIGKILLs some of them
 * at random moments, stops the others between two operations, reclaims,
 * and checks that the allocated set is exactly what the survivors hold and
 * that no ID was ever held by two running processes.
 *
 * Creator rounds: a child creates and removes a pool in a loop and is
 * SIGKILLed at a random moment; the next creator must get a complete pool,
 * for shared memory, for a file, and for a file with O_TMPFILE refused
 * (the named temporary file path; this program links the library's sources
 * with -Wl,--wrap=open to refuse it).
 *
 * Hostile input: names and paths that must be refused, headers with every
 * field changed, and valid headers over areas full of random words: every
 * open fails with an error or gives a pool whose answers stay in range.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "numballoc.h"
#include "segment.h"
#include "testutil.h"

/* ------------------------------------------------ open(2) that refuses O_TMPFILE */

int __real_open(const char *path, int flags, ...);
int __wrap_open(const char *path, int flags, ...);
static int refuse_tmpfile;

int __wrap_open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;

	if (flags & (O_CREAT | __O_TMPFILE)) {
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	if (refuse_tmpfile && (flags & __O_TMPFILE) == __O_TMPFILE) {
		errno = EOPNOTSUPP;
		return -1;
	}
	return __real_open(path, flags, mode);
}

/* ------------------------------------------------------------------ kill rounds */

#define CAP 128
#define WORKERS 4
#define ROUNDS 60
#define MAXSER (ROUNDS * WORKERS + 2)
#define MAXHELD 12

struct fshared {
	int stop;		/* workers stop between two operations */
	int leave;		/* stopped workers exit, holding what they hold */
	int bad;		/* an ID held twice, or a free of a held ID that failed */
	int errors;		/* an unexpected error from the library */
	int quiet[WORKERS];	/* this round's worker k has stopped */
	pid_t pid[MAXSER];	/* pid of each worker serial */
	int reaped[MAXSER];	/* waited for: its pid may be reused */
	uint64_t ops;		/* operations done by all workers */
	int witness[CAP];	/* serial of the holder of each ID, 0: none */
};

static int running(pid_t pid)
{
	char path[64], buf[512], *s;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	s = strrchr(buf, ')');
	return s && s[1] == ' ' && s[2] != 'Z' && s[2] != 'X';
}

/* Serial OLD held the ID before us: fine only if it is dead. */
static int holder_dead(struct fshared *sh, int old)
{
	if (old <= 0 || old >= MAXSER)
		return 0;
	return __atomic_load_n(&sh->reaped[old], __ATOMIC_SEQ_CST) || !running(sh->pid[old]);
}

static void take(struct fshared *sh, uint64_t id, int me)
{
	int old = __atomic_exchange_n(&sh->witness[id], me, __ATOMIC_SEQ_CST);

	if (old && old != me && !holder_dead(sh, old))
		__atomic_add_fetch(&sh->bad, 1, __ATOMIC_SEQ_CST);
}

static void drop(struct fshared *sh, uint64_t id, int me)
{
	if (__atomic_exchange_n(&sh->witness[id], 0, __ATOMIC_SEQ_CST) != me)
		__atomic_add_fetch(&sh->bad, 1, __ATOMIC_SEQ_CST);
}

static int open_shared(const char *name, unsigned int policy, struct numballoc **p)
{
	struct numballoc_opts o;

	memset(&o, 0, sizeof(o));
	o.capacity = CAP;
	o.policy = policy;
	o.flags = NUMBALLOC_CREATE | NUMBALLOC_OWNERS;
	return numballoc_open(name, &o, p);
}

struct item {
	uint64_t first, n;
};

/* The policy the workers create the pool with (they must agree). */
static unsigned int kill_policy;

static void count_error(struct fshared *sh)
{
	__atomic_add_fetch(&sh->errors, 1, __ATOMIC_SEQ_CST);
}

static void worker(struct fshared *sh, const char *name, int slot, int me, uint64_t seed)
{
	struct item held[MAXHELD];
	struct numballoc *p;
	uint64_t id, i, n;
	int nh = 0, k, r;

	if (open_shared(name, kill_policy, &p) < 0) {
		count_error(sh);
		_exit(1);
	}
	while (!__atomic_load_n(&sh->stop, __ATOMIC_SEQ_CST)) {
		unsigned int op = (unsigned int)(tu_rand(&seed) % 100);

		__atomic_add_fetch(&sh->ops, 1, __ATOMIC_RELAXED);
		if (op < 3) {		/* open again: a kill may land in an open */
			numballoc_close(p);
			if (open_shared(name, 0, &p) < 0) {
				count_error(sh);
				_exit(1);
			}
		} else if (op < 10) {
			if (numballoc_reclaim(p, NULL) < 0)
				count_error(sh);
		} else if (op < 55 && nh < MAXHELD) {
			r = numballoc_alloc(p, &id);
			if (r == 0) {
				take(sh, id, me);
				held[nh++] = (struct item){ id, 1 };
			} else if (r != -ENOSPC) {
				count_error(sh);
			}
		} else if (op < 65 && nh < MAXHELD) {
			n = 1 + tu_rand(&seed) % 4;
			r = numballoc_alloc_block(p, n, 1, &id);
			if (r == 0) {
				for (i = 0; i < n; i++)
					take(sh, id + i, me);
				held[nh++] = (struct item){ id, n };
			} else if (r != -ENOSPC) {
				count_error(sh);
			}
		} else if (op < 72 && nh < MAXHELD) {
			id = tu_rand(&seed) % CAP;
			r = numballoc_alloc_id(p, id);
			if (r == 0) {
				take(sh, id, me);
				held[nh++] = (struct item){ id, 1 };
			} else if (r != -EEXIST) {
				count_error(sh);
			}
		} else if (nh > 0) {
			k = (int)(tu_rand(&seed) % (uint64_t)nh);
			for (i = 0; i < held[k].n; i++)
				drop(sh, held[k].first + i, me);
			if (held[k].n == 1)
				r = numballoc_free(p, held[k].first);
			else
				r = numballoc_free_block(p, held[k].first, held[k].n);
			if (r < 0)	/* ours, and we are alive: nobody may free it */
				__atomic_add_fetch(&sh->bad, 1, __ATOMIC_SEQ_CST);
			held[k] = held[--nh];
		}
	}
	__atomic_store_n(&sh->quiet[slot], 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&sh->leave, __ATOMIC_SEQ_CST))
		usleep(200);
	_exit(0);	/* without freeing: the next round reclaims from the dead */
}

static void reap(struct fshared *sh, pid_t pid, int serial)
{
	int st;

	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	__atomic_store_n(&sh->reaped[serial], 1, __ATOMIC_SEQ_CST);
}

START_TEST(test_kill_workers)
{
	const char *name = tu_name("kill");
	struct fshared *sh = tu_shared(sizeof(*sh));
	uint64_t seed = 0x5eed0000u + (uint64_t)_i, verified = 0, id, n;
	int round, k, serial = 1, killed = 0, ser[WORKERS], spins;
	pid_t pids[WORKERS], who;
	struct numballoc *p = NULL;

	kill_policy = (unsigned int)_i;	/* lowest, cyclic, spread */
	for (round = 0; round < ROUNDS; round++) {
		int victims = (int)(1 + tu_rand(&seed) % (WORKERS - 1));

		sh->stop = sh->leave = 0;
		memset(sh->quiet, 0, sizeof(sh->quiet));
		for (k = 0; k < WORKERS; k++) {
			uint64_t ws = tu_rand(&seed);

			ser[k] = serial++;
			pids[k] = fork();
			ck_assert_int_ge(pids[k], 0);
			if (pids[k] == 0)
				worker(sh, name, k, ser[k], ws);
			sh->pid[ser[k]] = pids[k];
		}
		/* Kill the first VICTIMS workers, each at its own random moment. */
		for (k = 0; k < victims; k++) {
			usleep((useconds_t)(tu_rand(&seed) % 1500));
			kill(pids[k], SIGKILL);
			killed++;
		}
		usleep((useconds_t)(tu_rand(&seed) % 500));
		__atomic_store_n(&sh->stop, 1, __ATOMIC_SEQ_CST);
		for (k = victims; k < WORKERS; k++)
			for (spins = 0; !__atomic_load_n(&sh->quiet[k], __ATOMIC_SEQ_CST); spins++) {
				ck_assert_int_lt(spins, 200000);
				usleep(50);
			}
		for (k = 0; k < victims; k++)
			reap(sh, pids[k], ser[k]);
		if (!p)
			ck_assert_int_eq(open_shared(name, 0, &p), 0);
		ck_assert_int_eq(numballoc_reclaim(p, &n), 0);
		/* The allocated set is exactly what the living hold. */
		for (id = 0; id < CAP; id++) {
			int w = sh->witness[id], live = 0;

			for (k = victims; k < WORKERS; k++)
				live |= w == ser[k];
			if (w && !live)
				sh->witness[id] = 0;	/* a dead holder's: reclaimed */
			ck_assert_int_eq(numballoc_test(p, id), live);
			if (live) {
				ck_assert_int_eq(numballoc_owner(p, id, &who), 0);
				ck_assert_int_eq(who, sh->pid[w]);
			}
			verified++;
		}
		__atomic_store_n(&sh->leave, 1, __ATOMIC_SEQ_CST);
		for (k = victims; k < WORKERS; k++)
			reap(sh, pids[k], ser[k]);
		ck_assert_int_eq(sh->bad, 0);
		ck_assert_int_eq(sh->errors, 0);
	}
	numballoc_close(p);
	/* A fresh handle: the pool opens, validates and everything is reclaimable. */
	ck_assert_int_eq(open_shared(name, 0, &p), 0);
	ck_assert_int_eq(numballoc_reclaim(p, &n), 0);
	ck_assert_int_eq(numballoc_next(p, 0, &id), -ENOENT);
	numballoc_close(p);
	ck_assert_int_eq(numballoc_unlink(name), 0);
	fprintf(stderr, "# kill rounds %d, workers %d, killed %d, operations %llu, IDs verified %llu\n",
		ROUNDS, ROUNDS * WORKERS, killed, (unsigned long long)sh->ops,
		(unsigned long long)verified);
}
END_TEST

/* --------------------------------------------------------------- creator rounds */

#define CREATOR_ROUNDS 40
#define BIG (UINT64_C(1) << 21)

static int open_big(const char *name, const char *path, unsigned int flags,
		    struct numballoc **p)
{
	struct numballoc_opts o;

	memset(&o, 0, sizeof(o));
	o.capacity = BIG;
	o.path = path;
	o.flags = flags | NUMBALLOC_OWNERS;
	return numballoc_open(name, &o, p);
}

static void creator(const char *name, const char *path)
{
	struct numballoc *p;

	for (;;) {
		if (open_big(name, path, NUMBALLOC_CREATE, &p) == 0)
			numballoc_close(p);
		if (name)
			numballoc_unlink(name);
		else
			unlink(path);
	}
}

/* Leftover named temporary files of PATH's pool in its directory. */
static int leftovers(const char *path)
{
	char dir[PATH_MAX], pat[PATH_MAX];
	const char *slash = strrchr(path, '/');
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	snprintf(pat, sizeof(pat), ".%s.nbtmp.", slash + 1);
	d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		n += !strncmp(e->d_name, pat, strlen(pat));
	closedir(d);
	return n;
}

/* _i: 0 shared memory, 1 a file, 2 a file with O_TMPFILE refused. */
START_TEST(test_kill_creators)
{
	const char *name = _i == 0 ? tu_name("creat") : NULL;
	const char *path = _i == 0 ? NULL : tu_path("creat");
	uint64_t seed = 0xc0ffee + (uint64_t)_i;
	struct numballoc_stat st;
	struct numballoc *p;
	int round, complete = 0, st_;
	uint64_t id;
	pid_t pid;

	refuse_tmpfile = _i == 2;
	for (round = 0; round < CREATOR_ROUNDS; round++) {
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0)
			creator(name, path);
		usleep((useconds_t)(200 + tu_rand(&seed) % 3000));
		kill(pid, SIGKILL);
		ck_assert_int_eq(waitpid(pid, &st_, 0), pid);
		/* Whatever the name holds now is complete: it opens as it is. */
		if (open_big(name, path, 0, &p) == 0) {
			complete++;
			numballoc_close(p);
		}
		/* The next creator is never blocked. */
		ck_assert_int_eq(open_big(name, path, NUMBALLOC_CREATE, &p), 0);
		ck_assert_int_eq(numballoc_stat(p, &st), 0);
		ck_assert_uint_eq(st.capacity, BIG);
		ck_assert_int_eq(numballoc_alloc(p, &id), 0);
		ck_assert_int_eq(numballoc_free(p, id), 0);
		numballoc_close(p);
		if (name)
			ck_assert_int_eq(numballoc_unlink(name), 0);
		else
			ck_assert_int_eq(unlink(path), 0);
	}
	if (path)
		fprintf(stderr, "# creator rounds %d (%s): complete pool left %d times, "
			"named temporaries left %d\n", CREATOR_ROUNDS,
			_i == 2 ? "file, O_TMPFILE refused" : "file", complete, leftovers(path));
	else
		fprintf(stderr, "# creator rounds %d (shm): complete pool left %d times\n",
			CREATOR_ROUNDS, complete);
	refuse_tmpfile = 0;
}
END_TEST

/* ------------------------------------------------------------------ hostile input */

static void expect_open(const char *name, const char *path, unsigned int flags, int want)
{
	struct numballoc_opts o;
	struct numballoc *p = NULL;
	int r;

	memset(&o, 0, sizeof(o));
	o.capacity = 16;
	o.path = path;
	o.flags = flags;
	r = numballoc_open(name, &o, &p);
	if (r == 0)
		numballoc_close(p);
	ck_assert_msg(r == want, "open(%s, %s, %#x) = %d (%s), want %d", name ? name : "-",
		      path ? path : "-", flags, r, numballoc_strerror(r), want);
}

START_TEST(test_hostile_names)
{
	char longname[NUMBALLOC_NAME_MAX + 2], shmpath[300], dir[PATH_MAX], buf[16];
	const char *junk = tu_name("junk"), *f;
	int fd;

	expect_open("..", NULL, NUMBALLOC_CREATE, -EINVAL);
	expect_open("/..", NULL, NUMBALLOC_CREATE, -EINVAL);
	expect_open(".", NULL, NUMBALLOC_CREATE, -EINVAL);
	expect_open("a/b", NULL, NUMBALLOC_CREATE, -EINVAL);
	expect_open("../../etc/passwd", NULL, 0, -EINVAL);
	expect_open("", NULL, NUMBALLOC_CREATE, -EINVAL);
	expect_open("/", NULL, NUMBALLOC_CREATE, -EINVAL);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	expect_open(longname, NULL, NUMBALLOC_CREATE, -EINVAL);
	ck_assert_int_eq(numballoc_unlink(longname), -EINVAL);
	ck_assert_int_eq(numballoc_unlink(".."), -EINVAL);
	/* the longest legal name works */
	snprintf(longname, sizeof(longname), "%s", tu_name("l"));
	memset(longname + strlen(longname), 'y', NUMBALLOC_NAME_MAX - strlen(longname));
	longname[NUMBALLOC_NAME_MAX] = '\0';
	expect_open(longname, NULL, NUMBALLOC_CREATE, 0);
	ck_assert_int_eq(numballoc_unlink(longname), 0);
	/* an existing file that is not a pool is refused and left alone */
	snprintf(shmpath, sizeof(shmpath), "/dev/shm/%s", junk);
	fd = open(shmpath, O_CREAT | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "not a pool\n", 11), 11);
	close(fd);
	expect_open(junk, NULL, 0, -NUMBALLOC_ECORRUPT);
	expect_open(junk, NULL, NUMBALLOC_CREATE, -NUMBALLOC_ECORRUPT);
	expect_open(junk, NULL, NUMBALLOC_CREATE | NUMBALLOC_EXCL, -EEXIST);
	fd = open(shmpath, O_RDONLY);
	ck_assert_int_eq(read(fd, buf, sizeof(buf)), 11);
	ck_assert_int_eq(memcmp(buf, "not a pool\n", 11), 0);
	close(fd);
	/* a symlink in /dev/shm under a pool's name, to a pool or to nothing */
	{
		const char *real = tu_name("real"), *sym = tu_name("sym");
		char target[300], linkpath[300];

		expect_open(real, NULL, NUMBALLOC_CREATE, 0);
		snprintf(target, sizeof(target), "/dev/shm/%s", real);
		snprintf(linkpath, sizeof(linkpath), "/dev/shm/%s", sym);
		ck_assert_int_eq(symlink(target, linkpath), 0);
		expect_open(sym, NULL, 0, -ELOOP);
		expect_open(sym, NULL, NUMBALLOC_CREATE, -ELOOP);
		unlink(linkpath);
		ck_assert_int_eq(symlink("/nonexistent/nb", linkpath), 0);
		expect_open(sym, NULL, NUMBALLOC_CREATE, -ELOOP);
		unlink(linkpath);
	}
	/* the same for files, and a file that is as long as a header but zero */
	f = tu_path("notapool");
	fd = open(f, O_CREAT | O_WRONLY, 0600);
	ck_assert_int_eq(ftruncate(fd, 1 << 16), 0);
	close(fd);
	expect_open(NULL, f, NUMBALLOC_CREATE, -NUMBALLOC_ECORRUPT);
	/* a symlink, to a pool or to nothing: O_NOFOLLOW */
	{
		const char *pool = tu_path("real"), *link = tu_path("link"), *dangling =
			tu_path("dangling");

		expect_open(NULL, pool, NUMBALLOC_CREATE, 0);
		ck_assert_int_eq(symlink(pool, link), 0);
		expect_open(NULL, link, 0, -ELOOP);
		expect_open(NULL, link, NUMBALLOC_CREATE, -ELOOP);
		ck_assert_int_eq(symlink("/nonexistent/nb", dangling), 0);
		expect_open(NULL, dangling, NUMBALLOC_CREATE, -ELOOP);
		expect_open(NULL, dangling, NUMBALLOC_CREATE | NUMBALLOC_EXCL, -EEXIST);
		ck_assert_int_eq(access("/nonexistent/nb", F_OK), -1);
	}
	/* a directory, a FIFO, a device, a missing directory, an empty path */
	snprintf(dir, sizeof(dir), "%s", tu_path("dir"));
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	expect_open(NULL, dir, 0, -EISDIR);
	expect_open(NULL, dir, NUMBALLOC_CREATE, -EISDIR);
	rmdir(dir);
	f = tu_path("fifo");
	ck_assert_int_eq(mkfifo(f, 0600), 0);
	expect_open(NULL, f, NUMBALLOC_CREATE, -NUMBALLOC_ECORRUPT);
	expect_open(NULL, "/dev/null", 0, -NUMBALLOC_ECORRUPT);
	expect_open(NULL, "/nonexistent-dir/pool", NUMBALLOC_CREATE, -ENOENT);
	expect_open(NULL, "", NUMBALLOC_CREATE, -EINVAL);
	expect_open(NULL, "/", NUMBALLOC_CREATE, -EISDIR);
}
END_TEST

/* A valid pool file of CAP IDs with owners; its header in *H. */
static const char *make_pool_file(struct nb_header *h, unsigned int policy)
{
	const char *path = tu_path("hostile");
	struct numballoc_opts o;
	struct numballoc *p;
	int fd;

	memset(&o, 0, sizeof(o));
	o.capacity = 200;
	o.base = 1000;
	o.policy = policy;
	o.path = path;
	o.flags = NUMBALLOC_CREATE | NUMBALLOC_OWNERS;
	ck_assert_int_eq(numballoc_open(NULL, &o, &p), 0);
	numballoc_close(p);
	fd = open(path, O_RDONLY);
	ck_assert_int_eq(pread(fd, h, sizeof(*h), 0), (ssize_t)sizeof(*h));
	close(fd);
	return path;
}

/* Every operation on an open pool answers within its range, and ends. */
static void exercise(struct numballoc *p, uint64_t *seed)
{
	struct numballoc_stat st;
	uint64_t id, lo, hi, k, n, last;
	pid_t who;
	int r;

	ck_assert_int_eq(numballoc_stat(p, &st), 0);
	ck_assert_uint_le(st.used, st.capacity);
	ck_assert_uint_le(st.largest_free_run, st.capacity);
	lo = st.base;
	hi = st.base + (st.capacity - 1);
	for (k = 0; k <= st.capacity; k++) {
		r = numballoc_alloc(p, &id);
		if (r < 0)
			break;
		ck_assert(id >= lo && id <= hi);
	}
	ck_assert_uint_le(k, st.capacity);
	r = numballoc_alloc_block(p, 1 + tu_rand(seed) % 20, 1u << (tu_rand(seed) % 4), &id);
	ck_assert(r == 0 ? id >= lo && id <= hi : r == -ENOSPC || r == -EINVAL);
	for (k = 0; k < 50; k++) {
		id = lo + tu_rand(seed) % st.capacity;
		r = numballoc_free(p, id);
		ck_assert(r == 0 || r == -ENOENT);
		r = numballoc_owner(p, id, &who);
		ck_assert(r == 0 || r == -ENOENT || r == -EOPNOTSUPP);
		r = numballoc_alloc_id(p, id);
		ck_assert(r == 0 || r == -EEXIST);
	}
	r = numballoc_alloc_in(p, lo + 10, lo + 20, &id);
	ck_assert(r == 0 ? id >= lo + 10 && id <= lo + 20 : r == -ENOSPC || r == -EINVAL);
	/* walk the allocated set: strictly increasing, in range, ends */
	last = 0;
	for (k = 0, n = lo; k <= st.capacity && numballoc_next(p, n, &id) == 0; k++) {
		ck_assert(id >= n && id <= hi && (k == 0 || id > last));
		last = id;
		n = id + 1;
	}
	ck_assert_uint_le(k, st.capacity);
	r = numballoc_reclaim(p, &n);
	ck_assert(r == 0 || r == -EOPNOTSUPP);
	r = numballoc_free_owner(p, 1, &n);
	ck_assert(r == 0 || r == -EOPNOTSUPP);
	ck_assert_int_eq(numballoc_stat(p, &st), 0);
	ck_assert_uint_le(st.used, st.capacity);
}

/* Valid headers over areas of random words, records and cursors. */
START_TEST(test_hostile_areas)
{
	uint64_t seed = 0xbadc0de + (uint64_t)_i;
	struct numballoc_opts o;
	struct nb_header h;
	struct numballoc *p;
	const char *path = make_pool_file(&h, (unsigned int)_i % 3);
	uint64_t *area, i, words;
	int round, fd;
	void *map;

	fd = open(path, O_RDWR);
	map = mmap(NULL, h.total_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(map, MAP_FAILED);
	area = (uint64_t *)(void *)((char *)map + NB_HEADER_SIZE);
	words = (h.total_size - NB_HEADER_SIZE) / sizeof(uint64_t);
	memset(&o, 0, sizeof(o));
	o.path = path;
	for (round = 0; round < 60; round++) {
		/* mostly random words, some all-ones or zero, pids of live processes */
		for (i = 0; i < words; i++) {
			uint64_t x = tu_rand(&seed);

			switch (round % 4) {
			case 0: area[i] = x; break;
			case 1: area[i] = x & 1 ? UINT64_MAX : 0; break;
			case 2: area[i] = x % 3 ? x : (uint64_t)getpid(); break;
			default: area[i] = x & tu_rand(&seed) & tu_rand(&seed); break;
			}
		}
		ck_assert_int_eq(numballoc_open(NULL, &o, &p), 0);
		exercise(p, &seed);
		numballoc_close(p);
	}
	munmap(map, h.total_size);
	close(fd);
}
END_TEST

static int rejected(int r)
{
	return r == -NUMBALLOC_ECORRUPT || r == -NUMBALLOC_EVERSION || r == -NUMBALLOC_EKIND ||
	       r == -EINVAL;
}

/* Every header field changed, with the checksum fixed and without. */
START_TEST(test_hostile_headers)
{
	uint64_t seed = 0x4ead + (uint64_t)_i, sizes[6];
	struct numballoc_opts o;
	struct nb_header h, m;
	struct numballoc *p;
	const char *path = make_pool_file(&h, 0);
	size_t off;
	int fd, r, opened = 0, refused = 0, k;

	memset(&o, 0, sizeof(o));
	o.path = path;
	fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	for (off = 0; off < sizeof(h); off++) {
		for (k = 0; k < 4; k++) {
			m = h;
			((unsigned char *)&m)[off] ^= (unsigned char)(1 + tu_rand(&seed) % 255);
			if (k & 1)
				m.checksum = nb_header_checksum(&m);
			ck_assert_int_eq(pwrite(fd, &m, sizeof(m), 0), (ssize_t)sizeof(m));
			r = numballoc_open(NULL, &o, &p);
			if (r == 0) {
				opened++;
				exercise(p, &seed);
				numballoc_close(p);
			} else {
				ck_assert_msg(rejected(r), "byte %zu: %d", off, r);
				refused++;
			}
		}
	}
	/* a valid header over a file that is too short */
	ck_assert_int_eq(pwrite(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
	sizes[0] = 0;
	sizes[1] = 1;
	sizes[2] = NB_HEADER_SIZE - 1;
	sizes[3] = NB_HEADER_SIZE;
	sizes[4] = h.total_size - 1;
	sizes[5] = h.total_size;
	for (k = 0; k < 6; k++) {
		ck_assert_int_eq(ftruncate(fd, (off_t)sizes[k]), 0);
		if (sizes[k] >= sizeof(h))
			ck_assert_int_eq(pwrite(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
		r = numballoc_open(NULL, &o, &p);
		if (k == 5) {
			ck_assert_int_eq(r, 0);
			numballoc_close(p);
		} else {
			ck_assert_int_eq(r, -NUMBALLOC_ECORRUPT);
		}
	}
	close(fd);
	/* nearly everything must be refused; what opens must behave */
	ck_assert_int_gt(refused, opened);
	fprintf(stderr, "# header mutations: %d refused, %d opened and exercised\n", refused,
		opened);
}
END_TEST

static Suite *faults_suite(void)
{
	Suite *s = suite_create("faults");
	TCase *tk = tcase_create("kill");
	TCase *th = tcase_create("hostile");

	tcase_set_timeout(tk, 120);
	tcase_add_loop_test(tk, test_kill_workers, 0, 3);
	tcase_add_loop_test(tk, test_kill_creators, 0, 3);
	suite_add_tcase(s, tk);
	tcase_add_test(th, test_hostile_names);
	tcase_add_loop_test(th, test_hostile_areas, 0, 4);
	tcase_add_test(th, test_hostile_headers);
	suite_add_tcase(s, th);
	return s;
}

int main(void)
{
	return tu_run(faults_suite());
}
