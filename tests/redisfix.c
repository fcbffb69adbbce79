/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "redisfix.h"

static const char *server_path(void)
{
	const char *s = getenv("REDIS_SERVER");

	if (s && *s)
		return s;
	return "/usr/bin/redis-server";
}

/*
 * The test run: the process that first asked rf_missing() (a suite's
 * main). Every server directory carries its pid, so that rf_cleanup()
 * finds those of tests that failed before their rf_stop() (Check's forked
 * test exits with _exit(): no handler of ours runs; the server itself dies
 * with its parent, PR_SET_PDEATHSIG).
 */
static pid_t run_pid;

static const char *tmpdir(void)
{
	return getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
}

void rf_cleanup(void)
{
	char cmd[600];

	if (!run_pid)
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'/nbredis-%ld-*", tmpdir(), (long)run_pid);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s/nbredis-%ld-*\n", tmpdir(), (long)run_pid);
}

const char *rf_missing(void)
{
	static char why[300];

	if (!run_pid)
		run_pid = getpid();
	if (access(server_path(), X_OK) == 0)
		return NULL;
	snprintf(why, sizeof(why), "redis-server not installed (%s)", server_path());
	return why;
}

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int dial(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int __attribute__((format(printf, 4, 0))) vcmd(int port, char *buf, size_t size,
							  const char *fmt, va_list ap)
{
	char line[4096];
	ssize_t n;
	size_t got = 0;
	int fd = dial(port);

	if (fd < 0)
		return -1;
	vsnprintf(line, sizeof(line) - 2, fmt, ap);
	strcat(line, "\r\n");
	if (write(fd, line, strlen(line)) != (ssize_t)strlen(line)) {
		close(fd);
		return -1;
	}
	while (got + 1 < size && (n = read(fd, buf + got, size - 1 - got)) > 0) {
		got += (size_t)n;
		if (memchr(buf, '\n', got))
			break;
	}
	close(fd);
	buf[got] = 0;
	buf[strcspn(buf, "\r\n")] = 0;
	return got ? 0 : -1;
}

int rf_cmd(const struct rf *s, char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vcmd(s->port, buf, size, fmt, ap);
	va_end(ap);
	return r;
}

static int ping(int port)
{
	struct rf t = { .port = port };
	char buf[64];

	/* a server with requirepass answers -NOAUTH: it is up all the same */
	if (rf_cmd(&t, buf, sizeof(buf), "PING") < 0)
		return -1;
	return !strcmp(buf, "+PONG") || !strncmp(buf, "-NOAUTH", 7) ? 0 : -1;
}

static int spawn(struct rf *s)
{
	char portbuf[16], cmd[2048];
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	int i, st;

	snprintf(portbuf, sizeof(portbuf), "%d", s->port);
	s->pid = fork();
	if (s->pid < 0)
		return -1;
	if (s->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		snprintf(cmd, sizeof(cmd),
			 "exec '%s' --port %d --bind 127.0.0.1 --dir '%s' --save '' "
			 "--appendonly yes --appendfsync always --daemonize no "
			 "--logfile '%s/log' %s",
			 server_path(), s->port, s->dir, s->dir, s->conf);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 500; i++) {
		if (ping(s->port) == 0)
			return 0;
		if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
			s->pid = 0;
			return -1;
		}
		nanosleep(&ts, NULL);
	}
	rf_kill(s);
	return -1;
}

int rf_start(struct rf *s, const char *conf)
{
	int tries;

	memset(s, 0, sizeof(*s));
	snprintf(s->conf, sizeof(s->conf), "%s", conf ? conf : "");
	snprintf(s->dir, sizeof(s->dir), "%s/nbredis-%ld-%ld-XXXXXX", tmpdir(),
		 (long)(run_pid ? run_pid : getpid()), (long)getpid());
	if (!mkdtemp(s->dir))
		return -1;
	/* another process may take the port between the probe and the bind: try again */
	for (tries = 0; tries < 5; tries++) {
		s->port = free_port();
		if (s->port > 0 && spawn(s) == 0)
			return 0;
	}
	rf_stop(s);
	return -1;
}

int rf_restart(struct rf *s)
{
	int tries;

	for (tries = 0; tries < 50; tries++) {
		if (spawn(s) == 0)
			return 0;
		/* the old socket may linger a moment */
		usleep(100 * 1000);
	}
	return -1;
}

void rf_kill(struct rf *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
	}
	s->pid = 0;
}

void rf_stop(struct rf *s)
{
	char cmd[600];

	if (s->pid > 0) {
		int i;

		kill(s->pid, SIGTERM);
		kill(s->pid, SIGCONT);	/* a test may have left it stopped */
		/* a server busy with its first AOF refuses SIGTERM: then SIGKILL */
		for (i = 0; i < 500 && waitpid(s->pid, NULL, WNOHANG) == 0; i++)
			usleep(10 * 1000);
		if (i == 500)
			rf_kill(s);
		s->pid = 0;
	}
	if (s->dir[0] && strstr(s->dir, "/nbredis-")) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", s->dir);
	}
	s->dir[0] = 0;
}

const char *rf_url(const struct rf *s, const char *name, const char *query)
{
	static __thread char buf[8][512];
	static __thread unsigned int k;
	char *b = buf[k++ % 8];

	snprintf(b, sizeof(buf[0]), "redis://127.0.0.1:%d/%s%s%s", s->port, name,
		 query ? "?" : "", query ? query : "");
	return b;
}
