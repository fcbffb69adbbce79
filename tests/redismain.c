/* SPDX-License-Identifier: MIT */
/*
 * redismain.c - rf_main(), the main() of a Check suite that needs a real
 * redis-server (redisfix.h). Kept out of redisfix.c, which the benchmarks
 * link too, because it runs a Check suite.
 */
#include "config.h"
#include <stdio.h>
#include "redisfix.h"
#include "testutil.h"

int rf_main(struct rf *s, const char *conf, struct Suite *suite)
{
	int r;

#ifndef HAVE_REDIS
	printf("1..0 # SKIP numballoc built without Redis support (configure --with-redis)\n");
	return 0;
#endif
	if (rf_missing()) {
		printf("1..0 # SKIP %s\n", rf_missing());
		return 0;
	}
	if (rf_start(s, conf) < 0) {
		printf("Bail out! could not start redis-server\n");
		return 1;
	}
	r = tu_run(suite);
	rf_stop(s);
	rf_cleanup();
	return r;
}
