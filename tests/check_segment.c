/* SPDX-License-Identifier: MIT */
/*
 * check_segment.c - shared pools by name and by file: creation, opening,
 * mismatched parameters, names, modes, unlinking, and segments that are
 * corrupt, truncated or not ours. Never a crash, always a clear error, and
 * a failed open changes nothing.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "numballoc.h"
#include "segment.h"
#include "testutil.h"

static struct numballoc *open_ok(const char *name, const char *path, uint64_t cap, uint64_t base,
				 unsigned int policy, unsigned int flags)
{
	struct numballoc_opts o = { .capacity = cap, .base = base, .policy = policy,
				    .flags = flags, .path = path };
	struct numballoc *p = NULL;

	ck_assert_int_eq(numballoc_open(name, &o, &p), 0);
	return p;
}

static int open_err(const char *name, const char *path, uint64_t cap, uint64_t base,
		    unsigned int policy, unsigned int flags)
{
	struct numballoc_opts o = { .capacity = cap, .base = base, .policy = policy,
				    .flags = flags, .path = path };
	struct numballoc *p = NULL;
	int r = numballoc_open(name, &o, &p);

	if (r == 0)
		numballoc_close(p);
	else
		ck_assert_ptr_null(p);
	return r;
}

START_TEST(test_create_then_share)
{
	const char *name = tu_name("share");
	struct numballoc *a = open_ok(name, NULL, 1000, 5, NUMBALLOC_CYCLIC, NUMBALLOC_CREATE);
	struct numballoc *b = open_ok(name, NULL, 0, 0, 0, 0);
	struct numballoc_stat st;
	uint64_t id;

	ck_assert_int_eq(numballoc_stat(b, &st), 0);
	ck_assert_uint_eq(st.capacity, 1000);
	ck_assert_uint_eq(st.base, 5);
	ck_assert_uint_eq(st.policy, NUMBALLOC_CYCLIC);
	ck_assert_int_eq(numballoc_alloc(a, &id), 0);
	ck_assert_uint_eq(id, 5);
	ck_assert_int_eq(numballoc_test(b, 5), 1);
	/* the cyclic cursor is shared: b goes on after a */
	ck_assert_int_eq(numballoc_alloc(b, &id), 0);
	ck_assert_uint_eq(id, 6);
	ck_assert_int_eq(numballoc_free(b, 5), 0);
	ck_assert_int_eq(numballoc_test(a, 5), 0);
	/* "/name" and "name" are one pool; CREATE on an existing pool opens it */
	numballoc_close(b);
	b = open_ok(name[0] == '/' ? name + 1 : name, NULL, 1000, 5, 0, NUMBALLOC_CREATE);
	ck_assert_int_eq(numballoc_test(b, 6), 1);
	numballoc_close(b);
	numballoc_close(a);
	ck_assert_int_eq(numballoc_unlink(name), 0);
}
END_TEST

START_TEST(test_mismatch_changes_nothing)
{
	const char *name = tu_name("mismatch");
	struct numballoc *a = open_ok(name, NULL, 100, 10, NUMBALLOC_CYCLIC, NUMBALLOC_CREATE);
	struct numballoc_stat st;

	ck_assert_int_eq(numballoc_alloc_id(a, 50), 0);
	ck_assert_int_eq(open_err(name, NULL, 101, 0, 0, NUMBALLOC_CREATE), -EINVAL);
	ck_assert_int_eq(open_err(name, NULL, 0, 11, 0, 0), -EINVAL);
	ck_assert_int_eq(open_err(name, NULL, 100, 10, NUMBALLOC_SPREAD, 0), -EINVAL);
	ck_assert_int_eq(open_err(name, NULL, 100, 0, 0, NUMBALLOC_CREATE | NUMBALLOC_EXCL), -EEXIST);
	ck_assert_int_eq(numballoc_stat(a, &st), 0);
	ck_assert_uint_eq(st.capacity, 100);
	ck_assert_uint_eq(st.used, 1);
	ck_assert_int_eq(numballoc_test(a, 50), 1);
	ck_assert_int_eq(open_err(name, NULL, 100, 10, NUMBALLOC_CYCLIC, 0), 0);
	numballoc_close(a);
	numballoc_unlink(name);
}
END_TEST

START_TEST(test_missing_and_excl)
{
	const char *name = tu_name("missing");
	struct numballoc *a;

	ck_assert_int_eq(open_err(name, NULL, 10, 0, 0, 0), -ENOENT);
	ck_assert_int_eq(open_err(name, NULL, 0, 0, 0, NUMBALLOC_CREATE), -EINVAL);
	ck_assert_int_eq(open_err(name, NULL, 10, 0, 0, 0), -ENOENT);	/* nothing left behind */
	a = open_ok(name, NULL, 10, 0, 0, NUMBALLOC_CREATE | NUMBALLOC_EXCL);
	numballoc_close(a);
	ck_assert_int_eq(numballoc_unlink(name), 0);
	ck_assert_int_eq(numballoc_unlink(name), -ENOENT);
	ck_assert_int_eq(open_err(name, NULL, 10, 0, 0, 0), -ENOENT);
}
END_TEST

START_TEST(test_modes)
{
	const char *name = tu_name("mode");
	struct numballoc_opts o = { .capacity = 10, .flags = NUMBALLOC_CREATE };
	char path[300];
	struct stat st;
	struct numballoc *p;

	umask(022);
	p = open_ok(name, NULL, 10, 0, 0, NUMBALLOC_CREATE);
	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	numballoc_close(p);
	numballoc_unlink(name);
	o.mode = 0640;
	ck_assert_int_eq(numballoc_open(name, &o, &p), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0640);
	numballoc_close(p);
	numballoc_unlink(name);
	o.mode = 010000;
	ck_assert_int_eq(numballoc_open(name, &o, &p), -EINVAL);
	ck_assert_int_eq(stat(path, &st), -1);
}
END_TEST

START_TEST(test_names)
{
	char longname[NUMBALLOC_NAME_MAX + 3];
	static const char *bad[] = { "", "/", "a/b", "/a/b", ".", "..", "/..", "//x" };
	struct numballoc *p;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(open_err(bad[i], NULL, 10, 0, 0, NUMBALLOC_CREATE), -EINVAL);
		ck_assert_int_eq(numballoc_unlink(bad[i]), -EINVAL);
	}
	ck_assert_int_eq(numballoc_unlink(NULL), -EINVAL);
	/* NUMBALLOC_NAME_MAX characters work, one more does not */
	snprintf(longname, sizeof(longname), "%s", tu_name("long"));
	memset(longname + strlen(longname), 'x', NUMBALLOC_NAME_MAX - strlen(longname));
	longname[NUMBALLOC_NAME_MAX] = '\0';
	p = open_ok(longname, NULL, 10, 0, 0, NUMBALLOC_CREATE);
	numballoc_close(p);
	ck_assert_int_eq(numballoc_unlink(longname), 0);
	longname[NUMBALLOC_NAME_MAX] = 'x';
	longname[NUMBALLOC_NAME_MAX + 1] = '\0';
	ck_assert_int_eq(open_err(longname, NULL, 10, 0, 0, NUMBALLOC_CREATE), -EINVAL);
}
END_TEST

START_TEST(test_unlink_keeps_handles)
{
	const char *name = tu_name("unlink");
	struct numballoc *a = open_ok(name, NULL, 64, 0, 0, NUMBALLOC_CREATE);
	uint64_t id;

	ck_assert_int_eq(numballoc_unlink(name), 0);
	ck_assert_int_eq(numballoc_alloc(a, &id), 0);
	ck_assert_int_eq(numballoc_test(a, id), 1);
	ck_assert_int_eq(open_err(name, NULL, 0, 0, 0, 0), -ENOENT);
	numballoc_close(a);
}
END_TEST

START_TEST(test_file_persists)
{
	const char *path = tu_path("persist");
	struct numballoc *a = open_ok(NULL, path, 300, 1, 0, NUMBALLOC_CREATE);
	uint64_t id;

	ck_assert_int_eq(numballoc_alloc_block(a, 10, 8, &id), 0);
	ck_assert_uint_eq(id, 1);
	numballoc_close(a);
	a = open_ok(NULL, path, 0, 0, 0, 0);
	ck_assert_int_eq(numballoc_test(a, 10), 1);
	ck_assert_int_eq(numballoc_test(a, 11), 0);
	numballoc_close(a);
	unlink(path);
}
END_TEST

static void copy_file(const char *from, const char *to)
{
	char buf[65536];
	ssize_t n;
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert(in >= 0 && out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		ck_assert_int_eq(write(out, buf, (size_t)n), n);
	close(in);
	close(out);
}

static void poke(const char *path, off_t off, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY);

	ck_assert(fd >= 0);
	ck_assert_int_eq(pwrite(fd, data, len, off), (ssize_t)len);
	close(fd);
}

static void read_header(const char *path, struct nb_header *h)
{
	int fd = open(path, O_RDONLY);

	ck_assert(fd >= 0);
	ck_assert_int_eq(pread(fd, h, sizeof(*h), 0), (ssize_t)sizeof(*h));
	close(fd);
}

/* Every header field, one at a time: a changed byte is always caught. */
START_TEST(test_corrupt_each_field)
{
	const char *good = tu_path("good"), *bad = tu_path("bad");
	struct numballoc *p = open_ok(NULL, good, 1000, 3, NUMBALLOC_SPREAD, NUMBALLOC_CREATE);
	size_t off;

	numballoc_close(p);
	for (off = 0; off < offsetof(struct nb_header, checksum) + sizeof(uint64_t); off++) {
		unsigned char b;
		int want = -NUMBALLOC_ECORRUPT, r;

		copy_file(good, bad);
		{
			int fd = open(bad, O_RDONLY);

			ck_assert_int_eq(pread(fd, &b, 1, (off_t)off), 1);
			close(fd);
		}
		b ^= 0x10;
		poke(bad, (off_t)off, &b, 1);
		if (off >= offsetof(struct nb_header, version) &&
		    off < offsetof(struct nb_header, version) + 4)
			want = -NUMBALLOC_EVERSION;
		r = open_err(NULL, bad, 0, 0, 0, 0);
		ck_assert_msg(r == want, "byte %zu: got %d want %d", off, r, want);
	}
	unlink(bad);
	unlink(good);
}
END_TEST

/* A forger who fixes the checksum still cannot describe an impossible layout. */
START_TEST(test_forged_layout)
{
	const char *good = tu_path("good"), *bad = tu_path("bad");
	struct numballoc *p = open_ok(NULL, good, 5000, 0, 0, NUMBALLOC_CREATE);
	struct nb_header h0, h;
	int i;

	numballoc_close(p);
	read_header(good, &h0);
	for (i = 0; i < 9; i++) {
		int want = -NUMBALLOC_ECORRUPT;

		h = h0;
		switch (i) {
		case 0: h.area_off[0] += 64; break;
		case 1: h.area_size[0] -= 64; break;
		case 2: h.area_off[1] = 8192; h.area_size[1] = 64; break;
		case 3: h.total_size += 4096; break;
		case 4: h.header_size = 8192; break;
		case 5: h.capacity = 1u << 20; break;
		case 6: h.kind = NB_KIND_BUFFER; want = -NUMBALLOC_EKIND; break;
		case 7: h.kind = 77; break;
		case 8: h.capacity = 0; break;
		}
		h.checksum = nb_header_checksum(&h);
		copy_file(good, bad);
		poke(bad, 0, &h, sizeof(h));
		ck_assert_int_eq(open_err(NULL, bad, 0, 0, 0, 0), want);
	}
	unlink(bad);
	unlink(good);
}
END_TEST

START_TEST(test_truncated)
{
	const char *good = tu_path("good"), *bad = tu_path("bad");
	struct numballoc *p = open_ok(NULL, good, 100000, 0, 0, NUMBALLOC_CREATE);
	struct nb_header h;
	const off_t sizes[] = { 0, 1, 100, 4095, 4096, 4097 };
	size_t i;

	numballoc_close(p);
	read_header(good, &h);
	for (i = 0; i <= sizeof(sizes) / sizeof(sizes[0]); i++) {
		off_t len = i < sizeof(sizes) / sizeof(sizes[0]) ? sizes[i] : (off_t)h.total_size - 1;

		copy_file(good, bad);
		ck_assert_int_eq(truncate(bad, len), 0);
		ck_assert_int_eq(open_err(NULL, bad, 0, 0, 0, 0), -NUMBALLOC_ECORRUPT);
	}
	/* longer than needed is fine */
	copy_file(good, bad);
	ck_assert_int_eq(truncate(bad, (off_t)h.total_size + 10000), 0);
	ck_assert_int_eq(open_err(NULL, bad, 0, 0, 0, 0), 0);
	unlink(bad);
	unlink(good);
}
END_TEST

/* Objects that are not numballoc segments: rejected, and left as they were. */
START_TEST(test_not_ours)
{
	const char *path = tu_path("text"), *link = tu_path("link"), *dir = tu_path("dir");
	const char *name = tu_name("foreign");
	char shm[300], buf[64];
	struct stat st;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_eq(write(fd, "hello\n", 6), 6);
	close(fd);
	ck_assert_int_eq(open_err(NULL, path, 10, 0, 0, NUMBALLOC_CREATE), -NUMBALLOC_ECORRUPT);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, 6);
	ck_assert_int_eq(symlink(path, link), 0);
	ck_assert_int_eq(open_err(NULL, link, 10, 0, 0, 0), -ELOOP);
	ck_assert_int_eq(open_err(NULL, link, 10, 0, 0, NUMBALLOC_CREATE), -ELOOP);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_int_eq(open_err(NULL, dir, 10, 0, 0, 0), -EISDIR);
	rmdir(dir);
	/* a foreign shared-memory object of the same name */
	snprintf(shm, sizeof(shm), "/dev/shm/%s", name);
	fd = open(shm, O_WRONLY | O_CREAT, 0600);
	memset(buf, 'z', sizeof(buf));
	ck_assert_int_eq(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	close(fd);
	ck_assert_int_eq(open_err(name, NULL, 10, 0, 0, NUMBALLOC_CREATE), -NUMBALLOC_ECORRUPT);
	ck_assert_int_eq(stat(shm, &st), 0);
	ck_assert_int_eq(st.st_size, sizeof(buf));
	unlink(shm);
	unlink(link);
	unlink(path);
	ck_assert_int_eq(open_err(NULL, "", 10, 0, 0, NUMBALLOC_CREATE), -EINVAL);
}
END_TEST

START_TEST(test_private_pools_are_separate)
{
	struct numballoc *a = open_ok(NULL, NULL, 10, 0, 0, NUMBALLOC_CREATE);
	struct numballoc *b = open_ok(NULL, NULL, 10, 0, 0, 0);
	uint64_t id;

	ck_assert_int_eq(numballoc_alloc(a, &id), 0);
	ck_assert_int_eq(numballoc_test(b, id), 0);
	ck_assert_int_eq(open_err(NULL, NULL, 0, 0, 0, 0), -EINVAL);
	numballoc_close(a);
	numballoc_close(b);
}
END_TEST

static Suite *segment_suite(void)
{
	Suite *s = suite_create("segment");
	TCase *tc = tcase_create("segment");

	tcase_add_test(tc, test_create_then_share);
	tcase_add_test(tc, test_mismatch_changes_nothing);
	tcase_add_test(tc, test_missing_and_excl);
	tcase_add_test(tc, test_modes);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_unlink_keeps_handles);
	tcase_add_test(tc, test_file_persists);
	tcase_add_test(tc, test_corrupt_each_field);
	tcase_add_test(tc, test_forged_layout);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_not_ours);
	tcase_add_test(tc, test_private_pools_are_separate);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(segment_suite());
}
