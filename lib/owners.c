/* SPDX-License-Identifier: MIT */
/*
 * owners.c - who holds what, and reclaiming what dead processes held.
 *
 * Pools created without NUMBALLOC_OWNERS keep no records: every function
 * here passes straight through to the engine.
 */
#include "config.h"

#include <errno.h>

#include "idpool.h"
#include "numballoc.h"

int nb_owners_layout(struct nb_layout *l)
{
	if (l->flags & NUMBALLOC_OWNERS)
		return -EINVAL;	/* owner records are not implemented yet */
	return 0;
}

void nb_owners_attach(struct numballoc *p)
{
	p->owners = NULL;
}

int nb_owners_record(struct numballoc *p, uint64_t bit, uint64_t n)
{
	return 0;
}

int nb_owners_release(struct numballoc *p, uint64_t bit, uint64_t n)
{
	if (n == 1)
		return nb_bitmap_release_bit(&p->bm, bit);
	return nb_bitmap_release_range(&p->bm, bit, n);
}

uint64_t nb_owners_reclaim_on_full(struct numballoc *p)
{
	return 0;
}
