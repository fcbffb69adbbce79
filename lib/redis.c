/* SPDX-License-Identifier: MIT */
/*
 * redis.c - an ID pool in Redis: the second home behind backend.h, for
 * pools that span hosts. Every operation is one FCALL of the Redis 7
 * function in redis.lua (loaded with FUNCTION LOAD the first time a server
 * says it does not have it), so it is one atomic step on the server and
 * one round trip: this file never reads a value to write it back.
 *
 * The URL: redis://[USER[:PASSWORD]@]HOST[:PORT]/POOL[?OPTION&...], %XX
 * escapes allowed in USER, PASSWORD and POOL, and the options
 *	db=N		SELECT N first (default 0)
 *	timeout=MS	connect and reply timeout (default 5000)
 *	wait=N		after each change, WAIT for N replicas (default 0)
 *	wait_timeout=MS	how long WAIT waits (default: timeout)
 *
 * A handle is one connection, used by one thread at a time (a mutex), and
 * a client token. A changing request carries the token and a sequence
 * number; the script records the last reply per token, so when a reply is
 * lost (timeout, connection reset) the same request is sent once more on a
 * new connection and answered from the record: it is never done twice.
 *
 * Errors (the errno of each, also in numballoc_redis(7)):
 *	connection refused		-ECONNREFUSED
 *	timeout (connect or reply)	-ETIMEDOUT
 *	connection lost twice		-ECONNRESET
 *	host not found or unreachable	-EHOSTUNREACH (or the connect errno)
 *	AUTH refused, NOAUTH, NOPERM	-EACCES
 *	a key holds another type	-NUMBALLOC_EKIND
 *	another pool's parameters	-EINVAL
 *	pool removed since this open	-ESTALE
 *	bad pool keys (sizes)		-NUMBALLOC_ECORRUPT
 *	a pool of another stored layout	-NUMBALLOC_EVERSION (version 1: numballoc_1)
 *	server out of memory		-ENOMEM
 *	a read-only replica		-EROFS
 *	WAIT not satisfied		-ETIMEDOUT (an allocation is undone first)
 *	any other server error		-EIO
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "backend.h"
#include "numballoc.h"

/* The script, from redis.lua at build time. */
static const char script[] =
#include "redis-lua.h"
	;

/*
 * Capacity of a Redis pool: a Redis string holds at most 512 MiB = 2^32
 * bits, and the pool's string starts with its header, record slots and
 * summary (at most 14400 bytes, redis.lua): 2^32 - 2^17 bits are left.
 */
#define REDIS_CAPACITY_MAX ((UINT64_C(1) << 32) - (UINT64_C(1) << 17))
#define DEFAULT_TIMEOUT_MS 5000
#define HOLDER_MAX 200
#define TTL_MAX (UINT64_C(1) << 40)

enum { K_META, K_IDS, K_LEASES, K_EXP, K_REQ, NKEYS };
static const char *const key_suffix[NKEYS] = { "meta", "ids", "leases", "exp", "req:" };
#define FUNCTION "numballoc_2"	/* the library's function: the stored layout's version 2 */

struct url {
	char *host;
	int port;
	char *user;		/* NULL: no user (AUTH PASSWORD) */
	char *pass;		/* NULL: no AUTH */
	char *pool;		/* the pool's name, decoded */
	unsigned int db;
	unsigned int timeout_ms;
	unsigned int wait;	/* replicas to WAIT for; 0: none */
	unsigned int wait_ms;
};

struct rp {
	pthread_mutex_t lock;	/* one request at a time on the connection */
	struct url u;
	redisContext *rc;	/* NULL after an I/O error: reconnected on the next call */
	char *keys[NKEYS];	/* the pool's keys; K_REQ has this handle's token */
	char gen[25];		/* the pool's layout and generation, from open (opaque) */
	char slot[8];		/* this handle's request record slot, from open ("0" before) */
	char tok[2][12];	/* the token's high and low 32 bits, decimal */
	uint32_t seq;		/* the last changing request's number (wraps) */
	char holder[HOLDER_MAX + 1];	/* "" none */
	uint64_t ttl_ms;
	struct nb_backend_info info;
	uint64_t hint;		/* SPREAD: where this handle's next search starts */
};

/* ------------------------------------------------------------ the URL */

static void url_free(struct url *u)
{
	free(u->host);
	free(u->user);
	free(u->pass);
	free(u->pool);
	memset(u, 0, sizeof(*u));
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* S[0..N) with %XX decoded, in a new string: NULL on a bad escape or a NUL. */
static char *decode(const char *s, size_t n)
{
	char *d = malloc(n + 1), *o = d;
	size_t i;

	if (!d)
		return NULL;
	for (i = 0; i < n; i++) {
		if (s[i] != '%') {
			*o++ = s[i];
			continue;
		}
		if (i + 2 >= n || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0 ||
		    (hexval(s[i + 1]) | hexval(s[i + 2])) == 0) {
			free(d);
			return NULL;
		}
		*o++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
		i += 2;
	}
	*o = 0;
	return d;
}

/* A decimal number in [MIN, MAX] of S[0..N): 0 or -EINVAL. */
static int number(const char *s, size_t n, unsigned long min, unsigned long max,
		  unsigned int *v)
{
	unsigned long x = 0;
	size_t i;

	if (n == 0 || n > 9)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		x = x * 10 + (unsigned long)(s[i] - '0');
	}
	if (x < min || x > max)
		return -EINVAL;
	*v = (unsigned int)x;
	return 0;
}

static int url_option(struct url *u, const char *s, size_t n)
{
	const char *eq = memchr(s, '=', n);
	size_t k;

	if (!eq)
		return -EINVAL;
	k = (size_t)(eq - s);
	s += k + 1;
	n -= k + 1;
	if (k == 2 && !strncmp(eq - k, "db", k))
		return number(s, n, 0, 1000000, &u->db);
	if (k == 7 && !strncmp(eq - k, "timeout", k))
		return number(s, n, 1, 3600000, &u->timeout_ms);
	if (k == 4 && !strncmp(eq - k, "wait", k))
		return number(s, n, 0, 1000, &u->wait);
	if (k == 12 && !strncmp(eq - k, "wait_timeout", k))
		return number(s, n, 1, 3600000, &u->wait_ms);
	return -EINVAL;
}

/* A pool name: 1 to NUMBALLOC_NAME_MAX bytes, no '/', no braces (the hash tag), no NUL. */
static int pool_name_ok(const char *p)
{
	size_t n = strlen(p);

	return n >= 1 && n <= NUMBALLOC_NAME_MAX && !strpbrk(p, "/{}");
}

static int url_parse(const char *url, struct url *u)
{
	const char *s = url + strlen("redis://"), *at, *slash, *q, *hp, *colon;
	unsigned int port = 6379;

	memset(u, 0, sizeof(*u));
	u->timeout_ms = DEFAULT_TIMEOUT_MS;
	if (strncmp(url, "redis://", 8))
		return -EINVAL;
	slash = strchr(s, '/');
	if (!slash)
		return -EINVAL;
	at = memchr(s, '@', (size_t)(slash - s));
	hp = s;
	if (at) {
		colon = memchr(s, ':', (size_t)(at - s));
		if (colon) {
			if (colon > s)
				u->user = decode(s, (size_t)(colon - s));
			u->pass = decode(colon + 1, (size_t)(at - colon - 1));
			if ((colon > s && !u->user) || !u->pass)
				goto bad;
		} else {
			/* redis://PASSWORD@host, as redis-cli -u reads it */
			u->pass = decode(s, (size_t)(at - s));
			if (!u->pass)
				goto bad;
		}
		hp = at + 1;
	}
	colon = memchr(hp, ':', (size_t)(slash - hp));
	if (colon) {
		if (number(colon + 1, (size_t)(slash - colon - 1), 1, 65535, &port) < 0)
			goto bad;
	} else {
		colon = slash;
	}
	if (colon == hp)
		goto bad;
	u->host = strndup(hp, (size_t)(colon - hp));
	u->port = (int)port;
	q = strchr(slash + 1, '?');
	u->pool = decode(slash + 1, q ? (size_t)(q - slash - 1) : strlen(slash + 1));
	if (!u->host || !u->pool || !pool_name_ok(u->pool))
		goto bad;
	while (q && *q) {
		const char *o = q + 1, *amp = strchr(o, '&');
		size_t n = amp ? (size_t)(amp - o) : strlen(o);

		if (url_option(u, o, n) < 0)
			goto bad;
		q = amp;
	}
	if (!u->wait_ms)
		u->wait_ms = u->timeout_ms;
	return 0;
bad:
	url_free(u);
	return -EINVAL;
}

/* ------------------------------------------------------------ the connection */

/* An errno for a failed connection or request on C, from what hiredis kept. */
static int io_error(const redisContext *c, int saved_errno)
{
	if (!c)
		return -ENOMEM;
	switch (c->err) {
	case REDIS_ERR_IO:
		if (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK || saved_errno == EINPROGRESS)
			return -ETIMEDOUT;
		return saved_errno ? -saved_errno : -EIO;
	case REDIS_ERR_EOF:
		return -ECONNRESET;
	case REDIS_ERR_OOM:
		return -ENOMEM;
	case REDIS_ERR_OTHER:
		/* hiredis says "Connection timed out" or a resolver's message */
		if (strstr(c->errstr, "timed out"))
			return -ETIMEDOUT;
		if (strstr(c->errstr, "refused"))
			return -ECONNREFUSED;
		return -EHOSTUNREACH;
	default:
		return -EIO;
	}
}

/* An errno for an error reply of the server. */
static int reply_error(const char *s)
{
	if (!strncmp(s, "NOAUTH", 6) || !strncmp(s, "WRONGPASS", 9) || !strncmp(s, "NOPERM", 6) ||
	    strstr(s, "invalid password") || strstr(s, "invalid username") ||
	    strstr(s, "unauthenticated"))	/* Redis 7 refuses long requests before AUTH */
		return -EACCES;
	if (strstr(s, "WRONGTYPE"))
		return -NUMBALLOC_EKIND;
	if (!strncmp(s, "OOM", 3) || strstr(s, "OOM command not allowed"))
		return -ENOMEM;
	if (!strncmp(s, "READONLY", 8))
		return -EROFS;
	if (!strncmp(s, "LOADING", 7) || !strncmp(s, "MASTERDOWN", 10) ||
	    !strncmp(s, "TRYAGAIN", 8))
		return -EAGAIN;
	if (!strncmp(s, "BUSY", 4))
		return -EBUSY;
	return -EIO;
}

/* Run ARGV on C, one reply: 0 and *OUT, or a negative errno (an error reply mapped). */
static int command(redisContext *c, int argc, const char **argv, const size_t *len,
		   redisReply **out)
{
	redisReply *r;
	int e;

	errno = 0;
	r = redisCommandArgv(c, argc, argv, len);
	e = errno;
	if (!r)
		return io_error(c, e);
	if (r->type == REDIS_REPLY_ERROR) {
		e = reply_error(r->str);
		freeReplyObject(r);
		return e;
	}
	*out = r;
	return 0;
}

static int simple(redisContext *c, int argc, const char **argv)
{
	redisReply *r = NULL;
	int e = command(c, argc, argv, NULL, &r);

	if (e == 0)
		freeReplyObject(r);
	return e;
}

static void disconnect(struct rp *p)
{
	if (p->rc)
		redisFree(p->rc);
	p->rc = NULL;
}

/* Connect, AUTH and SELECT: 0 or a negative errno, nothing kept on error. */
static int connect_rp(struct rp *p)
{
	struct timeval tv = { p->u.timeout_ms / 1000, (p->u.timeout_ms % 1000) * 1000 };
	char db[16];
	const char *argv[3];
	int e;

	errno = 0;
	p->rc = redisConnectWithTimeout(p->u.host, p->u.port, tv);
	e = errno;
	if (!p->rc || p->rc->err) {
		e = io_error(p->rc, e);
		disconnect(p);
		return e;
	}
	if (redisSetTimeout(p->rc, tv) != REDIS_OK) {
		disconnect(p);
		return -EIO;
	}
	if (p->u.pass) {
		argv[0] = "AUTH";
		argv[1] = p->u.user ? p->u.user : p->u.pass;
		argv[2] = p->u.pass;
		e = simple(p->rc, p->u.user ? 3 : 2, argv);
		if (e == -EIO)	/* "ERR AUTH <password> called without any password configured" */
			e = -EACCES;
		if (e < 0)
			goto fail;
	}
	if (p->u.db) {
		snprintf(db, sizeof(db), "%u", p->u.db);
		argv[0] = "SELECT";
		argv[1] = db;
		e = simple(p->rc, 2, argv);
		if (e == -EIO)
			e = -EINVAL;	/* no such database */
		if (e < 0)
			goto fail;
	}
	return 0;
fail:
	disconnect(p);
	return e;
}

/* ------------------------------------------------------------ requests */

#define MAXARGS (3 + NKEYS + 8 + 8)	/* FCALL name nkeys, keys; op gen seq holder ttl slot tok[2]; args[8] */

struct req {
	const char *op;
	int changes;		/* a changing request: numbered, recorded, WAITed for */
	int nargs;
	char args[8][24];	/* the op's arguments, decimal */
};

static void req_arg(struct req *q, uint64_t v)
{
	snprintf(q->args[q->nargs++], sizeof(q->args[0]), "%" PRIu64, v);
}

/* The status word of a script reply: 0, or a negative errno. */
static int status_of(const redisReply *r)
{
	static const struct {
		const char *name;
		int err;
	} names[] = {
		{ "OK", 0 }, { "ENOSPC", -ENOSPC }, { "EEXIST", -EEXIST }, { "ENOENT", -ENOENT },
		{ "EINVAL", -EINVAL }, { "ESTALE", -ESTALE }, { "EKIND", -NUMBALLOC_EKIND },
		{ "ECORRUPT", -NUMBALLOC_ECORRUPT }, { "EVERSION", -NUMBALLOC_EVERSION },
	};
	size_t i;

	if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
	    r->element[0]->type != REDIS_REPLY_STRING)
		return -EIO;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(r->element[0]->str, names[i].name))
			return names[i].err;
	return -EIO;
}

/* Element I of a script reply as an integer. */
static int reply_u64(const redisReply *r, size_t i, uint64_t *v)
{
	const redisReply *e;
	char *end;

	if (r->elements <= i)
		return -EIO;
	e = r->element[i];
	if (e->type == REDIS_REPLY_INTEGER && e->integer >= 0) {
		*v = (uint64_t)e->integer;
		return 0;
	}
	if (e->type != REDIS_REPLY_STRING || !e->len)
		return -EIO;
	errno = 0;
	*v = strtoull(e->str, &end, 10);
	return errno || *end ? -EIO : 0;
}

/* Load the function library (again: REPLACE), for a server that lacks it. */
static int load_library(struct rp *p)
{
	const char *argv[4] = { "FUNCTION", "LOAD", "REPLACE", script };

	return simple(p->rc, 4, argv);
}

/*
 * Send Q once on the connection: FCALL (after FUNCTION LOAD when the
 * server does not have the function), then WAIT when it changes and wait
 * is set, pipelined, so both go in one write. 0 and *OUT; -ETIMEDOUT when WAIT fell short (the
 * reply is in *OUT all the same); else a negative errno.
 */
static int send_once(struct rp *p, const struct req *q, const char *seq, redisReply **out,
		     int *io)
{
	const char *argv[MAXARGS];
	char ttl[24], wn[16], wms[16];
	int argc = 0, i, e, wait = q->changes && p->u.wait, loaded = 0;
	redisReply *r = NULL, *w = NULL;

	*io = 0;
	if (!p->rc) {
		e = connect_rp(p);
		if (e < 0) {
			*io = 1;
			return e;
		}
	}
	snprintf(ttl, sizeof(ttl), "%" PRIu64, p->ttl_ms);
	argv[argc++] = "FCALL";
	argv[argc++] = FUNCTION;
	argv[argc++] = "5";
	for (i = 0; i < NKEYS; i++)
		argv[argc++] = p->keys[i];
	argv[argc++] = q->op;
	argv[argc++] = p->gen;
	argv[argc++] = seq;
	argv[argc++] = p->holder;
	argv[argc++] = ttl;
	argv[argc++] = p->slot;
	argv[argc++] = p->tok[0];
	argv[argc++] = p->tok[1];
	for (i = 0; i < q->nargs; i++)
		argv[argc++] = q->args[i];
	for (;;) {
		redisAppendCommandArgv(p->rc, argc, argv, NULL);
		if (wait) {
			const char *wargv[3] = { "WAIT", wn, wms };

			snprintf(wn, sizeof(wn), "%u", p->u.wait);
			snprintf(wms, sizeof(wms), "%u", p->u.wait_ms);
			redisAppendCommandArgv(p->rc, 3, wargv, NULL);
		}
		errno = 0;
		if (redisGetReply(p->rc, (void **)&r) != REDIS_OK ||
		    (wait && redisGetReply(p->rc, (void **)&w) != REDIS_OK)) {
			e = io_error(p->rc, errno);
			if (r)
				freeReplyObject(r);
			disconnect(p);
			*io = 1;
			return e;
		}
		if (r->type == REDIS_REPLY_ERROR && strstr(r->str, "Function not found") &&
		    !loaded) {
			/* a new server, or one that lost it: load, and the same call again */
			freeReplyObject(r);
			if (w)
				freeReplyObject(w);
			r = w = NULL;
			loaded = 1;
			e = load_library(p);
			if (e < 0)
				return e;
			continue;
		}
		break;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		e = reply_error(r->str);
		freeReplyObject(r);
		if (w)
			freeReplyObject(w);
		return e;
	}
	*out = r;
	e = 0;
	if (w) {
		if (w->type != REDIS_REPLY_INTEGER || w->integer < (long long)p->u.wait)
			e = -ETIMEDOUT;
		freeReplyObject(w);
	}
	return e;
}

/* call(): done, but fewer replicas than asked for confirmed it within wait_timeout */
#define WAIT_SHORT 1

/*
 * Run Q: 0 and the script's reply in *OUT (status "OK"), WAIT_SHORT and
 * the reply when WAIT fell short, or a negative errno. A lost connection
 * is made again and the same request sent once more; the server's record
 * answers it if the first one ran.
 */
static int call(struct rp *p, const struct req *q, redisReply **out)
{
	char seq[24] = "r";	/* "r": sent again (seq + 1 the first time) */
	redisReply *r = NULL;
	int e, io, tries;

	if (q->changes)
		snprintf(seq + 1, sizeof(seq) - 1, "%" PRIu32, ++p->seq);
	for (tries = 0;; tries++) {
		e = send_once(p, q, q->changes && !tries ? seq + 1 : q->changes ? seq : "", &r,
			      &io);
		if (!io || tries == 1)
			break;
	}
	if (io || !r)
		return e;
	if (e == -ETIMEDOUT) {
		/* WAIT fell short: the caller undoes what it must */
		int s = status_of(r);

		if (s < 0) {
			freeReplyObject(r);
			return s;
		}
		*out = r;
		return WAIT_SHORT;
	}
	e = status_of(r);
	if (e < 0) {
		freeReplyObject(r);
		return e;
	}
	*out = r;
	return 0;
}

/*
 * Run a request that allocates: on -ETIMEDOUT from WAIT the FIRST..COUNT
 * it allocated are released again (one more request, not waited for), so
 * the caller is never left holding an unreplicated ID it was told failed.
 */
static int call_alloc(struct rp *p, struct req *q, int first_elem, uint64_t fixed,
		      uint64_t count, uint64_t *first)
{
	redisReply *r = NULL;
	uint64_t b = fixed;
	int e = call(p, q, &r);

	if (e < 0)
		return e;
	if (first_elem && reply_u64(r, 1, &b) < 0) {
		freeReplyObject(r);
		return -EIO;
	}
	freeReplyObject(r);
	if (e == WAIT_SHORT) {
		struct req u = { .op = "release", .changes = 1 };
		unsigned int wait = p->u.wait;

		req_arg(&u, b);
		req_arg(&u, count);
		p->u.wait = 0;
		if (call(p, &u, &r) == 0)
			freeReplyObject(r);
		p->u.wait = wait;
		return -ETIMEDOUT;
	}
	if (first)
		*first = b;
	return 0;
}

/* ------------------------------------------------------------ the backend */

static void rp_free(struct rp *p)
{
	int i;

	disconnect(p);
	for (i = 0; i < NKEYS; i++)
		free(p->keys[i]);
	url_free(&p->u);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static int make_keys(struct rp *p)
{
	uint64_t token;
	int i, n;

	if (getrandom(&token, sizeof(token), 0) != sizeof(token))
		return -EIO;
	for (i = 0; i < NKEYS; i++) {
		n = i == K_REQ ? asprintf(&p->keys[i], "nb:{%s}:%s%016" PRIx64, p->u.pool,
					  key_suffix[i], token)
			       : asprintf(&p->keys[i], "nb:{%s}:%s", p->u.pool, key_suffix[i]);
		if (n < 0) {
			p->keys[i] = NULL;
			return -ENOMEM;
		}
	}
	p->hint = token;
	snprintf(p->tok[0], sizeof(p->tok[0]), "%" PRIu32, (uint32_t)(token >> 32));
	snprintf(p->tok[1], sizeof(p->tok[1]), "%" PRIu32, (uint32_t)token);
	strcpy(p->slot, "0");
	return 0;
}

static int rp_new(const char *url, struct rp **pp)
{
	struct rp *p = calloc(1, sizeof(*p));
	int e;

	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	e = url_parse(url, &p->u);
	if (e == 0)
		e = make_keys(p);
	if (e < 0) {
		rp_free(p);
		return e;
	}
	*pp = p;
	return 0;
}

static int redis_open(const char *url, const struct numballoc_opts *o, void **ctx,
		      struct nb_backend_info *info)
{
	struct req q = { .op = "open" };
	uint64_t gen, v[4] = { 0 }, slot = 0;
	redisReply *r;
	struct rp *p;
	int e, i;

	if (o->capacity > REDIS_CAPACITY_MAX || o->mode || o->path ||
	    (o->flags & NUMBALLOC_OWNERS))
		return (o->flags & NUMBALLOC_OWNERS) ? -EOPNOTSUPP : -EINVAL;
	e = rp_new(url, &p);
	if (e < 0)
		return e;
	if (getrandom(&gen, sizeof(gen), 0) != sizeof(gen)) {
		rp_free(p);
		return -EIO;
	}
	req_arg(&q, o->capacity);
	req_arg(&q, o->base);
	req_arg(&q, o->policy);
	req_arg(&q, 0);
	req_arg(&q, !!(o->flags & NUMBALLOC_CREATE));
	req_arg(&q, !!(o->flags & NUMBALLOC_EXCL));
	snprintf(q.args[q.nargs++], sizeof(q.args[0]), "%016" PRIx64, gen);
	e = call(p, &q, &r);
	if (e < 0) {
		rp_free(p);
		return e;
	}
	for (i = 0; i < 4 && e == 0; i++)
		e = reply_u64(r, (size_t)i + 1, &v[i]);
	if (e == 0 && (r->elements < 7 || r->element[5]->type != REDIS_REPLY_STRING ||
		       r->element[5]->len >= sizeof(p->gen)))
		e = -NUMBALLOC_ECORRUPT;
	if (e == 0 && (reply_u64(r, 6, &slot) < 0 || slot > 65535))
		e = -NUMBALLOC_ECORRUPT;
	if (e == 0 && (v[0] == 0 || v[0] > REDIS_CAPACITY_MAX || v[1] > UINT64_MAX - (v[0] - 1) ||
		       v[2] > NUMBALLOC_SPREAD))
		e = -NUMBALLOC_ECORRUPT;
	if (e < 0) {
		freeReplyObject(r);
		rp_free(p);
		return e == -EIO ? -NUMBALLOC_ECORRUPT : e;
	}
	memcpy(p->gen, r->element[5]->str, r->element[5]->len + 1);
	snprintf(p->slot, sizeof(p->slot), "%" PRIu64, slot);
	freeReplyObject(r);
	p->info.capacity = v[0];
	p->info.base = v[1];
	p->info.policy = (unsigned int)v[2];
	p->info.flags = (unsigned int)v[3];
	p->hint %= p->info.capacity;
	*info = p->info;
	*ctx = p;
	return 0;
}

static void redis_close(void *ctx)
{
	rp_free(ctx);
}

static int redis_unlink(const char *url)
{
	struct req q = { .op = "unlink" };
	redisReply *r;
	struct rp *p;
	int e = rp_new(url, &p);

	if (e < 0)
		return e;
	e = call(p, &q, &r);
	if (e == 0)
		freeReplyObject(r);
	rp_free(p);
	return e;
}

static int redis_info(void *ctx, struct nb_backend_info *info)
{
	struct rp *p = ctx;

	*info = p->info;
	return 0;
}

static int redis_alloc(void *ctx, uint64_t lo, uint64_t hi, uint64_t *bit)
{
	struct req q = { .op = "alloc", .changes = 1 };
	struct rp *p = ctx;
	int e;

	pthread_mutex_lock(&p->lock);
	req_arg(&q, lo);
	req_arg(&q, hi);
	req_arg(&q, p->hint);
	e = call_alloc(p, &q, 1, 0, 1, bit);
	if (e == 0 && p->info.policy == NUMBALLOC_SPREAD)
		p->hint = *bit;
	pthread_mutex_unlock(&p->lock);
	return e;
}

static int redis_alloc_bit(void *ctx, uint64_t bit)
{
	struct req q = { .op = "alloc_bit", .changes = 1 };
	struct rp *p = ctx;
	int e;

	pthread_mutex_lock(&p->lock);
	req_arg(&q, bit);
	e = call_alloc(p, &q, 0, bit, 1, NULL);
	pthread_mutex_unlock(&p->lock);
	return e;
}

static int redis_alloc_run(void *ctx, uint64_t count, uint64_t align, uint64_t *first)
{
	struct req q = { .op = "alloc_run", .changes = 1 };
	struct rp *p = ctx;
	int e;

	pthread_mutex_lock(&p->lock);
	req_arg(&q, count);
	req_arg(&q, align);
	e = call_alloc(p, &q, 1, 0, count, first);
	pthread_mutex_unlock(&p->lock);
	return e;
}

/* A changing request with no result but its status. A WAIT that falls short is not an error here. */
static int simple_change(struct rp *p, struct req *q, uint64_t *count)
{
	redisReply *r;
	int e;

	pthread_mutex_lock(&p->lock);
	e = call(p, q, &r);
	if (e >= 0) {
		/*
		 * A free, renew or reclaim that a replica has not confirmed can
		 * only be lost at a failover: an ID stays allocated (or a lease
		 * ends on time), never handed out twice.
		 */
		e = count ? reply_u64(r, 1, count) : 0;
		freeReplyObject(r);
	}
	pthread_mutex_unlock(&p->lock);
	return e;
}

static int redis_release(void *ctx, uint64_t bit, uint64_t count)
{
	struct req q = { .op = "release", .changes = 1 };
	struct rp *p = ctx;

	req_arg(&q, bit);
	req_arg(&q, count);
	if (p->info.policy == NUMBALLOC_SPREAD && count == 1) {
		/* the next search starts at a freed ID (shared memory keeps it apart: numballoc_alloc(3)) */
		pthread_mutex_lock(&p->lock);
		p->hint = bit;
		pthread_mutex_unlock(&p->lock);
	}
	return simple_change(p, &q, NULL);
}

/*
 * Release COUNT bits from BIT only if the handle's holder leases all of
 * them (-ENOENT, nothing freed, else): the frees of a leased range that go
 * to the cluster, so that a host whose lease ended never frees an ID that
 * is another's now.
 */
int nb_redis_release_own(void *ctx, uint64_t bit, uint64_t count)
{
	struct req q = { .op = "release_own", .changes = 1 };
	struct rp *p = ctx;

	if (!p->holder[0])
		return -EINVAL;
	req_arg(&q, bit);
	req_arg(&q, count);
	return simple_change(p, &q, NULL);
}

/* A request that changes nothing but expired leases, with one result. */
static int query(struct rp *p, struct req *q, uint64_t *v, redisReply **keep)
{
	redisReply *r;
	int e;

	pthread_mutex_lock(&p->lock);
	e = call(p, q, &r);
	pthread_mutex_unlock(&p->lock);
	if (e < 0)
		return e;	/* a query changes nothing: it is never WAITed for */
	e = v ? reply_u64(r, 1, v) : 0;
	if (keep && e == 0)
		*keep = r;
	else
		freeReplyObject(r);
	return e;
}

static int redis_test(void *ctx, uint64_t bit)
{
	struct req q = { .op = "test" };
	uint64_t v;
	int e;

	req_arg(&q, bit);
	e = query(ctx, &q, &v, NULL);
	return e < 0 ? e : (int)v;
}

static int redis_next(void *ctx, uint64_t from, uint64_t *bit)
{
	struct req q = { .op = "next" };

	req_arg(&q, from);
	return query(ctx, &q, bit, NULL);
}

static int redis_count(void *ctx, uint64_t *used, uint64_t *largest)
{
	struct req q = { .op = "count" };
	struct rp *p = ctx;
	const unsigned char *w;
	uint64_t i, run = 0, best = 0;
	redisReply *r = NULL;
	int e = query(p, &q, used, &r);

	if (e < 0)
		return e;
	if (r->elements < 3 || r->element[2]->type != REDIS_REPLY_STRING ||
	    r->element[2]->len < (p->info.capacity + 7) / 8) {
		freeReplyObject(r);
		return -NUMBALLOC_ECORRUPT;
	}
	/* Redis numbers the bits of a byte from its top bit */
	w = (const unsigned char *)r->element[2]->str;
	for (i = 0; i < p->info.capacity; i++) {
		if (!(i & 7) && i + 8 <= p->info.capacity && w[i >> 3] == 0xff) {
			run = 0;
			i += 7;
			continue;
		}
		if (w[i >> 3] & (0x80u >> (i & 7))) {
			run = 0;
		} else if (++run > best) {
			best = run;
		}
	}
	freeReplyObject(r);
	*largest = best;
	return 0;
}

static int redis_set_holder(void *ctx, const char *holder, uint64_t ttl_ms)
{
	struct rp *p = ctx;
	size_t n = holder ? strlen(holder) : 0;

	if (holder && (n == 0 || n > HOLDER_MAX || ttl_ms == 0 || ttl_ms > TTL_MAX ||
		       strpbrk(holder, " \t\r\n")))
		return -EINVAL;
	pthread_mutex_lock(&p->lock);
	memcpy(p->holder, holder ? holder : "", n + 1);
	p->ttl_ms = holder ? ttl_ms : 0;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

static int redis_renew(void *ctx, uint64_t *count)
{
	struct req q = { .op = "renew", .changes = 1 };
	struct rp *p = ctx;
	uint64_t n;
	int e;

	if (!p->holder[0])
		return -EINVAL;
	e = simple_change(p, &q, &n);
	if (e == 0 && count)
		*count = n;
	return e;
}

static int redis_reclaim(void *ctx, uint64_t *count)
{
	struct req q = { .op = "reclaim", .changes = 1 };
	uint64_t n;
	int e = simple_change(ctx, &q, &n);

	if (e == 0 && count)
		*count = n;
	return e;
}

static int redis_holder_of(void *ctx, uint64_t bit, char *buf, size_t size)
{
	struct req q = { .op = "holder" };
	redisReply *r = NULL;
	const redisReply *h;
	int e;

	req_arg(&q, bit);
	e = query(ctx, &q, NULL, &r);
	if (e < 0)
		return e;
	h = r->elements >= 2 ? r->element[1] : NULL;
	if (!h || h->type != REDIS_REPLY_STRING) {
		freeReplyObject(r);
		return -EIO;
	}
	if (h->len >= size) {
		freeReplyObject(r);
		return -ERANGE;
	}
	memcpy(buf, h->str, h->len + 1);
	freeReplyObject(r);
	return 0;
}

static int redis_holdings(void *ctx, uint64_t *runs, size_t max, size_t *n)
{
	struct req q = { .op = "holdings" };
	struct rp *p = ctx;
	redisReply *r = NULL;
	size_t i, k;
	int e;

	if (!p->holder[0])
		return -EINVAL;
	e = query(p, &q, NULL, &r);
	if (e < 0)
		return e;
	k = (r->elements - 1) / 2;
	for (i = 0; i < k && i < max && e == 0; i++) {
		e = reply_u64(r, 1 + 2 * i, &runs[2 * i]);
		if (e == 0)
			e = reply_u64(r, 2 + 2 * i, &runs[2 * i + 1]);
	}
	freeReplyObject(r);
	*n = k;
	return e;
}

const struct nb_backend nb_backend_redis = {
	.scheme = "redis",
	.open = redis_open,
	.close = redis_close,
	.unlink = redis_unlink,
	.info = redis_info,
	.alloc = redis_alloc,
	.alloc_bit = redis_alloc_bit,
	.alloc_run = redis_alloc_run,
	.release = redis_release,
	.test = redis_test,
	.next = redis_next,
	.count = redis_count,
	.set_holder = redis_set_holder,
	.renew = redis_renew,
	.reclaim = redis_reclaim,
	.holder_of = redis_holder_of,
	.holdings = redis_holdings,
};
