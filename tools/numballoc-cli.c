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
 * Exit statuses: EXIT_OK 0, EXIT_RUNTIME 1, EXIT_USAGE 2, EXIT_EXHAUSTED 3,
 * EXIT_CONFLICT 4; "test" exits 0 allocated, 1 free, 2 on any error.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	int owners;		/* create --owners */
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
	if (len == 0 || len > NUMBALLOC_NAME_MAX || strchr(n, '/') || !strcmp(n, ".") ||
	    !strcmp(n, ".."))
		return usage_fail("--pool",
				  "a pool name is 1 to 200 characters, no '/' but a leading one");
	return EXIT_OK;
}

/* ------------------------------------------------------------ options */

/* --owner PID: a positive process ID. */
static int parse_pid(const char *s, pid_t *pid)
{
	uint64_t v;

	if (parse_u64(s, &v) || v == 0 || v > 0x7fffffff)
		return usage_fail("--owner", "expected a process ID (a positive number)");
	*pid = (pid_t)v;
	return EXIT_OK;
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
	{ NULL, 0, NULL, 0 },
};

static const struct option allocate_opts[] = {
	{ "count", required_argument, NULL, 'n' },
	{ "in", required_argument, NULL, OPT_IN },
	{ "id", required_argument, NULL, OPT_ID },
	{ "block", required_argument, NULL, OPT_BLOCK },
	{ "align", required_argument, NULL, OPT_ALIGN },
	{ "owner", required_argument, NULL, OPT_OWNER },
	{ "holder", required_argument, NULL, OPT_HOLDER },
	{ "ttl", required_argument, NULL, OPT_TTL },
	{ NULL, 0, NULL, 0 },
};

static const struct option renew_opts[] = {
	{ "holder", required_argument, NULL, OPT_HOLDER },
	{ "ttl", required_argument, NULL, OPT_TTL },
	{ NULL, 0, NULL, 0 },
};

static const struct option free_opts[] = {
	{ "block", no_argument, NULL, OPT_BLOCK },
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
	{ NULL, 0, NULL, 0 },
};

static const struct option no_opts[] = {
	{ NULL, 0, NULL, 0 },
};

/* ------------------------------------------------------------ the pool */

static const char *pool_what(const struct ctx *c, char *buf, size_t len)
{
	/* a password in a URL (scheme://user:password@host/...) is not printed */
	const char *auth = c->name && strstr(c->name, "://") ? strstr(c->name, "://") + 3 : NULL;
	size_t n = auth ? strcspn(auth, "/") : 0;
	const char *at = auth ? memchr(auth, '@', n) : NULL;
	const char *pw = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;

	if (c->path)
		snprintf(buf, len, "file %s", c->path);
	else if (pw)
		snprintf(buf, len, "pool %.*s:***%s", (int)(pw - c->name), c->name, at);
	else
		snprintf(buf, len, "pool %s", c->name);
	return buf;
}

static int pool_fail(const struct ctx *c, int err)
{
	char what[4200];

	return fail(EXIT_RUNTIME, pool_what(c, what, sizeof(what)), "%s",
		    numballoc_strerror(err));
}

static int open_with(struct ctx *c, const struct numballoc_opts *o)
{
	return numballoc_open(c->path ? NULL : c->name, o, &c->pool);
}

/*
 * Fill c->geo from the open pool, once. Only commands that check numbers
 * ask: numballoc_stat() counts the words, and a plain allocate should not
 * pay for that.
 */
static int geometry(struct ctx *c)
{
	struct numballoc_stat st;
	int r;

	if (c->have_geo)
		return EXIT_OK;
	r = numballoc_stat(c->pool, &st);
	if (r < 0)
		return pool_fail(c, r);
	c->geo.capacity = st.capacity;
	c->geo.base = st.base;
	c->geo.free = st.free;
	c->have_geo = 1;
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
	o.capacity = DEFAULT_CAPACITY;
	o.base = DEFAULT_BASE;
	/* allocate --owner on a missing pool: one that keeps owners */
	o.flags = NUMBALLOC_CREATE | (c->have_owner ? NUMBALLOC_OWNERS : 0);
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
	return no_args(c);
}

static int create_run(struct ctx *c)
{
	struct numballoc_opts o;
	int r;

	memset(&o, 0, sizeof(o));
	o.path = c->path;
	o.capacity = c->capacity;
	o.base = c->base;
	o.policy = c->policy;
	o.mode = c->mode;
	o.flags = NUMBALLOC_CREATE | NUMBALLOC_EXCL | (c->owners ? NUMBALLOC_OWNERS : 0);
	r = open_with(c, &o);
	if (r < 0)
		return pool_fail(c, r);
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
	printf("%" PRIu64 "\n", n);
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

/* COUNT IDs or none: on failure, the ones taken are given back. */
static int allocate_count(struct ctx *c)
{
	uint64_t *ids, i, j;
	int r;

	/*
	 * Clearly too few free: fail before taking any, so that others do not
	 * find IDs held for a moment by an allocate that gives them back.
	 */
	if (!c->have_in && c->have_geo && c->count > c->geo.free)
		return lib_fail(-ENOSPC, "allocate");
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
	for (i = 0; i < c->count; i++)
		printf("%" PRIu64 "\n", ids[i]);
	free(ids);
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
				    "the pool keeps no owners (create it with --owners)");
		snprintf(what, sizeof(what), "--owner %ld", (long)c->owner);
		if (r < 0)
			return lib_fail(r, what);
	} else if (!c->holder && numballoc_set_owner(c->pool, getpid()) == 0) {
		/* The tool exits at once: it cannot be the holder of what it hands out. */
		return fail(EXIT_USAGE, "allocate",
			    "the pool records owners: name the holder with --owner PID (a script: --owner $$)");
	}
	if (c->have_id) {
		r = numballoc_alloc_id(c->pool, c->id);
		snprintf(what, sizeof(what), "allocate --id %" PRIu64, c->id);
		if (r == -EEXIST)
			return fail(EXIT_CONFLICT, what, "%s", numballoc_strerror(r));
		if (r < 0)
			return lib_fail(r, what);
		printf("%" PRIu64 "\n", c->id);
		return EXIT_OK;
	}
	if (c->have_block) {
		r = numballoc_alloc_block(c->pool, c->block, c->have_align ? c->align : 1, &first);
		if (r < 0)
			return lib_fail(r, "allocate --block");
		printf("%" PRIu64 "\n", first);
		return EXIT_OK;
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

static int free_run(struct ctx *c)
{
	char what[64];
	int r, status = EXIT_OK;
	size_t i;

	if (c->have_block) {
		r = numballoc_free_block(c->pool, c->id, c->count);
		snprintf(what, sizeof(what), "free --block %" PRIu64 " %" PRIu64, c->id, c->count);
		if (r == -ENOENT)
			return fail(EXIT_CONFLICT, what, "%s", numballoc_strerror(r));
		return r < 0 ? lib_fail(r, what) : EXIT_OK;
	}
	for (i = 0; i < c->nids; i++) {
		r = numballoc_free(c->pool, c->ids[i]);
		if (r == 0)
			continue;
		snprintf(what, sizeof(what), "free %" PRIu64, c->ids[i]);
		if (r == -ENOENT) {
			fail(EXIT_CONFLICT, what, "%s", numballoc_strerror(r));
			if (status == EXIT_OK)
				status = EXIT_CONFLICT;
		} else {
			status = lib_fail(r, what);
		}
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
	int r = numballoc_test(c->pool, c->id);

	if (r < 0) {
		snprintf(what, sizeof(what), "test %" PRIu64, c->id);
		return fail(EXIT_USAGE, what, "%s", numballoc_strerror(r));
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
			    "the pool keeps no owners (create it with --owners)");
	if (!c->json) {
		if (c->have_owner)
			for_each_owned_run(c, c->owner, print_owned, NULL);
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

static int reclaim_run(struct ctx *c)
{
	uint64_t n;
	int r = numballoc_reclaim(c->pool, &n);

	if (r == -EOPNOTSUPP)
		return fail(EXIT_RUNTIME, "reclaim",
			    "the pool keeps no owners (create it with --owners)");
	if (r < 0)
		return pool_fail(c, r);
	printf("%" PRIu64 "\n", n);
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
	int r = numballoc_stat(c->pool, &st);

	if (r < 0)
		return pool_fail(c, r);
	if (!c->json) {
		printf("%-17s %s\n", c->path ? "file:" : "pool:", c->path ? c->path : c->name);
		printf("%-17s %" PRIu64 "\n", "capacity:", st.capacity);
		printf("%-17s %" PRIu64 "\n", "base:", st.base);
		printf("%-17s %" PRIu64 "\n", "used:", st.used);
		printf("%-17s %" PRIu64 "\n", "free:", st.free);
		printf("%-17s %" PRIu64 "\n", "largest free run:", st.largest_free_run);
		printf("%-17s %s\n", "policy:", policy_name(st.policy));
		printf("%-17s %s\n", "owners:", st.flags & NUMBALLOC_OWNERS ? "yes" : "no");
		return EXIT_OK;
	}
	printf("{\"pool\": ");
	if (c->path)
		printf("null");
	else
		json_string(c->name);
	printf(", \"file\": ");
	if (c->path)
		json_string(c->path);
	else
		printf("null");
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
	return c->path ? c->path : c->name;
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
	return EXIT_OK;
}

/* ------------------------------------------------------------ commands */

static const struct cmd cmds[] = {
	{ "create", "c:b:", create_opts, create_check, validate_none, create_run, 0,
	  "[-c|--capacity N] [-b|--base N] [--policy lowest|cyclic|spread] [--mode OCTAL]"
	  " [--owners]" },
	{ "allocate", "n:", allocate_opts, allocate_check, allocate_validate, allocate_run,
	  CMD_POOL | CMD_AUTOCREATE,
	  "[-n|--count K] [--in MIN-MAX] [--id N] [--block COUNT [--align A]]"
	  " [--owner PID] [--holder NAME --ttl MS]" },
	{ "free", "", free_opts, free_check, free_validate, free_run, CMD_POOL,
	  "ID... | --block FIRST COUNT | -" },
	{ "test", "", no_opts, test_check, test_validate, test_run,
	  CMD_POOL | CMD_TEST_STATUS, "ID" },
	{ "list", "", list_opts, no_args, validate_geometry, list_run, CMD_POOL | CMD_JSON,
	  "[--owner PID] [--json]" },
	{ "stat", "", json_opts, no_args, validate_none, stat_run, CMD_POOL | CMD_JSON,
	  "[--json]" },
	{ "map", "", no_opts, no_args, validate_geometry, map_run, CMD_POOL, "" },
	{ "destroy", "f", destroy_opts, no_args, validate_none, destroy_run, 0,
	  "[-f|--force]" },
	{ "reclaim", "", no_opts, no_args, validate_none, reclaim_run, CMD_POOL, "" },
	{ "renew", "", renew_opts, renew_check, validate_none, renew_run, CMD_POOL,
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
		"with capacity %" PRIu64 " and base %" PRIu64 ". Numbers are decimal or 0x hex.\n"
		"Exit status: 0 success, 1 runtime error, 2 usage error, 3 pool exhausted,\n"
		"4 conflict; test: 0 allocated, 1 free, 2 error.\n"
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
		return usage_fail("--json", "only list and stat print JSON");
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
