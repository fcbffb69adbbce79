/* SPDX-License-Identifier: MIT */
/*
 * testutil.h - helpers for the Check suites: unique pool names that are
 * removed at the end even when a test fails, shared witness memory for
 * forked processes, and a runner that reports through TAP.
 */
#ifndef NB_TESTUTIL_H
#define NB_TESTUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A pool name unique to this run and TAG; removed by tu_run() at the end. */
const char *tu_name(const char *tag);
/* A file path unique to this run, in a directory removed at the end. */
const char *tu_path(const char *tag);
/* Zeroed memory shared with forked children; never freed. */
void *tu_shared(size_t size);
/* A small deterministic random generator (xorshift64*). */
uint64_t tu_rand(uint64_t *state);
/* Wait for every child in PIDS; 0 when all exited with status 0. */
int tu_wait_all(const pid_t *pids, int n);
/* Run the suite (Check forks each test), remove this run's pools, exit status. */
int tu_run(Suite *s);

#endif
