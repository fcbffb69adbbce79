/* SPDX-License-Identifier: MIT */
/*
 * numballoc-cli.c - IDs for shell scripts: the command-line face of an ID
 * pool. Uses only the public header.
 *
 * Shape of a run:
 *	1. global options (before the command), then the command's options
 *	   and arguments, parsed by getopt_long into struct ctx: syntax only;
 *	2. the pool is opened (never created yet);
 *	3. every number is checked against the pool's range (or, for an
 *	   allocate on a missing pool, against the range it will be created
 *	   with): a bad argument changes nothing, not even by creating a pool;
 *	4. the command runs.
 *
 * Adding a command: an entry in cmds[] (name, options, check, run, usage).
 * Adding an option: an OPT_ value, an entry in the command's struct option
 * array and a case in cmd_option().
 *
 * Commands that only look (stat, list, map, test, export) open the pool
 * with NUMBALLOC_RDONLY: they work for a user who may read the object but
 * not write it, and they cannot change it. Single IDs are checked against
 * numballoc_range(), which reads the header only: no command that names
 * one ID reads more than a few words of the pool.
 *
 * Exit statuses: EXIT_OK 0, EXIT_RUNTIME 1, EXIT_USAGE 2, EXIT_EXHAUSTED 3,
 * EXIT_CONFLICT 4, EXIT_MISMATCH 5 (create: the pool exists with other
 * parameters); "test" exits 0 allocated, 1 free, 2 on any error.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <numballoc.h>

#define PROG "numballoc-cli"
#define DEFAULT_POOL "numballoc"
#define DEFAULT_CAPACITY UINT64_C(65536)
#define DEFAULT_BASE UINT64_C(0)

enum {
	EXIT_OK = 0,
	EXIT_RUNTIME = 1,
	EXIT_USAGE = 2,
	EXIT_EXHAUSTED = 3,
	EXIT_CONFLICT = 4,
	EXIT_MISMATCH = 5,
};

/* Long-only options get codes above any character. */
enum {
	OPT_FILE = 256,
	OPT_JSON,
	OPT_POLICY,
	OPT_MODE,
	OPT_IN,
	OPT_ID,
	OPT_BLOCK,
	OPT_ALIGN,
	OPT_OWNERS,
	OPT_OWNER,
	OPT_NO_OWNERS,
	OPT_HOLDER,	/* Redis leases (issue 17) */
	OPT_TTL,
};

/* The range of IDs of a pool: [base, base + capacity - 1]. */
struct geometry {
	uint64_t capacity;	/* >= 1 */
	uint64_t base;		/* base + capacity - 1 <= UINT64_MAX */
	uint64_t free;		/* free IDs when counted: advice, others may change it */
};

struct ctx {
	/* global options */
	const char *name;	/* pool name, or NULL with path */
	const char *path;	/* --file PATH, or NULL */
	int json;		/* --json, before or after the command */
	const struct cmd *cmd;	/* the command being run */
	char **args;		/* positional arguments after the command's options */
	int nargs;		/* number of them */
	/* command options; have_* say which were given */
	uint64_t capacity, base, count, in_min, in_max, id, block, align;
	unsigned int policy, mode;
	int have_capacity, have_base, have_count, have_in, have_id, have_block, have_align;
	int have_policy, have_mode, force;
	int owners;		/* create: record owners (the default; --no-owners clears it) */
	int have_owners;	/* --owners or --no-owners was given */
	pid_t owner;		/* --owner PID (allocate, list), when have_owner */
	int have_owner;
	const char *holder;	/* --holder NAME with --ttl MS: a lease (a pool in Redis) */
	uint64_t ttl;
	int have_ttl;
	/* free: the IDs, or FIRST and COUNT with --block */
	uint64_t *ids;		/* nids parsed IDs, owned */
	size_t nids;
	/* the pool, once opened */
	struct numballoc *pool;	/* NULL until open_pool() */
	struct geometry geo;	/* of the pool, or of the one allocate will create */
	int have_geo;		/* geo is filled (by geometry(), or for a missing pool) */
	int missing;		/* the pool does not exist (allocate creates it) */
};

struct cmd {
	const char *name;
	const char *shortopts;
	const struct option *longopts;
	int (*check)(struct ctx *c);	/* arguments that need no pool; an exit status */
	int (*validate)(struct ctx *c);	/* arguments against geometry(); an exit status */
	int (*run)(struct ctx *c);	/* the command; an exit status */
	unsigned int flags;		/* CMD_* */
	const char *usage;		/* one synopsis line after the command's name */
};

#define CMD_POOL 0x1u		/* opens the pool before validate() and run() */
#define CMD_AUTOCREATE 0x2u	/* a missing pool is created with the defaults */
#define CMD_JSON 0x4u		/* honours --json */
#define CMD_TEST_STATUS 0x8u	/* errors exit 2 (1 means "free") */
#define CMD_RDONLY 0x10u	/* only looks: opens the pool with NUMBALLOC_RDONLY */

/* The command being run, for fail(): "test" keeps exit status 1 for "free". */
static const struct cmd *current;

/* Print "numballoc-cli: WHAT: WHY" and return STATUS. */
static int __attribute__((format(printf, 3, 4)))
fail(int status, const char *what, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: %s: ", PROG, what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (current && (current->flags & CMD_TEST_STATUS) && status == EXIT_RUNTIME)
		return EXIT_USAGE;
	return status;
}

/* A library error ERR about WHAT: exit status 3 for -ENOSPC, else 1. */
static int lib_fail(int err, const char *what)
{
	int status = EXIT_RUNTIME;

	if (err == -ENOSPC)
		status = EXIT_EXHAUSTED;
	return fail(status, what, "%s", numballoc_strerror(err));
}

static int usage_fail(const char *what, const char *why)
{
	return fail(EXIT_USAGE, what, "%s", why);
}

/*
 * Parse S as a number: decimal digits, or 0x/0X and hex digits, nothing
 * else (no sign, no space, no suffix). 0 or -EINVAL (empty, junk) or
 * -ERANGE (beyond 2^64-1).
 */
static int parse_u64(const char *s, uint64_t *v)
{
	unsigned int radix = 10, d;
	uint64_t x = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		radix = 16;
		s += 2;
	}
	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s >= '0' && *s <= '9')
			d = (unsigned int)(*s - '0');
		else if (radix == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned int)(*s - 'a' + 10);
		else if (radix == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned int)(*s - 'A' + 10);
		else
			return -EINVAL;
		if (x > (UINT64_MAX - d) / radix)
			return -ERANGE;
		x = x * radix + d;
	}
	*v = x;
	return 0;
}

/* parse_u64 with the usage error printed: EXIT_OK or EXIT_USAGE. */
static int number(const char *what, const char *s, uint64_t *v)
{
	char buf[64];
	int r = parse_u64(s, v);

	if (r == 0)
		return EXIT_OK;
	snprintf(buf, sizeof(buf), "%s '%.40s'", what, s);
	if (s[0] == '-' && s[1] >= '0' && s[1] <= '9')
		return usage_fail(buf, "IDs and counts are not negative");
	return usage_fail(buf, r == -ERANGE ? "number too large (more than 2^64-1)" :
			  "not a number (decimal, or hexadecimal with 0x)");
}

/* MIN-MAX, each a number. */
static int parse_range(const char *s, uint64_t *min, uint64_t *max)
{
	char buf[128], *dash;
	size_t n = strlen(s);

	if (n >= sizeof(buf))
		return usage_fail("--in", "range too long");
	memcpy(buf, s, n + 1);
	dash = strchr(buf, '-');
	if (!dash)
		return usage_fail("--in", "expected an inclusive range MIN-MAX");
	*dash = '\0';
	if (number("--in", buf, min) || number("--in", dash + 1, max))
		return EXIT_USAGE;
	if (*min > *max)
		return usage_fail("--in", "MIN is greater than MAX");
	return EXIT_OK;
}

static int parse_policy(const char *s, unsigned int *policy)
{
	static const char *const names[] = { "lowest", "cyclic", "spread" };
	unsigned int i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(s, names[i])) {
			*policy = i;
			return EXIT_OK;
		}
	}
	return usage_fail("--policy", "expected lowest, cyclic or spread");
}

static const char *policy_name(unsigned int policy)
{
	switch (policy) {
	case NUMBALLOC_LOWEST:
		return "lowest";
	case NUMBALLOC_CYCLIC:
		return "cyclic";
	case NUMBALLOC_SPREAD:
		return "spread";
	default:
		return "unknown";
	}
}

static int parse_mode(const char *s, unsigned int *mode)
{
	unsigned long m = 0;
	const char *p;

	if (!*s || strlen(s) > 5)
		return usage_fail("--mode", "expected octal permission bits such as 0660");
	for (p = s; *p; p++) {
		if (*p < '0' || *p > '7')
			return usage_fail("--mode", "expected octal permission bits such as 0660");
		m = m * 8 + (unsigned long)(*p - '0');
	}
	if (m == 0 || m > 07777)
		return usage_fail("--mode", "expected octal permission bits between 1 and 07777");
	*mode = (unsigned int)m;
	return EXIT_OK;
}

/* The pool name rule of the library, checked here so a bad name is a usage error. */
static int check_name(const char *name)
{
	const char *n = name[0] == '/' ? name + 1 : name;
	size_t len = strlen(n);

	if (strstr(name, "://"))	/* a URL (redis://...): the library checks it */
		return EXIT_OK;
	if (len == 0)
		return usage_fail("--pool", "empty pool name");
	if (!strcmp(n, ".") || !strcmp(n, ".."))
		return fail(EXIT_USAGE, "--pool", "'%s' is not a pool name: it names a directory"
			    " (/dev/shm or its parent), not an object in it", n);
	if (strchr(n, '/'))
		return fail(EXIT_USAGE, "--pool", "'%.40s': a pool name has no '/' but a"
			    " leading one (pools live directly in /dev/shm; --file PATH for a file)",
			    name);
	if (len > NUMBALLOC_NAME_MAX)
		return usage_fail("--pool", "a pool name is at most 200 characters");
	return EXIT_OK;
}

/* ------------------------------------------------------------ options */

/* --owner PID (or chown's PID, named WHAT): a positive process ID. */
static int parse_pid_as(const char *what, const char *s, pid_t *pid)
{
	uint64_t v;

	if (s[0] == '-' && s[1] >= '0' && s[1] <= '9')
		return usage_fail(what, "process IDs are not negative");
	if (parse_u64(s, &v) || v == 0 || v > 0x7fffffff)
		return usage_fail(what, "expected a process ID (a positive number)");
	*pid = (pid_t)v;
	return EXIT_OK;
}

static int parse_pid(const char *s, pid_t *pid)
{
	return parse_pid_as("--owner", s, pid);
}

/* One option of the current command into C: an exit status. */
static int cmd_option(struct ctx *c, int opt, const char *arg)
{
	switch (opt) {
	case 'c':
		c->have_capacity = 1;
		return number("--capacity", arg, &c->capacity);
	case 'b':
		c->have_base = 1;
		return number("--base", arg, &c->base);
	case 'n':
		c->have_count = 1;
		return number("--count", arg, &c->count);
	case OPT_POLICY:
		c->have_policy = 1;
		return parse_policy(arg, &c->policy);
	case OPT_MODE:
		c->have_mode = 1;
		return parse_mode(arg, &c->mode);
	case OPT_IN:
		c->have_in = 1;
		return parse_range(arg, &c->in_min, &c->in_max);
	case OPT_ID:
		c->have_id = 1;
		return number("--id", arg, &c->id);
	case OPT_BLOCK:
		c->have_block = 1;
		/* free --block takes FIRST COUNT as arguments: no value here. */
		return arg ? number("--block", arg, &c->block) : EXIT_OK;
	case OPT_ALIGN:
		c->have_align = 1;
		return number("--align", arg, &c->align);
	case OPT_JSON:
		c->json = 1;
		return EXIT_OK;
	case OPT_OWNERS:
		c->owners = 1;
		c->have_owners = 1;
		return EXIT_OK;
	case OPT_NO_OWNERS:
		c->owners = 0;
		c->have_owners = 1;
		return EXIT_OK;
	case OPT_OWNER:
		c->have_owner = 1;
		return parse_pid(arg, &c->owner);
	case 'f':
		c->force = 1;
		return EXIT_OK;
	case OPT_HOLDER:
		c->holder = arg;
		return EXIT_OK;
	case OPT_TTL:
		c->have_ttl = 1;
		return number("--ttl", arg, &c->ttl);
	default:
		return EXIT_USAGE;	/* getopt_long has said why */
	}
}

static const struct option create_opts[] = {
	{ "capacity", required_argument, NULL, 'c' },
	{ "base", required_argument, NULL, 'b' },
	{ "policy", required_argument, NULL, OPT_POLICY },
	{ "mode", required_argument, NULL, OPT_MODE },
	{ "owners", no_argument, NULL, OPT_OWNERS },
	{ "no-owners", no_argument, NULL, OPT_NO_OWNERS },
	{ "json", no_argument, NULL, OPT_JSON },
	{ NULL, 0, NULL, 0 },
};

static const struct option allocate_opts[] = {
	{ "count", required_argument, NULL, 'n' },
	{ "in", required_argument, NULL, OPT_IN },
	{ "id", required_argument, NULL, OPT_ID },
	{ "block", required_argument, NULL, OPT_BLOCK },
	{ "align", required_argument, NULL, OPT_ALIGN },
	{ "owner", required_argument, NULL, OPT_OWNER },
	{ "no-owners", no_argument, NULL, OPT_NO_OWNERS },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "holder", required_argument, NULL, OPT_HOLDER },
	{ "ttl", required_argument, NULL, OPT_TTL },
	{ NULL, 0, NULL, 0 },
};

static const struct option renew_opts[] = {
	{ "holder", required_argument, NULL, OPT_HOLDER },
	{ "ttl", required_argument, NULL, OPT_TTL },
	{ "json", no_argument, NULL, OPT_JSON },
	{ NULL, 0, NULL, 0 },
};

static const struct option free_opts[] = {
	{ "block", no_argument, NULL, OPT_BLOCK },
	{ "owner", required_argument, NULL, OPT_OWNER },
	{ "json", no_argument, NULL, OPT_JSON },
	{ NULL, 0, NULL, 0 },
};

static const struct option import_opts[] = {
	{ "force", no_argument, NULL, 'f' },
	{ "owner", required_argument, NULL, OPT_OWNER },
	{ "mode", required_argument, NULL, OPT_MODE },
	{ "json", no_argument, NULL, OPT_JSON },
	{ NULL, 0, NULL, 0 },
};

static const struct option json_opts[] = {
	{ "json", no_argument, NULL, OPT_JSON },
	{ NULL, 0, NULL, 0 },
};

static const struct option list_opts[] = {
	{ "json", no_argument, NULL, OPT_JSON },
	{ "owner", required_argument, NULL, OPT_OWNER },
	{ NULL, 0, NULL, 0 },
};

static const struct option destroy_opts[] = {
	{ "force", no_argument, NULL, 'f' },
	{ "json", no_argument, NULL, OPT_JSON },
	{ NULL, 0, NULL, 0 },
};

/* ------------------------------------------------------------ the pool */

/* The pool is named by a URL (redis://...): its holders are leases, not owners. */
static int is_url(const struct ctx *c)
{
	return !c->path && c->name && strstr(c->name, "://");
}

/* The pool's name as printed: a password in a URL (scheme://user:password@host/...) is not. */
static const char *shown_name(const char *name, char *buf, size_t len)
{
	const char *auth = strstr(name, "://") ? strstr(name, "://") + 3 : NULL;
	size_t n = auth ? strcspn(auth, "/") : 0;
	const char *at = auth ? memchr(auth, '@', n) : NULL;
	const char *pw = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;

	if (!pw)
		return name;
	snprintf(buf, len, "%.*s:***%s", (int)(pw - name), name, at);
	return buf;
}

static const char *pool_what(const struct ctx *c, char *buf, size_t len)
{
	char shown[PATH_MAX];

	if (c->path)
		snprintf(buf, len, "file %s", c->path);
	else
		snprintf(buf, len, "pool %s", shown_name(c->name, shown, sizeof(shown)));
	return buf;
}

/*
 * Why the pool could not be opened or used, in words that do not share
 * text with "not allocated" (an ID) or "exists with other parameters"
 * (create).
 */
static const char *pool_why(int err)
{
	switch (-err) {
	case ENOENT:
		return "no such pool (numballoc-cli create makes one; allocate makes it on first use)";
	case EACCES:
	case EPERM:
		return "permission denied (writing needs write access to the object;"
		       " stat, list, map, test and export need only read access)";
	case NUMBALLOC_EKIND:
		return "the object holds another kind of numballoc pool (pages or buffer)";
	case NUMBALLOC_ECORRUPT:
		return "not a numballoc pool (no valid numballoc header)";
	case EROFS:
		return "the pool is open read-only";
	default:
		return numballoc_strerror(err);
	}
}

static int pool_fail(const struct ctx *c, int err)
{
	char what[4200];

	return fail(EXIT_RUNTIME, pool_what(c, what, sizeof(what)), "%s", pool_why(err));
}

static int open_with(struct ctx *c, const struct numballoc_opts *o)
{
	return numballoc_open(c->path ? NULL : c->name, o, &c->pool);
}

/*
 * Fill c->geo's range from the open pool, once: numballoc_range() reads
 * the header, never the words, so checking one ID costs the same on any
 * pool. c->geo.free is counted only by count_free(), when asked.
 */
static int geometry(struct ctx *c)
{
	int r;

	if (c->have_geo)
		return EXIT_OK;
	r = numballoc_range(c->pool, &c->geo.base, &c->geo.capacity);
	if (r < 0)
		return pool_fail(c, r);
	c->geo.free = c->geo.capacity;	/* not counted */
	c->have_geo = 1;
	return EXIT_OK;
}

/* Count the free IDs into c->geo.free (a whole-pool pass: only for allocate -n K > 1). */
static int count_free(struct ctx *c)
{
	struct numballoc_stat st;
	int r = numballoc_stat(c->pool, &st);

	if (r < 0)
		return pool_fail(c, r);
	c->geo.free = st.free;
	return EXIT_OK;
}

/*
 * Open the existing pool, never creating it. For an allocate on a missing
 * pool, c->missing is set and c->geo is the range it will be created with.
 */
static int open_pool(struct ctx *c)
{
	struct numballoc_opts o;
	int r;

	memset(&o, 0, sizeof(o));
	o.path = c->path;
	if (c->cmd->flags & CMD_RDONLY)
		o.flags = NUMBALLOC_RDONLY;
	r = open_with(c, &o);
	if (r == -ENOENT && (c->cmd->flags & CMD_AUTOCREATE)) {
		c->missing = 1;
		c->geo.capacity = DEFAULT_CAPACITY;
		c->geo.base = DEFAULT_BASE;
		c->geo.free = DEFAULT_CAPACITY;
		c->have_geo = 1;
		return EXIT_OK;
	}
	if (r < 0)
		return pool_fail(c, r);
	return EXIT_OK;
}

/*
 * Create the missing pool with the defaults, or open the one a concurrent
 * caller made first. Creation in the library is atomic, so all agree on
 * one pool. That pool may have another range than the defaults (its
 * creator chose): the arguments are checked again against it.
 */
static int create_missing(struct ctx *c)
{
	struct numballoc_opts o;
	int r;

	memset(&o, 0, sizeof(o));
	o.path = c->path;
	o.capacity = c->geo.capacity;
	o.base = c->geo.base;
	o.policy = c->policy;
	o.mode = c->mode;
	/* pools the tool makes record owners, unless --no-owners (in Redis: leases) */
	o.flags = NUMBALLOC_CREATE |
		  ((c->have_owners && !c->owners) || is_url(c) ? 0 : NUMBALLOC_OWNERS);
	r = open_with(c, &o);
	if (r == -EINVAL) {
		/* Someone created it first with another capacity. */
		memset(&o, 0, sizeof(o));
		o.path = c->path;
		r = open_with(c, &o);
	}
	if (r < 0)
		return pool_fail(c, r);
	c->missing = 0;
	c->have_geo = 0;
	r = geometry(c);
	return r ? r : c->cmd->validate(c);
}

/* ID inside the pool's range, or a usage error naming WHAT. */
static int check_id(const struct ctx *c, const char *what, uint64_t id)
{
	char buf[96];

	if (id >= c->geo.base && id - c->geo.base < c->geo.capacity)
		return EXIT_OK;
	snprintf(buf, sizeof(buf), "%s %" PRIu64, what, id);
	return fail(EXIT_USAGE, buf, "outside the pool (IDs %" PRIu64 " to %" PRIu64 ")",
		    c->geo.base, c->geo.base + (c->geo.capacity - 1));
}

static int no_args(struct ctx *c)
{
	if (c->nargs)
		return fail(EXIT_USAGE, c->args[0], "unexpected argument");
	return EXIT_OK;
}

static int validate_none(struct ctx *c)
{
	return EXIT_OK;
}

/* No arguments to check, but run() walks the pool's range. */
static int validate_geometry(struct ctx *c)
{
	return geometry(c);
}

/* ------------------------------------------------------------ create */

static void json_string(const char *s);

/* "pool": NAME, "file": PATH (one of them null), for the JSON of every command. */
static void json_pool(const struct ctx *c)
{
	char shown[PATH_MAX];

	printf("\"pool\": ");
	if (c->path)
		printf("null");
	else
		json_string(shown_name(c->name, shown, sizeof(shown)));
	printf(", \"file\": ");
	if (c->path)
		json_string(c->path);
	else
		printf("null");
}

static int create_check(struct ctx *c)
{
	if (!c->have_capacity)
		c->capacity = DEFAULT_CAPACITY;
	if (!c->have_base)
		c->base = DEFAULT_BASE;
	if (c->capacity == 0 || c->capacity > NUMBALLOC_CAPACITY_MAX)
		return usage_fail("--capacity", "must be between 1 and 2^40");
	if (c->base > UINT64_MAX - (c->capacity - 1))
		return usage_fail("--base", "the last ID would be beyond 2^64-1");
	if (!c->have_owners)
		c->owners = !is_url(c);	/* recovery by default; in Redis, leases */
	return no_args(c);
}

/* The permission bits of the pool's object in *MODE: 0, or -errno. */
static int object_mode(const struct ctx *c, unsigned int *mode)
{
	char path[NUMBALLOC_NAME_MAX + 16];
	struct stat st;

	if (!c->path)
		snprintf(path, sizeof(path), "/dev/shm/%s", c->name[0] == '/' ? c->name + 1 : c->name);
	if (stat(c->path ? c->path : path, &st) < 0)
		return -errno;
	*mode = st.st_mode & 07777;
	return 0;
}

/*
 * The pool exists: compare it with what was asked. EXIT_OK when every
 * parameter is the same ("exists" on standard error), EXIT_MISMATCH and
 * each difference named when not.
 */
static int create_compare(struct ctx *c)
{
	struct numballoc_stat st;
	char what[4200], diff[512];
	unsigned int mode = 0;
	size_t n = 0;
	int r;

	r = numballoc_stat(c->pool, &st);
	if (r < 0)
		return pool_fail(c, r);
	diff[0] = '\0';
#define DIFF(...) (n += (size_t)snprintf(diff + n, n < sizeof(diff) ? sizeof(diff) - n : 0, \
					 __VA_ARGS__))
	if (st.capacity != c->capacity)
		DIFF("%scapacity %" PRIu64 " (asked: %" PRIu64 ")", n ? ", " : "", st.capacity,
		     c->capacity);
	if (st.base != c->base)
		DIFF("%sbase %" PRIu64 " (asked: %" PRIu64 ")", n ? ", " : "", st.base, c->base);
	if (st.policy != c->policy)
		DIFF("%spolicy %s (asked: %s)", n ? ", " : "", policy_name(st.policy),
		     policy_name(c->policy));
	if (!!(st.flags & NUMBALLOC_OWNERS) != c->owners)
		DIFF("%s%s (asked: %s)", n ? ", " : "",
		     st.flags & NUMBALLOC_OWNERS ? "owners" : "no owners",
		     c->owners ? "owners" : "--no-owners");
	if (c->have_mode && object_mode(c, &mode) == 0 && mode != c->mode)
		DIFF("%smode %04o (asked: %04o)", n ? ", " : "", mode, c->mode);
#undef DIFF
	pool_what(c, what, sizeof(what));
	if (n)
		return fail(EXIT_MISMATCH, what, "exists with other parameters: %s", diff);
	fprintf(stderr, "%s: %s: exists (same parameters), nothing to do\n", PROG, what);
	return EXIT_OK;
}

static int create_run(struct ctx *c)
{
	struct numballoc_opts o;
	int r, tries, created = 0;

	for (tries = 0; tries < 10; tries++) {
		memset(&o, 0, sizeof(o));
		o.path = c->path;
		o.capacity = c->capacity;
		o.base = c->base;
		o.policy = c->policy;
		o.mode = c->mode;
		o.flags = NUMBALLOC_CREATE | NUMBALLOC_EXCL | (c->owners ? NUMBALLOC_OWNERS : 0);
		r = open_with(c, &o);
		if (r == 0) {
			created = 1;
			break;
		}
		if (r != -EEXIST)
			return pool_fail(c, r);
		/* It exists: look at it (read-only is enough to compare). */
		memset(&o, 0, sizeof(o));
		o.path = c->path;
		o.flags = NUMBALLOC_RDONLY;
		r = open_with(c, &o);
		if (r == -ENOENT)
			continue;	/* destroyed meanwhile: create again */
		if (r == -NUMBALLOC_EKIND) {
			char what[4200];

			return fail(EXIT_MISMATCH, pool_what(c, what, sizeof(what)),
				    "exists with other parameters: %s", pool_why(r));
		}
		if (r < 0)
			return pool_fail(c, r);
		r = create_compare(c);
		if (r)
			return r;
		break;
	}
	if (tries == 10)
		return pool_fail(c, -EAGAIN);
	if (c->json) {
		printf("{");
		json_pool(c);
		printf(", \"created\": %s, \"capacity\": %" PRIu64 ", \"base\": %" PRIu64
		       ", \"policy\": \"%s\", \"owners\": %s}\n", created ? "true" : "false",
		       c->capacity, c->base, policy_name(c->policy), c->owners ? "true" : "false");
	}
	return EXIT_OK;
}

/* ------------------------------------------------------------ allocate */

static int allocate_check(struct ctx *c)
{
	if (c->have_id + c->have_block + (c->have_count || c->have_in) > 1)
		return usage_fail("allocate",
				  "--id, --block and --count/--in cannot be combined");
	if (c->have_align && !c->have_block)
		return usage_fail("--align", "only with --block");
	if (c->have_count && c->count == 0)
		return usage_fail("--count", "must be at least 1");
	if (!c->have_count)
		c->count = 1;
	if (c->have_block && c->block == 0)
		return usage_fail("--block", "must be at least 1");
	if (c->have_align && (c->align & (c->align - 1)))
		return usage_fail("--align", "must be a power of two");
	if (c->have_owner && c->have_owners && !c->owners)
		return usage_fail("--owner", "cannot be combined with --no-owners");
	if (!!c->holder != c->have_ttl)
		return usage_fail(c->holder ? "--holder" : "--ttl",
				  "--holder NAME and --ttl MS go together");
	if (c->have_ttl && c->ttl == 0)
		return usage_fail("--ttl", "must be at least 1 (milliseconds)");
	return no_args(c);
}

/* Lease what this run allocates, or renew, for --holder --ttl: an exit status. */
static int set_holder(struct ctx *c)
{
	int r = numballoc_set_holder(c->pool, c->holder, c->ttl);

	if (r == -EOPNOTSUPP)
		return fail(EXIT_RUNTIME, "--holder", "leases are kept by pools in Redis only");
	if (r < 0)
		return fail(EXIT_USAGE, "--holder",
			    "a holder is 1 to 200 characters without blanks, --ttl at most 2^40");
	return EXIT_OK;
}

static int renew_check(struct ctx *c)
{
	if (!c->holder || !c->have_ttl)
		return usage_fail("renew", "expected --holder NAME --ttl MS");
	if (c->ttl == 0)
		return usage_fail("--ttl", "must be at least 1 (milliseconds)");
	return no_args(c);
}

/* Renew the holder's lease on everything it holds; print how many IDs that is. */
static int renew_run(struct ctx *c)
{
	uint64_t n;
	int r = set_holder(c);

	if (r)
		return r;
	r = numballoc_renew(c->pool, &n);
	if (r < 0)
		return lib_fail(r, "renew");
	if (c->json) {
		printf("{");
		json_pool(c);
		printf(", \"holder\": ");
		json_string(c->holder);
		printf(", \"renewed\": %" PRIu64 "}\n", n);
	} else {
		printf("%" PRIu64 "\n", n);
	}
	return EXIT_OK;
}

static int allocate_validate(struct ctx *c)
{
	const struct geometry *g = &c->geo;
	uint64_t band;
	int r;

	if (!c->have_id && !c->have_block && !c->have_in && !c->have_count)
		return EXIT_OK;	/* nothing to check: no geometry() */
	r = geometry(c);
	if (r)
		return r;
	band = g->capacity;
	if (c->have_id)
		return check_id(c, "--id", c->id);
	if (c->have_block) {
		if (c->block > g->capacity)
			return usage_fail("--block", "larger than the pool");
		return EXIT_OK;
	}
	if (c->have_in) {
		r = check_id(c, "--in", c->in_min);
		if (!r)
			r = check_id(c, "--in", c->in_max);
		if (r)
			return r;
		band = c->in_max - c->in_min + 1;
		if (band == 0)	/* the whole 2^64 range */
			band = UINT64_MAX;
	}
	if (c->count > band)
		return usage_fail("--count", "more IDs than the pool (or the --in range) holds");
	return EXIT_OK;
}

static int allocate_one(struct ctx *c, uint64_t *id)
{
	if (c->have_in)
		return numballoc_alloc_in(c->pool, c->in_min, c->in_max, id);
	return numballoc_alloc(c->pool, id);
}

/* The holder recorded by this allocate, or null: c->owner when it is set. */
static void json_owner(const struct ctx *c)
{
	if (c->have_owner)
		printf("%ld", (long)c->owner);
	else
		printf("null");
}

/* COUNT IDs or none: on failure, the ones taken are given back. */
static int allocate_count(struct ctx *c)
{
	uint64_t *ids, i, j;
	int r;

	/*
	 * Clearly too few free: fail before taking any, so that others do not
	 * find IDs held for a moment by an allocate that gives them back. The
	 * count is a pass over the pool: only for more than one ID.
	 */
	if (!c->have_in && c->count > 1) {
		r = count_free(c);
		if (r)
			return r;
		if (c->count > c->geo.free)
			return lib_fail(-ENOSPC, "allocate");
	}
	if (c->count > SIZE_MAX / sizeof(*ids))
		return lib_fail(-ENOMEM, "allocate");
	ids = malloc(c->count * sizeof(*ids));
	if (!ids)
		return lib_fail(-ENOMEM, "allocate");
	for (i = 0; i < c->count; i++) {
		r = allocate_one(c, &ids[i]);
		if (r < 0) {
			for (j = 0; j < i; j++)
				numballoc_free(c->pool, ids[j]);
			free(ids);
			return lib_fail(r, "allocate");
		}
	}
	if (c->json) {
		printf("{");
		json_pool(c);
		printf(", \"ids\": [");
		for (i = 0; i < c->count; i++)
			printf("%s%" PRIu64, i ? ", " : "", ids[i]);
		printf("], \"owner\": ");
		json_owner(c);
		printf("}\n");
	} else {
		for (i = 0; i < c->count; i++)
			printf("%" PRIu64 "\n", ids[i]);
	}
	free(ids);
	return EXIT_OK;
}

/* allocate --id or --block: FIRST (plain), or its JSON with c->count IDs. */
static int print_first(struct ctx *c, uint64_t first)
{
	if (!c->json) {
		printf("%" PRIu64 "\n", first);
		return EXIT_OK;
	}
	printf("{");
	json_pool(c);
	if (c->have_id)
		printf(", \"ids\": [%" PRIu64 "]", first);
	else
		printf(", \"first\": %" PRIu64 ", \"count\": %" PRIu64, first, c->count);
	printf(", \"owner\": ");
	json_owner(c);
	printf("}\n");
	return EXIT_OK;
}

static int allocate_run(struct ctx *c)
{
	char what[64];
	uint64_t first;
	int r;

	if (c->missing) {
		r = create_missing(c);
		if (r)
			return r;
	}
	if (c->holder) {
		r = set_holder(c);
		if (r)
			return r;
	}
	if (c->have_owner) {
		r = numballoc_set_owner(c->pool, c->owner);
		if (r == -EOPNOTSUPP)
			return fail(EXIT_RUNTIME, "--owner",
				    "the pool keeps no owners (it was created with --no-owners)");
		snprintf(what, sizeof(what), "--owner %ld", (long)c->owner);
		if (r == -ESRCH)
			return fail(EXIT_RUNTIME, what, "no such process");
		if (r < 0)
			return lib_fail(r, what);
	} else if (!c->holder) {
		/*
		 * The tool exits at once, so it cannot hold what it hands out:
		 * the holder is the process that ran it (a script's shell), and
		 * the IDs come back when that process dies.
		 */
		c->owner = getppid();
		r = numballoc_set_owner(c->pool, c->owner);
		if (r == 0) {
			c->have_owner = 1;
		} else if (r != -EOPNOTSUPP) {
			snprintf(what, sizeof(what), "allocate (holder: parent process %ld)",
				 (long)c->owner);
			return lib_fail(r, what);
		}
	}
	if (c->have_id) {
		r = numballoc_alloc_id(c->pool, c->id);
		snprintf(what, sizeof(what), "allocate --id %" PRIu64, c->id);
		if (r == -EEXIST)
			return fail(EXIT_CONFLICT, what, "already allocated");
		if (r < 0)
			return lib_fail(r, what);
		c->count = 1;
		return print_first(c, c->id);
	}
	if (c->have_block) {
		r = numballoc_alloc_block(c->pool, c->block, c->have_align ? c->align : 1, &first);
		if (r < 0)
			return lib_fail(r, "allocate --block");
		c->count = c->block;
		return print_first(c, first);
	}
	return allocate_count(c);
}

/* ------------------------------------------------------------ free */

static int push_id(struct ctx *c, size_t *cap, uint64_t id)
{
	uint64_t *n;

	if (c->nids == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		n = realloc(c->ids, *cap * sizeof(*n));
		if (!n)
			return lib_fail(-ENOMEM, "free");
		c->ids = n;
	}
	c->ids[c->nids++] = id;
	return EXIT_OK;
}

/* IDs separated by white space on standard input, all parsed before any is freed. */
static int read_stdin_ids(struct ctx *c)
{
	char tok[128];
	size_t cap = 0, n = 0;
	uint64_t id;
	int ch, r;

	for (;;) {
		ch = getchar();
		if (ch != EOF && ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') {
			if (n + 1 >= sizeof(tok))
				return usage_fail("free -", "a word on standard input is too long");
			tok[n++] = (char)ch;
			continue;
		}
		if (n) {
			tok[n] = '\0';
			n = 0;
			r = number("free -", tok, &id);
			if (!r)
				r = push_id(c, &cap, id);
			if (r)
				return r;
		}
		if (ch == EOF)
			break;
	}
	if (ferror(stdin))
		return fail(EXIT_RUNTIME, "free -", "%s", strerror(errno));
	return EXIT_OK;
}

static int free_check(struct ctx *c)
{
	size_t cap = 0;
	uint64_t id;
	int i, r;

	if (c->have_owner) {
		if (c->have_block || c->nargs)
			return usage_fail("free --owner", "takes no IDs and no --block");
		return EXIT_OK;
	}
	if (c->have_block) {
		if (c->nargs != 2)
			return usage_fail("free --block", "expected FIRST COUNT");
		r = number("free --block", c->args[0], &c->id);
		if (!r)
			r = number("free --block", c->args[1], &c->count);
		if (!r && c->count == 0)
			r = usage_fail("free --block", "COUNT must be at least 1");
		return r;
	}
	if (c->nargs == 0)
		return usage_fail("free", "expected IDs, '-' or --block FIRST COUNT");
	if (c->nargs == 1 && !strcmp(c->args[0], "-"))
		return read_stdin_ids(c);
	for (i = 0; i < c->nargs; i++) {
		if (!strcmp(c->args[i], "-"))
			return usage_fail("free -", "'-' must be the only argument");
		r = number("free", c->args[i], &id);
		if (!r)
			r = push_id(c, &cap, id);
		if (r)
			return r;
	}
	return EXIT_OK;
}

static int free_validate(struct ctx *c)
{
	size_t i;
	int r;

	if (c->have_owner)
		return EXIT_OK;
	r = geometry(c);
	if (r)
		return r;
	if (c->have_block) {
		r = check_id(c, "free --block", c->id);
		if (r)
			return r;
		if (c->count > c->geo.capacity - (c->id - c->geo.base))
			return usage_fail("free --block", "the block runs past the end of the pool");
		return EXIT_OK;
	}
	for (i = 0; i < c->nids; i++) {
		r = check_id(c, "free", c->ids[i]);
		if (r)
			return r;
	}
	return EXIT_OK;
}

/* free --owner PID: everything PID holds, alive or not. */
static int free_owner_run(struct ctx *c)
{
	char what[64];
	uint64_t n;
	int r = numballoc_free_owner(c->pool, c->owner, &n);

	snprintf(what, sizeof(what), "free --owner %ld", (long)c->owner);
	if (r == -EOPNOTSUPP)
		return fail(EXIT_RUNTIME, what,
			    "the pool keeps no owners (it was created with --no-owners)");
	if (r < 0)
		return lib_fail(r, what);
	if (c->json) {
		printf("{");
		json_pool(c);
		printf(", \"owner\": %ld, \"freed\": %" PRIu64 "}\n", (long)c->owner, n);
	}
	return EXIT_OK;
}

static int free_run(struct ctx *c)
{
	char what[64];
	int r, status = EXIT_OK;
	size_t i, nfreed = 0, nbad = 0;

	if (c->have_owner)
		return free_owner_run(c);
	if (c->have_block) {
		r = numballoc_free_block(c->pool, c->id, c->count);
		snprintf(what, sizeof(what), "free --block %" PRIu64 " %" PRIu64, c->id, c->count);
		if (r == -ENOENT)
			return fail(EXIT_CONFLICT, what,
				    "not all of the block is allocated (nothing was freed)");
		if (r < 0)
			return lib_fail(r, what);
		if (c->json) {
			printf("{");
			json_pool(c);
			printf(", \"freed\": [{\"first\": %" PRIu64 ", \"count\": %" PRIu64
			       "}], \"not_allocated\": 0}\n", c->id, c->count);
		}
		return EXIT_OK;
	}
	for (i = 0; i < c->nids; i++) {
		r = numballoc_free(c->pool, c->ids[i]);
		if (r == 0) {
			c->ids[nfreed++] = c->ids[i];	/* the freed, in order, for --json */
			continue;
		}
		snprintf(what, sizeof(what), "free %" PRIu64, c->ids[i]);
		if (r == -ENOENT) {
			fail(EXIT_CONFLICT, what, "not allocated");
			if (status == EXIT_OK)
				status = EXIT_CONFLICT;
			nbad++;
		} else {
			status = lib_fail(r, what);
		}
	}
	if (c->json) {
		printf("{");
		json_pool(c);
		printf(", \"freed\": [");
		for (i = 0; i < nfreed; i++)
			printf("%s%" PRIu64, i ? ", " : "", c->ids[i]);
		printf("], \"not_allocated\": %zu}\n", nbad);
	}
	return status;
}

/* ------------------------------------------------------------ test */

static int test_check(struct ctx *c)
{
	if (c->nargs != 1)
		return usage_fail("test", "expected one ID");
	return number("test", c->args[0], &c->id);
}

static int test_validate(struct ctx *c)
{
	return geometry(c) ? EXIT_USAGE : check_id(c, "test", c->id);
}

static int test_run(struct ctx *c)
{
	char what[64];
	pid_t pid;
	int r = numballoc_test(c->pool, c->id);

	if (r < 0) {
		snprintf(what, sizeof(what), "test %" PRIu64, c->id);
		return fail(EXIT_USAGE, what, "%s", numballoc_strerror(r));
	}
	if (c->json) {
		printf("{");
		json_pool(c);
		printf(", \"id\": %" PRIu64 ", \"allocated\": %s, \"owner\": ", c->id,
		       r ? "true" : "false");
		if (r && numballoc_owner(c->pool, c->id, &pid) == 0)
			printf("%ld}\n", (long)pid);
		else
			printf("null}\n");
	}
	return r ? 0 : 1;
}

/* ------------------------------------------------------------ list */

/*
 * The allocated run that starts at the first allocated ID >= FROM:
 * 1 with *FIRST and *COUNT set, 0 when there is none.
 */
static int next_run(struct ctx *c, uint64_t from, uint64_t *first, uint64_t *count)
{
	uint64_t last = c->geo.base + (c->geo.capacity - 1), id;

	if (numballoc_next(c->pool, from, first) < 0)
		return 0;
	for (id = *first; id < last && numballoc_test(c->pool, id + 1) == 1; id++)
		;
	*count = id - *first + 1;
	return 1;
}

/* Calls FN for each allocated run, lowest first. */
static void for_each_run(struct ctx *c, void (*fn)(void *arg, uint64_t first, uint64_t count),
			 void *arg)
{
	uint64_t last = c->geo.base + (c->geo.capacity - 1), from = c->geo.base, first, count;

	while (next_run(c, from, &first, &count)) {
		fn(arg, first, count);
		if (first + (count - 1) == last)
			break;
		from = first + count;
	}
}

static void print_range(void *arg, uint64_t first, uint64_t count)
{
	if (count == 1)
		printf("%" PRIu64 "\n", first);
	else
		printf("%" PRIu64 "-%" PRIu64 "\n", first, first + (count - 1));
}

static void print_range_json(void *arg, uint64_t first, uint64_t count)
{
	int *n = arg;

	printf("%s\n  {\"first\": %" PRIu64 ", \"count\": %" PRIu64 "}", *n ? "," : "", first,
	       count);
	(*n)++;
}

/* The holder recorded for an allocated ID, or 0 (none, or it is changing). */
static pid_t holder_of(struct ctx *c, uint64_t id)
{
	pid_t pid;

	return numballoc_owner(c->pool, id, &pid) == 0 ? pid : 0;
}

/* Calls FN for each run of allocated IDs with one holder, lowest first; ONLY > 0: its runs. */
static void for_each_owned_run(struct ctx *c, pid_t only,
			       void (*fn)(void *arg, uint64_t first, uint64_t count, pid_t owner),
			       void *arg)
{
	uint64_t last = c->geo.base + (c->geo.capacity - 1), from = c->geo.base, first, id;
	pid_t o;

	while (numballoc_next(c->pool, from, &first) == 0) {
		o = holder_of(c, first);
		for (id = first; id < last && numballoc_test(c->pool, id + 1) == 1 &&
				 holder_of(c, id + 1) == o; id++)
			;
		if (!only || o == only)
			fn(arg, first, id - first + 1, o);
		if (id == last)
			break;
		from = id + 1;
	}
}

static void print_owned(void *arg, uint64_t first, uint64_t count, pid_t owner)
{
	print_range(arg, first, count);
}

/* A run and its holder: "FIRST[-LAST] PID", or "-" when none is recorded. */
static void print_holder(void *arg, uint64_t first, uint64_t count, pid_t owner)
{
	if (count == 1)
		printf("%" PRIu64, first);
	else
		printf("%" PRIu64 "-%" PRIu64, first, first + (count - 1));
	if (owner)
		printf(" %ld\n", (long)owner);
	else
		printf(" -\n");
}

static void print_owned_json(void *arg, uint64_t first, uint64_t count, pid_t owner)
{
	int *n = arg;

	printf("%s\n  {\"first\": %" PRIu64 ", \"count\": %" PRIu64 ", \"owner\": ", *n ? "," : "",
	       first, count);
	if (owner)
		printf("%ld}", (long)owner);
	else
		printf("null}");
	(*n)++;
}

static int list_run(struct ctx *c)
{
	pid_t pid;
	int n = 0, owners = numballoc_owner(c->pool, c->geo.base, &pid) != -EOPNOTSUPP;

	if (c->have_owner && !owners)
		return fail(EXIT_RUNTIME, "--owner",
			    "the pool keeps no owners (it was created with --no-owners)");
	if (!c->json) {
		if (c->have_owner)
			for_each_owned_run(c, c->owner, print_owned, NULL);
		else if (owners)
			for_each_owned_run(c, 0, print_holder, NULL);
		else
			for_each_run(c, print_range, NULL);
		return EXIT_OK;
	}
	printf("[");
	if (owners)
		for_each_owned_run(c, c->have_owner ? c->owner : 0, print_owned_json, &n);
	else
		for_each_run(c, print_range_json, &n);
	printf(n ? "\n]\n" : "]\n");
	return EXIT_OK;
}

/* ------------------------------------------------------------ reclaim */

/* Prints each ID it released (one a line, or JSON with its dead holder). */
static int reclaim_run(struct ctx *c)
{
	uint64_t ids[1024];
	pid_t holders[1024];
	size_t n, i, total = 0;
	uint64_t count;
	int r;

	if (is_url(c)) {
		/* the server releases ended leases; it says how many, not which */
		r = numballoc_reclaim(c->pool, &count);
		if (r < 0)
			return pool_fail(c, r);
		if (c->json) {
			printf("{");
			json_pool(c);
			printf(", \"released\": %" PRIu64 "}\n", count);
		} else {
			printf("%" PRIu64 "\n", count);
		}
		return EXIT_OK;
	}
	if (c->json)
		printf("[");
	do {
		r = numballoc_reclaim_ids(c->pool, ids, holders, 1024, &n);
		if (r == -EOPNOTSUPP)
			return fail(EXIT_RUNTIME, "reclaim",
				    "the pool keeps no owners (it was created with --no-owners)");
		if (r < 0)
			return pool_fail(c, r);
		for (i = 0; i < n; i++, total++) {
			if (c->json)
				printf("%s\n  {\"id\": %" PRIu64 ", \"owner\": %ld}",
				       total ? "," : "", ids[i], (long)holders[i]);
			else
				printf("%" PRIu64 "\n", ids[i]);
		}
	} while (n == 1024);
	if (c->json)
		printf(total ? "\n]\n" : "]\n");
	return EXIT_OK;
}

/* ------------------------------------------------------------ chown */

static int chown_check(struct ctx *c)
{
	int r;

	if (c->nargs != 2)
		return usage_fail("chown", "expected ID PID");
	r = number("chown", c->args[0], &c->id);
	return r ? r : parse_pid_as("chown PID", c->args[1], &c->owner);
}

static int chown_validate(struct ctx *c)
{
	int r = geometry(c);

	return r ? r : check_id(c, "chown", c->id);
}

static int chown_run(struct ctx *c)
{
	char what[96];
	int r = numballoc_chown(c->pool, c->id, c->owner);

	snprintf(what, sizeof(what), "chown %" PRIu64 " %ld", c->id, (long)c->owner);
	if (r == -ENOENT)
		return fail(EXIT_CONFLICT, what, "ID %" PRIu64 " is not allocated", c->id);
	if (r == -ESRCH)
		return fail(EXIT_RUNTIME, what, "process %ld is not running", (long)c->owner);
	if (r == -EOPNOTSUPP)
		return fail(EXIT_RUNTIME, what,
			    "the pool keeps no owners (it was created with --no-owners)");
	if (r < 0)
		return lib_fail(r, what);
	if (c->json) {
		printf("{");
		json_pool(c);
		printf(", \"id\": %" PRIu64 ", \"owner\": %ld}\n", c->id, (long)c->owner);
	}
	return EXIT_OK;
}

/* ------------------------------------------------------------ stat */

/* Length of the well-formed UTF-8 sequence at P (lead byte >= 0x80), or 0. */
static size_t utf8_len(const unsigned char *p)
{
	static const uint32_t least[] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t n, i;
	uint32_t cp;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;
	cp = p[0] & (0x7f >> n);
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	/* No overlong forms, no surrogates, nothing beyond U+10FFFF. */
	if (cp < least[n] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

/*
 * S as a JSON string: quoted; quotes, backslashes and control characters
 * escaped; bytes that are not UTF-8 replaced by U+FFFD, so the output is
 * valid JSON whatever S holds.
 */
static void json_string(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	putchar('"');
	while (*p) {
		if (*p == '"' || *p == '\\') {
			printf("\\%c", *p);
			n = 1;
		} else if (*p < 0x20 || *p == 0x7f) {
			printf("\\u%04x", *p);
			n = 1;
		} else if (*p < 0x80) {
			putchar(*p);
			n = 1;
		} else if ((n = utf8_len(p)) != 0) {
			fwrite(p, 1, n, stdout);
		} else {
			printf("\\ufffd");
			n = 1;
		}
		p += n;
	}
	putchar('"');
}

static int stat_run(struct ctx *c)
{
	struct numballoc_stat st;
	char shown[PATH_MAX];
	int r = numballoc_stat(c->pool, &st);

	if (r < 0)
		return pool_fail(c, r);
	if (!c->json) {
		printf("%-17s %s\n", c->path ? "file:" : "pool:",
		       c->path ? c->path : shown_name(c->name, shown, sizeof(shown)));
		printf("%-17s %" PRIu64 "\n", "capacity:", st.capacity);
		printf("%-17s %" PRIu64 "\n", "base:", st.base);
		printf("%-17s %" PRIu64 "\n", "used:", st.used);
		printf("%-17s %" PRIu64 "\n", "free:", st.free);
		printf("%-17s %" PRIu64 "\n", "largest free run:", st.largest_free_run);
		printf("%-17s %s\n", "policy:", policy_name(st.policy));
		printf("%-17s %s\n", "owners:", st.flags & NUMBALLOC_OWNERS ? "yes" : "no");
		return EXIT_OK;
	}
	printf("{");
	json_pool(c);
	printf(", \"capacity\": %" PRIu64 ", \"base\": %" PRIu64 ", \"used\": %" PRIu64
	       ", \"free\": %" PRIu64 ", \"largest_free_run\": %" PRIu64 ", \"policy\": ",
	       st.capacity, st.base, st.used, st.free, st.largest_free_run);
	json_string(policy_name(st.policy));
	printf(", \"owners\": %s}\n", st.flags & NUMBALLOC_OWNERS ? "true" : "false");
	return EXIT_OK;
}

/* ------------------------------------------------------------ map */

#define MAP_ROWS 16	/* at most this many rows of characters */
#define MAP_WIDTH 80	/* no line longer */

/* Shades from empty to full; see map_char(). */
static const char map_shades[] = ".-+*%#";

struct map {
	uint64_t base;		/* first ID of the pool */
	uint64_t capacity;	/* IDs in the pool */
	uint64_t group;		/* IDs per character, >= 1 */
	uint64_t ngroups;	/* characters, ceil(capacity / group) */
	uint64_t *used;		/* allocated IDs per character */
};

static char map_char(uint64_t used, uint64_t size)
{
	if (used == 0)
		return map_shades[0];
	if (used == size)
		return map_shades[5];
	if (used * 4 <= size)
		return map_shades[1];
	if (used * 2 <= size)
		return map_shades[2];
	if (used * 4 <= size * 3)
		return map_shades[3];
	return map_shades[4];
}

static void map_add(void *arg, uint64_t first, uint64_t count)
{
	struct map *m = arg;
	uint64_t off = first - m->base, g, end, n;

	while (count) {
		g = off / m->group;
		end = (g + 1) * m->group;
		n = end - off < count ? end - off : count;
		m->used[g] += n;
		off += n;
		count -= n;
	}
}

static int digits(uint64_t v)
{
	int n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

static const char *map_title(const struct ctx *c)
{
	static char shown[PATH_MAX];

	return c->path ? c->path : shown_name(c->name, shown, sizeof(shown));
}

static int map_run(struct ctx *c)
{
	struct numballoc_stat st;
	struct map m;
	uint64_t g, size, used = 0, last;
	int cols, label, r;

	r = numballoc_stat(c->pool, &st);
	if (r < 0)
		return pool_fail(c, r);
	last = st.base + (st.capacity - 1);
	label = digits(last);
	/* "LABEL |" then the characters then "|": at most MAP_WIDTH columns. */
	cols = (MAP_WIDTH - label - 3) / 16 * 16;
	if (cols > 64)
		cols = 64;
	m.base = st.base;
	m.capacity = st.capacity;
	m.group = (st.capacity + (uint64_t)cols * MAP_ROWS - 1) / ((uint64_t)cols * MAP_ROWS);
	m.ngroups = (st.capacity + m.group - 1) / m.group;
	m.used = calloc(m.ngroups, sizeof(*m.used));
	if (!m.used)
		return lib_fail(-ENOMEM, "map");
	for_each_run(c, map_add, &m);
	if (c->json) {
		printf("{");
		json_pool(c);
		printf(", \"capacity\": %" PRIu64 ", \"base\": %" PRIu64 ", \"group\": %" PRIu64
		       ", \"largest_free_run\": %" PRIu64 ", \"used\": [", st.capacity, st.base,
		       m.group, st.largest_free_run);
		for (g = 0; g < m.ngroups; g++)
			printf("%s%" PRIu64, g ? ", " : "", m.used[g]);
		printf("]}\n");
		free(m.used);
		return EXIT_OK;
	}
	/* Every line fits: a name of 24, numbers of 20 digits at most. */
	printf("%s %.24s%s: %" PRIu64 " IDs from %" PRIu64 "\n", c->path ? "file" : "pool",
	       map_title(c), strlen(map_title(c)) > 24 ? "..." : "", st.capacity, st.base);
	printf("one character = %" PRIu64 " ID%s\n", m.group, m.group == 1 ? "" : "s");
	for (g = 0; g < m.ngroups; g++) {
		if (g % (uint64_t)cols == 0)
			printf("%*" PRIu64 " |", label, st.base + g * m.group);
		size = g + 1 < m.ngroups ? m.group : st.capacity - g * m.group;
		putchar(map_char(m.used[g], size));
		used += m.used[g];
		if (g % (uint64_t)cols == (uint64_t)cols - 1 || g + 1 == m.ngroups)
			printf("|\n");
	}
	printf("legend: %c free  %c <=25%%  %c <=50%%  %c <=75%%  %c <100%%  %c full\n",
	       map_shades[0], map_shades[1], map_shades[2], map_shades[3], map_shades[4],
	       map_shades[5]);
	printf("used %" PRIu64 " of %" PRIu64 " (%" PRIu64 ".%" PRIu64 "%%), largest free run %"
	       PRIu64 "\n", used, st.capacity, used * 100 / st.capacity,
	       used * 1000 / st.capacity % 10, st.largest_free_run);
	free(m.used);
	return EXIT_OK;
}

/* ------------------------------------------------------------ destroy */

static int destroy_run(struct ctx *c)
{
	struct numballoc_opts o;
	struct numballoc *p;
	int r;

	/* Only remove what is a numballoc pool, unless --force. */
	if (!c->force) {
		memset(&o, 0, sizeof(o));
		o.path = c->path;
		r = numballoc_open(c->path ? NULL : c->name, &o, &p);
		if (r < 0 && r != -NUMBALLOC_EKIND)
			return pool_fail(c, r);
		numballoc_close(r < 0 ? NULL : p);
	}
	if (c->path)
		r = unlink(c->path) < 0 ? -errno : 0;
	else
		r = numballoc_unlink(c->name);
	if (r < 0)
		return pool_fail(c, r);
	if (c->json) {
		printf("{");
		json_pool(c);
		printf(", \"destroyed\": true}\n");
	}
	return EXIT_OK;
}

/* ------------------------------------------------------------ pools */

/* One numballoc object of /dev/shm: its kind, capacity and use, or nonzero to leave it out. */
struct pool_info {
	const char *kind;	/* "ids", "pages" or "buffer" */
	uint64_t capacity;	/* IDs, pages, or bytes */
	uint64_t used;		/* of them */
};

static int pool_info(const char *name, struct pool_info *pi)
{
	struct numballoc_opts o;
	struct numballoc *p;
	struct numballoc_stat st;
	struct numballoc_pages *pa;
	struct numballoc_pages_stat ps;
	struct numballoc_buf *b;
	struct numballoc_buf_stat bs;
	int r;

	memset(&o, 0, sizeof(o));
	o.flags = NUMBALLOC_RDONLY;
	r = numballoc_open(name, &o, &p);
	if (r == 0) {
		r = numballoc_stat(p, &st);
		numballoc_close(p);
		pi->kind = "ids";
		pi->capacity = st.capacity;
		pi->used = st.used;
		return r;
	}
	if (r != -NUMBALLOC_EKIND)
		return r;	/* not numballoc's, or not readable: left out */
	/* The other faces have no read-only open: readable and writable ones only. */
	if (numballoc_pages_open(name, NULL, &pa) == 0) {
		r = numballoc_pages_stat(pa, &ps);
		numballoc_pages_close(pa);
		pi->kind = "pages";
		pi->capacity = ps.total;
		pi->used = ps.used;
		return r;
	}
	if (numballoc_buf_open(name, NULL, &b) == 0) {
		r = numballoc_buf_stat(b, &bs);
		numballoc_buf_close(b);
		pi->kind = "buffer";
		pi->capacity = bs.capacity;
		pi->used = bs.capacity - bs.free_size;
		return r;
	}
	return -NUMBALLOC_EKIND;
}

static int pools_filter(const struct dirent *d)
{
	/* Hidden names are temporary files of a creation in progress. */
	return d->d_name[0] != '.' && strlen(d->d_name) <= NUMBALLOC_NAME_MAX;
}

/* The numballoc pools of this host: every object of /dev/shm with a valid header. */
static int pools_run(struct ctx *c)
{
	struct dirent **names;
	struct pool_info pi;
	int i, n, k = 0;

	n = scandir("/dev/shm", &names, pools_filter, alphasort);
	if (n < 0)
		return fail(EXIT_RUNTIME, "/dev/shm", "%s", strerror(errno));
	if (c->json)
		printf("[");
	else
		printf("%-24s %-6s %14s %14s\n", "POOL", "KIND", "CAPACITY", "USED");
	for (i = 0; i < n; i++) {
		if (pool_info(names[i]->d_name, &pi) == 0) {
			if (c->json) {
				printf("%s\n  {\"pool\": ", k ? "," : "");
				json_string(names[i]->d_name);
				printf(", \"kind\": \"%s\", \"capacity\": %" PRIu64
				       ", \"used\": %" PRIu64 "}", pi.kind, pi.capacity, pi.used);
			} else {
				printf("%-24s %-6s %14" PRIu64 " %14" PRIu64 "\n",
				       names[i]->d_name, pi.kind, pi.capacity, pi.used);
			}
			k++;
		}
		free(names[i]);
	}
	free(names);
	if (c->json)
		printf(k ? "\n]\n" : "]\n");
	return EXIT_OK;
}

/* ------------------------------------------------------------ export */

static void export_run_json(void *arg, uint64_t first, uint64_t count, pid_t owner)
{
	int *n = arg;

	printf("%s\n    {\"first\": %" PRIu64 ", \"count\": %" PRIu64 ", \"owner\": ",
	       *n ? "," : "", first, count);
	if (owner)
		printf("%ld}", (long)owner);
	else
		printf("null}");
	(*n)++;
}

static void export_plain_json(void *arg, uint64_t first, uint64_t count)
{
	export_run_json(arg, first, count, 0);
}

/*
 * The pool's parameters and held IDs as one JSON document: runs of IDs
 * with one holder each. A snapshot of a moment only if nobody allocates
 * meanwhile.
 */
static int export_run(struct ctx *c)
{
	pid_t pid;
	int n = 0, owners = numballoc_owner(c->pool, c->geo.base, &pid) != -EOPNOTSUPP;
	struct numballoc_stat st;
	int r = numballoc_stat(c->pool, &st);

	if (r < 0)
		return pool_fail(c, r);
	printf("{\"numballoc_export\": 1, ");
	json_pool(c);
	printf(",\n  \"capacity\": %" PRIu64 ", \"base\": %" PRIu64 ", \"policy\": \"%s\","
	       " \"owners\": %s, \"used\": %" PRIu64 ",\n  \"held\": [", st.capacity, st.base,
	       policy_name(st.policy), owners ? "true" : "false", st.used);
	if (owners)
		for_each_owned_run(c, 0, export_run_json, &n);
	else
		for_each_run(c, export_plain_json, &n);
	printf(n ? "\n  ]\n}\n" : "]\n}\n");
	return EXIT_OK;
}

/* ------------------------------------------------------------ import */

/*
 * A small JSON reader, enough for what export writes and for hand-made
 * documents: objects, arrays, strings, true/false/null, and numbers, of
 * which only non-negative integers are taken as values.
 */
struct jp {
	const char *s;		/* the next character */
	const char *err;	/* the first error, or NULL */
};

static void jp_ws(struct jp *p)
{
	while (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r')
		p->s++;
}

static int jp_fail(struct jp *p, const char *why)
{
	if (!p->err)
		p->err = why;
	return -1;
}

static int jp_char(struct jp *p, char ch)
{
	jp_ws(p);
	if (*p->s != ch)
		return -1;
	p->s++;
	return 0;
}

/* A string into BUF (truncated; escapes kept as one character each). */
static int jp_string(struct jp *p, char *buf, size_t len)
{
	size_t n = 0;

	jp_ws(p);
	if (*p->s != '"')
		return jp_fail(p, "expected a string");
	for (p->s++; *p->s != '"'; p->s++) {
		if (!*p->s || (unsigned char)*p->s < 0x20)
			return jp_fail(p, "unterminated string");
		if (*p->s == '\\') {
			p->s++;
			if (*p->s == 'u') {
				int i;

				for (i = 1; i <= 4; i++)
					if (!strchr("0123456789abcdefABCDEF", p->s[i]) || !p->s[i])
						return jp_fail(p, "bad \\u escape");
				p->s += 4;
			} else if (!*p->s || !strchr("\"\\/bfnrt", *p->s)) {
				return jp_fail(p, "bad escape");
			}
		}
		if (n + 1 < len)
			buf[n++] = *p->s;
	}
	p->s++;
	buf[n] = '\0';
	return 0;
}

static int jp_literal(struct jp *p, const char *lit)
{
	size_t n = strlen(lit);

	jp_ws(p);
	if (strncmp(p->s, lit, n))
		return -1;
	p->s += n;
	return 0;
}

/* A non-negative integer. */
static int jp_u64(struct jp *p, uint64_t *v)
{
	char buf[32];
	size_t n = 0;

	jp_ws(p);
	while (n + 1 < sizeof(buf) && p->s[n] >= '0' && p->s[n] <= '9') {
		buf[n] = p->s[n];
		n++;
	}
	if (n == 0 || (p->s[n] && strchr(".eE-+0123456789", p->s[n])) || (n > 1 && buf[0] == '0'))
		return jp_fail(p, "expected a non-negative integer");
	buf[n] = '\0';
	if (parse_u64(buf, v))
		return jp_fail(p, "number too large");
	p->s += n;
	return 0;
}

/* Any value, skipped. */
static int jp_skip(struct jp *p, int depth)
{
	char tmp[8];

	if (depth > 64)
		return jp_fail(p, "nested too deep");
	jp_ws(p);
	if (*p->s == '"')
		return jp_string(p, tmp, sizeof(tmp));
	if (*p->s == '{' || *p->s == '[') {
		char close = *p->s == '{' ? '}' : ']';
		int first = 1;

		p->s++;
		for (;;) {
			if (jp_char(p, close) == 0)
				return 0;
			if (!first && jp_char(p, ','))
				return jp_fail(p, "expected ',' in a list or an object");
			first = 0;
			if (close == '}') {
				if (jp_string(p, tmp, sizeof(tmp)) || jp_char(p, ':'))
					return jp_fail(p, "expected \"key\": value");
			}
			if (jp_skip(p, depth + 1))
				return -1;
		}
	}
	if (!jp_literal(p, "true") || !jp_literal(p, "false") || !jp_literal(p, "null"))
		return 0;
	if (*p->s == '-' || (*p->s >= '0' && *p->s <= '9')) {
		p->s += strspn(p->s, "-+.eE0123456789");
		return 0;
	}
	return jp_fail(p, "expected a value");
}

struct held_run {
	uint64_t first, count;
	pid_t owner;		/* 0: none recorded */
};

struct import_doc {
	uint64_t capacity, base;	/* 0 capacity: not given */
	unsigned int policy;
	int owners;			/* -1: not given */
	struct held_run *runs;
	size_t nruns, cap;
};

/* One element of "held": {"first": N, "count": N, "owner": PID|null}. */
static int jp_run(struct jp *p, struct import_doc *d)
{
	char key[32];
	struct held_run run = { 0, 1, 0 };
	uint64_t v;
	int have_first = 0, first = 1;

	if (jp_char(p, '{'))
		return jp_fail(p, "\"held\" holds objects {\"first\": ID, \"count\": N}");
	while (jp_char(p, '}')) {
		if (!first && jp_char(p, ','))
			return jp_fail(p, "expected ',' between members");
		first = 0;
		if (jp_string(p, key, sizeof(key)) || jp_char(p, ':'))
			return jp_fail(p, "expected \"key\": value");
		if (!strcmp(key, "first")) {
			if (jp_u64(p, &run.first))
				return -1;
			have_first = 1;
		} else if (!strcmp(key, "count")) {
			if (jp_u64(p, &run.count))
				return -1;
			if (run.count == 0)
				return jp_fail(p, "a count of 0");
		} else if (!strcmp(key, "owner")) {
			if (jp_literal(p, "null") == 0)
				continue;
			if (jp_u64(p, &v))
				return -1;
			if (v == 0 || v > 0x7fffffff)
				return jp_fail(p, "an owner is a process ID");
			run.owner = (pid_t)v;
		} else if (jp_skip(p, 1)) {
			return -1;
		}
	}
	if (!have_first)
		return jp_fail(p, "a run without \"first\"");
	if (run.first > UINT64_MAX - (run.count - 1))
		return jp_fail(p, "a run beyond 2^64-1");
	if (d->nruns == d->cap) {
		struct held_run *n;

		d->cap = d->cap ? d->cap * 2 : 64;
		n = realloc(d->runs, d->cap * sizeof(*n));
		if (!n)
			return jp_fail(p, "out of memory");
		d->runs = n;
	}
	d->runs[d->nruns++] = run;
	return 0;
}

static int jp_doc(struct jp *p, struct import_doc *d)
{
	char key[32], val[16];
	int first = 1, more = 1;

	d->owners = -1;
	if (jp_char(p, '{'))
		return jp_fail(p, "expected an object (numballoc-cli export writes one)");
	while (jp_char(p, '}')) {
		if (!first && jp_char(p, ','))
			return jp_fail(p, "expected ',' between members");
		first = 0;
		if (jp_string(p, key, sizeof(key)) || jp_char(p, ':'))
			return jp_fail(p, "expected \"key\": value");
		if (!strcmp(key, "capacity")) {
			if (jp_u64(p, &d->capacity))
				return -1;
		} else if (!strcmp(key, "base")) {
			if (jp_u64(p, &d->base))
				return -1;
		} else if (!strcmp(key, "policy")) {
			if (jp_string(p, val, sizeof(val)))
				return -1;
			if (!strcmp(val, "lowest"))
				d->policy = NUMBALLOC_LOWEST;
			else if (!strcmp(val, "cyclic"))
				d->policy = NUMBALLOC_CYCLIC;
			else if (!strcmp(val, "spread"))
				d->policy = NUMBALLOC_SPREAD;
			else
				return jp_fail(p, "policy is lowest, cyclic or spread");
		} else if (!strcmp(key, "owners")) {
			if (!jp_literal(p, "true"))
				d->owners = 1;
			else if (!jp_literal(p, "false"))
				d->owners = 0;
			else
				return jp_fail(p, "owners is true or false");
		} else if (!strcmp(key, "held")) {
			if (jp_char(p, '['))
				return jp_fail(p, "\"held\" is a list");
			for (more = 1; jp_char(p, ']');) {
				if (!more && jp_char(p, ','))
					return jp_fail(p, "expected ',' between runs");
				more = 0;
				if (jp_run(p, d))
					return -1;
			}
		} else if (jp_skip(p, 1)) {
			return -1;
		}
	}
	jp_ws(p);
	if (*p->s)
		return jp_fail(p, "text after the document");
	return 0;
}

static struct import_doc import_doc;

/* Read and parse standard input before the pool is touched. */
static int import_check(struct ctx *c)
{
	size_t len = 0, cap = 0;
	char *buf = NULL, *n;
	struct jp p;
	size_t k;

	if (c->nargs)
		return fail(EXIT_USAGE, c->args[0], "unexpected argument (the document is read"
			    " from standard input)");
	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 65536;
			n = realloc(buf, cap + 1);
			if (!n) {
				free(buf);
				return lib_fail(-ENOMEM, "import");
			}
			buf = n;
		}
		k = fread(buf + len, 1, cap - len, stdin);
		len += k;
		if (k == 0)
			break;
	}
	if (ferror(stdin)) {
		free(buf);
		return fail(EXIT_RUNTIME, "import", "standard input: %s", strerror(errno));
	}
	buf[len] = '\0';
	if (strlen(buf) != len) {
		free(buf);
		return usage_fail("import", "standard input holds a NUL byte: not JSON");
	}
	memset(&p, 0, sizeof(p));
	p.s = buf;
	if (jp_doc(&p, &import_doc)) {
		fail(EXIT_USAGE, "import", "standard input, at byte %zu: %s",
		     (size_t)(p.s - buf), p.err ? p.err : "not JSON");
		free(buf);
		return EXIT_USAGE;
	}
	free(buf);
	if (import_doc.capacity > NUMBALLOC_CAPACITY_MAX ||
	    (import_doc.capacity && import_doc.base > UINT64_MAX - (import_doc.capacity - 1)))
		return usage_fail("import", "the document's capacity and base make no pool");
	return EXIT_OK;
}

/* A missing pool is made from the document's parameters, then every run must fit. */
static int import_validate(struct ctx *c)
{
	const struct import_doc *d = &import_doc;
	char what[64];
	size_t i;
	int r;

	if (c->missing) {
		/* checked against the pool it would create, before creating it */
		if (!d->capacity)
			return fail(EXIT_RUNTIME, "import", "no such pool, and the document"
				    " gives no capacity to create it with");
		c->geo.capacity = d->capacity;
		c->geo.base = d->base;
	} else {
		r = geometry(c);
		if (r)
			return r;
	}
	for (i = 0; i < d->nruns; i++) {
		snprintf(what, sizeof(what), "import: run %zu", i + 1);
		r = check_id(c, what, d->runs[i].first);
		if (!r)
			r = check_id(c, what, d->runs[i].first + (d->runs[i].count - 1));
		if (r)
			return r;
	}
	return EXIT_OK;
}

/* Give back the first N runs claimed (the last one LAST IDs long). */
static void import_undo(struct ctx *c, size_t n, uint64_t last)
{
	size_t i;

	for (i = 0; i < n; i++)
		numballoc_free_block(c->pool, import_doc.runs[i].first, import_doc.runs[i].count);
	if (last)
		numballoc_free_block(c->pool, import_doc.runs[n].first, last);
}

/*
 * Claim every run of the document, ID by ID, each under its holder when
 * that process runs here (else the importer's parent, or --owner PID).
 * All or nothing: a conflict gives back what was claimed. --force imports
 * into a pool that holds IDs already, and leaves those IDs as they are.
 */
static int import_run(struct ctx *c)
{
	struct import_doc *d = &import_doc;
	uint64_t k, id, taken = 0, skipped = 0;
	char what[64];
	pid_t fallback = c->have_owner ? c->owner : getppid(), holder;
	int r, owners;
	size_t i;

	if (c->missing) {
		c->policy = d->policy;
		c->owners = d->owners != 0;
		c->have_owners = 1;
		r = create_missing(c);	/* validates again against the pool it got */
		if (r)
			return r;
	}
	owners = numballoc_owner(c->pool, c->geo.base, &holder) != -EOPNOTSUPP;
	if (c->have_owner && !owners)
		return fail(EXIT_RUNTIME, "--owner",
			    "the pool keeps no owners (it was created with --no-owners)");
	if (!c->force && numballoc_next(c->pool, c->geo.base, &id) == 0)
		return fail(EXIT_CONFLICT, "import", "the pool is not empty (ID %" PRIu64
			    " is held); --force imports into it anyway", id);
	for (i = 0; i < d->nruns; i++) {
		holder = c->have_owner || !d->runs[i].owner ? fallback : d->runs[i].owner;
		if (owners && numballoc_set_owner(c->pool, holder) < 0) {
			holder = fallback;
			r = numballoc_set_owner(c->pool, holder);
			if (r < 0) {
				import_undo(c, i, 0);
				snprintf(what, sizeof(what), "import (holder %ld)", (long)holder);
				return lib_fail(r, what);
			}
		}
		for (k = 0; k < d->runs[i].count; k++) {
			id = d->runs[i].first + k;
			r = numballoc_alloc_id(c->pool, id);
			if (r == -EEXIST && c->force) {
				skipped++;
				continue;
			}
			if (r < 0) {
				/* with --force only what this import claimed is given back */
				if (!c->force)
					import_undo(c, i, k);
				snprintf(what, sizeof(what), "import: ID %" PRIu64, id);
				if (r == -EEXIST)
					return fail(EXIT_CONFLICT, what, "already allocated"
						    " (nothing was imported)");
				return lib_fail(r, what);
			}
			taken++;
		}
	}
	if (skipped)
		fprintf(stderr, "%s: import: %" PRIu64 " IDs were held already and were left"
			" as they were\n", PROG, skipped);
	if (c->json) {
		printf("{");
		json_pool(c);
		printf(", \"imported\": %" PRIu64 ", \"already_held\": %" PRIu64 "}\n", taken,
		       skipped);
	}
	return EXIT_OK;
}

/* ------------------------------------------------------------ commands */

static const struct cmd cmds[] = {
	{ "create", "c:b:", create_opts, create_check, validate_none, create_run, CMD_JSON,
	  "[-c|--capacity N] [-b|--base N] [--policy lowest|cyclic|spread] [--mode OCTAL]"
	  " [--no-owners]" },
	{ "allocate", "n:", allocate_opts, allocate_check, allocate_validate, allocate_run,
	  CMD_POOL | CMD_AUTOCREATE | CMD_JSON,
	  "[-n|--count K] [--in MIN-MAX] [--id N] [--block COUNT [--align A]]"
	  " [--owner PID] [--no-owners] [--holder NAME --ttl MS]" },
	{ "free", "", free_opts, free_check, free_validate, free_run, CMD_POOL | CMD_JSON,
	  "ID... | --block FIRST COUNT | - | --owner PID" },
	{ "test", "", json_opts, test_check, test_validate, test_run,
	  CMD_POOL | CMD_TEST_STATUS | CMD_JSON | CMD_RDONLY, "ID" },
	{ "chown", "", json_opts, chown_check, chown_validate, chown_run, CMD_POOL | CMD_JSON,
	  "ID PID" },
	{ "list", "", list_opts, no_args, validate_geometry, list_run,
	  CMD_POOL | CMD_JSON | CMD_RDONLY, "[--owner PID]" },
	{ "stat", "", json_opts, no_args, validate_none, stat_run,
	  CMD_POOL | CMD_JSON | CMD_RDONLY, "" },
	{ "map", "", json_opts, no_args, validate_geometry, map_run,
	  CMD_POOL | CMD_JSON | CMD_RDONLY, "" },
	{ "reclaim", "", json_opts, no_args, validate_none, reclaim_run, CMD_POOL | CMD_JSON,
	  "" },
	{ "pools", "", json_opts, no_args, validate_none, pools_run, CMD_JSON, "" },
	{ "export", "", json_opts, no_args, validate_geometry, export_run,
	  CMD_POOL | CMD_JSON | CMD_RDONLY, "> FILE.json   (always JSON)" },
	{ "import", "f", import_opts, import_check, import_validate, import_run,
	  CMD_POOL | CMD_AUTOCREATE | CMD_JSON, "[-f|--force] [--owner PID] [--mode OCTAL] < FILE.json" },
	{ "destroy", "f", destroy_opts, no_args, validate_none, destroy_run, CMD_JSON,
	  "[-f|--force]" },
	{ "renew", "", renew_opts, renew_check, validate_none, renew_run, CMD_POOL | CMD_JSON,
	  "--holder NAME --ttl MS" },
};

#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "Usage: %s [-p|--pool NAME] [--file PATH] [--json] COMMAND [ARGS]\n", PROG);
	for (i = 0; i < NCMDS; i++)
		fprintf(f, "  %s%*s%s\n", cmds[i].name,
			*cmds[i].usage ? 10 - (int)strlen(cmds[i].name) : 0, "", cmds[i].usage);
	fprintf(f, "\n"
		"The pool is --pool NAME, else $NUMBALLOC_POOL, else \"%s\" (in /dev/shm),\n"
		"or a URL redis://[USER[:PASSWORD]@]HOST[:PORT]/POOL[?db=N] (see numballoc_redis(7));\n"
		"--file PATH uses a regular file instead. allocate creates a missing pool\n"
		"with capacity %" PRIu64 " and base %" PRIu64 ".\n"
		"Pools the tool creates record owners (unless --no-owners): allocate's holder\n"
		"is --owner PID, else the process that ran it (in a pipeline: use --owner $$).\n"
		"--json: on every command that prints. Numbers are decimal or 0x hex.\n"
		"Exit status: 0 success, 1 runtime error, 2 usage error, 3 pool exhausted,\n"
		"4 conflict, 5 create: the pool exists with other parameters;\n"
		"test: 0 allocated, 1 free, 2 error.\n"
		"  -h, --help     show this help\n"
		"  -V, --version  show the version\n"
		"See numballoc-cli(1).\n", DEFAULT_POOL, DEFAULT_CAPACITY, DEFAULT_BASE);
}

static const struct cmd *find_cmd(const char *name)
{
	size_t i;

	for (i = 0; i < NCMDS; i++)
		if (!strcmp(cmds[i].name, name))
			return &cmds[i];
	return NULL;
}

/* getopt_long's '?' (unknown option) or ':' (missing value), reported: EXIT_USAGE. */
static int opt_error(const char *cmdname, int opt, char **argv)
{
	char what[96];
	const char *arg = argv[optind - 1];
	int i;

	/* "-1" is a negative number, not an unknown option "-1". */
	if (opt == '?' && optopt >= '0' && optopt <= '9') {
		for (i = 1; argv[i]; i++)
			if (argv[i][0] == '-' && argv[i][1] >= '0' && argv[i][1] <= '9')
				return fail(EXIT_USAGE, argv[i], "IDs are not negative");
	}

	/* A long option is named as written, a short one by its letter ("-xy"). */
	if (!strncmp(arg, "--", 2) || optopt <= 0 || optopt >= 256)
		snprintf(what, sizeof(what), "%s%s%.*s", cmdname ? cmdname : "",
			 cmdname ? " " : "", (int)strcspn(arg, "="), arg);
	else
		snprintf(what, sizeof(what), "%s%s-%c", cmdname ? cmdname : "",
			 cmdname ? " " : "", optopt);
	return usage_fail(what, opt == ':' ? "option needs a value" : "unknown option");
}

/* Global options; *HELP set by --help or --version. An exit status. */
static int parse_global(struct ctx *c, int argc, char **argv, int *done)
{
	static const struct option opts[] = {
		{ "pool", required_argument, NULL, 'p' },
		{ "file", required_argument, NULL, OPT_FILE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:p:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			c->name = optarg;
			break;
		case OPT_FILE:
			if (!*optarg)
				return usage_fail("--file", "empty path");
			c->path = optarg;
			break;
		case OPT_JSON:
			c->json = 1;
			break;
		case 'h':
			usage(stdout);
			*done = 1;
			return EXIT_OK;
		case 'V':
			printf("%s (%s) %s\n", PROG, PACKAGE_NAME, PACKAGE_VERSION);
			*done = 1;
			return EXIT_OK;
		default:
			return opt_error(NULL, opt, argv);
		}
	}
	if (c->name && c->path)
		return usage_fail("--file", "cannot be combined with --pool");
	if (!c->path && !c->name) {
		c->name = getenv("NUMBALLOC_POOL");
		if (!c->name || !*c->name)
			c->name = DEFAULT_POOL;
	}
	return c->path ? EXIT_OK : check_name(c->name);
}

/* The command's options and arguments, ARGV[0] being its name. */
static int parse_command(struct ctx *c, int argc, char **argv)
{
	char shortopts[32];
	int opt, r;

	snprintf(shortopts, sizeof(shortopts), ":%s", c->cmd->shortopts);
	optind = 0;	/* glibc: start a new scan */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, shortopts, c->cmd->longopts, NULL)) != -1) {
		if (opt == '?' || opt == ':')
			return opt_error(c->cmd->name, opt, argv);
		r = cmd_option(c, opt, optarg);
		if (r)
			return r;
	}
	c->args = argv + optind;
	c->nargs = argc - optind;
	return EXIT_OK;
}

static int run(struct ctx *c, int argc, char **argv)
{
	int done = 0, r;

	r = parse_global(c, argc, argv, &done);
	if (r || done)
		return r;
	if (optind >= argc) {
		usage(stderr);
		return usage_fail("COMMAND", "missing (see --help)");
	}
	c->cmd = find_cmd(argv[optind]);
	if (!c->cmd)
		return fail(EXIT_USAGE, argv[optind], "unknown command (see --help)");
	current = c->cmd;
	r = parse_command(c, argc - optind, argv + optind);
	if (r)
		return r;
	if (c->json && !(c->cmd->flags & CMD_JSON))
		return usage_fail("--json", "this command prints nothing");
	r = c->cmd->check(c);
	if (r)
		return r;
	if (c->cmd->flags & CMD_POOL) {
		r = open_pool(c);
		if (!r)
			r = c->cmd->validate(c);
		if (r)
			return r;
	}
	return c->cmd->run(c);
}

int main(int argc, char **argv)
{
	struct ctx c;
	int r;

	memset(&c, 0, sizeof(c));
	r = run(&c, argc, argv);
	numballoc_close(c.pool);
	free(c.ids);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "%s: standard output: %s\n", PROG, strerror(errno));
		if (r == EXIT_OK)
			r = EXIT_RUNTIME;
	}
	return r;
}
