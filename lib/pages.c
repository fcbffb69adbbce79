/* SPDX-License-Identifier: MIT */
/*
 * pages.c - the page allocator: runs of pages in an arena, one engine bit
 * per page, in a segment of kind NB_KIND_PAGES.
 *
 * Shared (a name or a path): area 0 is the engine (bitmap.c), area 1 the
 * pages themselves, aligned to the page size inside the object, so
 * processes exchange page numbers and each reaches a page at its own
 * address (numballoc_pages_addr). Private: the engine lives in private
 * memory and the pages are the caller's (opts.mem, opts.mem_size), like a
 * kernel page allocator's init(start, size).
 *
 * Header parameters: capacity = pages, param[0] = page size, param[1] = 1
 * when the pages are the caller's (private only; a shared object that says
 * so is corrupt). Allocation is first fit from page 0: deterministic and
 * low in fragmentation; the engine's run search does the work.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bitmap.h"
#include "numballoc.h"
#include "segment.h"

#define PAGE_SIZE_MAX (UINT64_C(1) << 30)

struct numballoc_pages {
	struct nb_segment seg;	/* the mapping; seg.hdr is the validated copy */
	struct nb_bitmap bm;	/* the engine over area 0: bit i set = page i allocated */
	char *pages;		/* page 0 in this process (area 1, or the caller's memory) */
	uint64_t npages;	/* pages in the arena, from the validated header */
	uint64_t page_size;	/* a power of two, from the validated header */
};

static int pages_layout(struct nb_layout *l)
{
	uint64_t ps;

	if (l->param[0] == 0)	/* creation without a page size: the system's */
		l->param[0] = (uint64_t)sysconf(_SC_PAGESIZE);
	ps = l->param[0];
	if (l->capacity == 0 || l->capacity > NUMBALLOC_CAPACITY_MAX || ps > PAGE_SIZE_MAX ||
	    (ps & (ps - 1)) || l->param[1] > 1 || l->param[2] || l->param[3] || l->policy ||
	    l->flags || l->base)
		return -EINVAL;
	l->area_size[0] = nb_bitmap_bytes(l->capacity);
	l->area_align[0] = 64;
	if (l->param[1])
		return 0;
	if (l->capacity > (UINT64_C(1) << 62) / ps)
		return -EINVAL;
	l->area_size[1] = l->capacity * ps;
	l->area_align[1] = ps > 64 ? ps : 64;
	return 0;
}

static int pages_init(void *base, const struct nb_header *h, void *arg)
{
	struct nb_bitmap bm;

	(void)arg;
	nb_bitmap_attach(&bm, (char *)base + h->area_off[0], h->capacity);
	nb_bitmap_init(&bm);
	return 0;
}

static int opts_check(const struct numballoc_pages_opts *o)
{
	if (!nb_zeroed(o->reserved_u, sizeof(o->reserved_u)) ||
	    !nb_zeroed(o->reserved, sizeof(o->reserved)))
		return -EINVAL;
	if (o->flags & ~(NUMBALLOC_CREATE | NUMBALLOC_EXCL))
		return -EINVAL;
	if (o->page_size & (o->page_size - 1) || o->page_size > PAGE_SIZE_MAX)
		return -EINVAL;
	return 0;
}

/* The pages of caller memory MEM: the first whole page and how many follow. */
static int private_span(const struct numballoc_pages_opts *o, uint64_t ps, char **first,
			uint64_t *n)
{
	uintptr_t lo = (uintptr_t)o->mem, hi, start;

	if (!o->mem || o->mem_size == 0 || o->path)
		return -EINVAL;
	if (o->mem_size > UINTPTR_MAX - lo)
		return -EINVAL;
	hi = lo + o->mem_size;
	start = (lo + (uintptr_t)ps - 1) & ~((uintptr_t)ps - 1);
	if (start < lo || start >= hi || (hi - start) / ps == 0)
		return -EINVAL;
	*n = (hi - start) / ps;
	if (o->npages) {
		if (o->npages > *n)
			return -EINVAL;
		*n = o->npages;
	}
	*first = (char *)start;
	return 0;
}

static int open_private(const struct numballoc_pages_opts *o, struct numballoc_pages *pa)
{
	struct nb_layout want;
	uint64_t ps = o->page_size ? o->page_size : (uint64_t)sysconf(_SC_PAGESIZE);
	int r;

	r = private_span(o, ps, &pa->pages, &pa->npages);
	if (r < 0)
		return r;
	memset(&want, 0, sizeof(want));
	want.kind = NB_KIND_PAGES;
	want.capacity = pa->npages;
	want.param[0] = ps;
	want.param[1] = 1;
	return nb_segment_open(&pa->seg, NULL, NULL, NUMBALLOC_CREATE, 0, &want, pages_layout,
			       pages_init, NULL);
}

static int open_shared(const char *name, const struct numballoc_pages_opts *o,
		       struct numballoc_pages *pa)
{
	struct nb_layout want;
	int r;

	if (o->mem || o->mem_size)
		return -EINVAL;
	memset(&want, 0, sizeof(want));
	want.kind = NB_KIND_PAGES;
	want.capacity = o->npages;
	want.param[0] = o->page_size;
	r = nb_segment_open(&pa->seg, name, o->path, o->flags, o->mode, &want, pages_layout,
			    pages_init, NULL);
	if (r < 0)
		return r;
	/* "the caller's memory" in a shared object; a page size the layout defaulted */
	if (pa->seg.hdr->param[1] || pa->seg.hdr->param[0] == 0) {
		nb_segment_close(&pa->seg);
		return -NUMBALLOC_ECORRUPT;
	}
	pa->pages = nb_segment_area(&pa->seg, 1);
	pa->npages = pa->seg.hdr->capacity;
	return 0;
}

NUMBALLOC_EXPORT int numballoc_pages_open(const char *name,
					  const struct numballoc_pages_opts *opts,
					  struct numballoc_pages **pap)
{
	static const struct numballoc_pages_opts none;
	struct numballoc_pages *pa;
	int r;

	if (!pap)
		return -EINVAL;
	if (!opts)
		opts = &none;
	r = opts_check(opts);
	if (r < 0)
		return r;
	if (name && opts->path)
		return -EINVAL;
	pa = calloc(1, sizeof(*pa));
	if (!pa)
		return -ENOMEM;
	if (name || opts->path)
		r = open_shared(name, opts, pa);
	else
		r = open_private(opts, pa);
	if (r < 0) {
		free(pa);
		return r;
	}
	pa->page_size = pa->seg.hdr->param[0];
	nb_bitmap_attach(&pa->bm, nb_segment_area(&pa->seg, 0), pa->npages);
	*pap = pa;
	return 0;
}

NUMBALLOC_EXPORT int numballoc_pages_close(struct numballoc_pages *pa)
{
	if (!pa)
		return 0;
	nb_segment_close(&pa->seg);
	free(pa);
	return 0;
}

NUMBALLOC_EXPORT int numballoc_pages_alloc(struct numballoc_pages *pa, uint64_t num,
					   uint64_t align, uint64_t *first)
{
	if (!pa || !first || num == 0 || (align & (align - 1)))
		return -EINVAL;
	if (num > pa->npages)
		return -ENOSPC;
	return nb_bitmap_claim_run(&pa->bm, num, align, 0, pa->npages - 1, 0, first);
}

NUMBALLOC_EXPORT int numballoc_pages_free(struct numballoc_pages *pa, uint64_t first,
					  uint64_t num)
{
	if (!pa || num == 0 || first >= pa->npages || num > pa->npages - first)
		return -EINVAL;
	return nb_bitmap_release_range(&pa->bm, first, num);
}

NUMBALLOC_EXPORT int numballoc_pages_stat(struct numballoc_pages *pa,
					  struct numballoc_pages_stat *st)
{
	if (!pa || !st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	st->page_size = pa->page_size;
	st->total = pa->npages;
	st->used = nb_bitmap_count(&pa->bm);
	st->available = st->total - st->used;
	st->largest_free = nb_bitmap_largest_free(&pa->bm);
	return 0;
}

NUMBALLOC_EXPORT void *numballoc_pages_addr(struct numballoc_pages *pa, uint64_t page)
{
	if (!pa || page >= pa->npages)
		return NULL;
	return pa->pages + page * pa->page_size;
}

NUMBALLOC_EXPORT void *numballoc_pages_base(struct numballoc_pages *pa)
{
	return pa ? pa->pages : NULL;
}
