/* SPDX-License-Identifier: MIT */
/*
 * tsan_uatomic.h - liburcu's uatomic operations as compiler atomics, for
 * the ThreadSanitizer build only (configure --enable-tsan adds
 * "-include lib/tsan_uatomic.h" to every compilation; see Makefile.am).
 *
 * On x86 liburcu implements uatomic_cmpxchg() and uatomic_or() with inline
 * assembly and uatomic_read()/uatomic_set() with volatile accesses.
 * ThreadSanitizer does not see inline assembly as atomic and reports every
 * volatile access that races as a data race, so the lock-free code would
 * be all warnings. The __atomic builtins compile to the same lock-prefixed
 * instructions and plain moves, and ThreadSanitizer understands them. The
 * orderings are at least as strong as liburcu's: a full barrier for the
 * read-modify-writes, acquire and release for loads and stores.
 */
#ifndef NB_TSAN_UATOMIC_H
#define NB_TSAN_UATOMIC_H

/* First, as in every source file: the system headers below must see _GNU_SOURCE. */
#include "config.h"

#include <urcu/uatomic.h>

#undef uatomic_read
#undef uatomic_set
#undef uatomic_cmpxchg
#undef uatomic_or
#undef uatomic_and
#undef uatomic_xchg
#undef uatomic_add
#undef uatomic_add_return

#define uatomic_read(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define uatomic_set(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define uatomic_cmpxchg(p, old, new)                                                        \
	__extension__({                                                                     \
		__typeof__(*(p)) nb_tsan_o = (old);                                         \
		__atomic_compare_exchange_n((p), &nb_tsan_o, (new), 0, __ATOMIC_SEQ_CST,    \
					    __ATOMIC_SEQ_CST);                              \
		nb_tsan_o;                                                                  \
	})
#define uatomic_or(p, v) ((void)__atomic_fetch_or((p), (v), __ATOMIC_SEQ_CST))
#define uatomic_and(p, v) ((void)__atomic_fetch_and((p), (v), __ATOMIC_SEQ_CST))
#define uatomic_xchg(p, v) __atomic_exchange_n((p), (v), __ATOMIC_SEQ_CST)
#define uatomic_add(p, v) ((void)__atomic_fetch_add((p), (v), __ATOMIC_SEQ_CST))
#define uatomic_add_return(p, v) __atomic_add_fetch((p), (v), __ATOMIC_SEQ_CST)

#endif /* NB_TSAN_UATOMIC_H */
