/* SPDX-License-Identifier: MIT */
/*
 * redisfix.h - a real redis-server for the tests: started on a free
 * loopback port in a temporary directory, killed, restarted, stopped.
 * Nothing is mocked. Without redis-server the tests skip and say why.
 */
#ifndef NB_REDISFIX_H
#define NB_REDISFIX_H

#include <stddef.h>
#include <sys/types.h>

struct rf {
	pid_t pid;		/* the running server, 0 when stopped */
	int port;
	char dir[256];		/* its directory (AOF files), removed by rf_stop() */
	char conf[512];		/* extra configuration lines, given at start */
};

/* Remove the directories of every server of this run (the suite's main, at its end). */
void rf_cleanup(void);
/* Why the Redis tests cannot run (no redis-server), or NULL when they can. */
const char *rf_missing(void);
/* Start a server with CONF (extra "--name value" words, may be NULL): 0 or -1. */
int rf_start(struct rf *s, const char *conf);
/* Start it again on the same port and directory (after rf_kill()). */
int rf_restart(struct rf *s);
/* SIGKILL the server and reap it. */
void rf_kill(struct rf *s);
/* Stop the server and remove its directory. */
void rf_stop(struct rf *s);
/* "redis://127.0.0.1:PORT/NAME" (+ QUERY when not NULL), in a static ring of buffers. */
const char *rf_url(const struct rf *s, const char *name, const char *query);
/* Run one command (words split on blanks) on the server; its first reply line in BUF. */
int rf_cmd(const struct rf *s, char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * The main() of a suite that needs Redis: skip (TAP, with the reason) in a
 * build without Redis support or without redis-server; else start S with
 * CONF, run SUITE (tu_run()), stop S and remove every server's directory.
 * The exit status of the suite's program.
 */
struct Suite;
int rf_main(struct rf *s, const char *conf, struct Suite *suite);

#endif
