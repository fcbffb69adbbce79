// SPDX-License-Identifier: MIT
/*
 * boostfit.cc - the Boost.Interprocess baseline of the buffer benchmark:
 * managed_shared_memory (its default, rbtree_best_fit: best fit in a
 * red-black tree under a process-shared mutex), what C and C++ programs
 * use to allocate inside shared memory. One unit is 64 bytes, so its
 * per-block header (16 bytes) is small beside the mean block. Offsets are
 * taken from the segment's address in each process. Built only when
 * configure found the Boost headers; the C side (bufbench.c) says when it
 * is not.
 */
#include "config.h"

#include <boost/interprocess/managed_shared_memory.hpp>
#include <cerrno>
#include <cstdio>
#include <new>
#include <unistd.h>

#include "fit.h"

namespace bip = boost::interprocess;

static const uint64_t BF_UNIT = 64;

static bip::managed_shared_memory *bf_seg(struct fit *f)
{
	return static_cast<bip::managed_shared_memory *>(f->local);
}

static int bf_make(struct fit *f)
{
	std::snprintf(f->name, sizeof(f->name), "nb-bufbench-boost-%ld", (long)getpid());
	bip::shared_memory_object::remove(f->name);
	try {
		/* the units, plus room for the headers of the blocks and the tree */
		bip::managed_shared_memory seg(bip::create_only, f->name,
					       f->units * BF_UNIT + f->units * 24 + (1 << 20));
	} catch (...) {
		return -ENOMEM;
	}
	return 0;
}

static int bf_join(struct fit *f)
{
	try {
		f->local = new bip::managed_shared_memory(bip::open_only, f->name);
	} catch (...) {
		return -ENOENT;
	}
	return 0;
}

static int bf_alloc(struct fit *f, uint64_t n, uint64_t *start, uint32_t *tag)
{
	(void)tag;
	void *p = bf_seg(f)->allocate(n * BF_UNIT, std::nothrow);

	if (!p)
		return -ENOSPC;
	*start = (uint64_t)((char *)p - (char *)bf_seg(f)->get_address());
	return 0;
}

static int bf_free(struct fit *f, uint64_t start, uint64_t n, uint32_t tag)
{
	(void)n;
	(void)tag;
	bf_seg(f)->deallocate((char *)bf_seg(f)->get_address() + start);
	return 0;
}

static double bf_frag(struct fit *f)
{
	(void)f;
	return 0.0;	/* it does not say where its free space lies */
}

static void bf_leave(struct fit *f)
{
	delete bf_seg(f);
	f->local = NULL;
}

static void bf_unmake(struct fit *f)
{
	bip::shared_memory_object::remove(f->name);
}

extern "C" int fit_boost(struct fit *f)
{
	f->label = "boost.interprocess";
	f->make = bf_make;
	f->join = bf_join;
	f->alloc = bf_alloc;
	f->free = bf_free;
	f->frag = bf_frag;
	f->leave = bf_leave;
	f->unmake = bf_unmake;
	return 0;
}
