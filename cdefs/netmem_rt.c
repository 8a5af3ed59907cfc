/*
 * netmem_ffi C runtime: owned memory, validation and the refcount path.
 *
 * Compiled once per ABI generation, after that generation's declarations.
 * build_ffi.py passes the generation's switches (see netmem_ffi/registry.py):
 *   NM_HAS_TYPE     net_iov has an enum net_iov_type member (6.16+)
 *   NM_HAS_AREA     owners are struct net_iov_area (6.15+)
 *   NM_DESC_MEMBER  the common fields sit in niov->desc (7.2+)
 *
 * Locking: one rwlock guards the region table.  Every operation on a
 * netmem_ref holds it for reading while it validates and works, so an area
 * or page map cannot be closed (write lock) under it.  Counters are updated
 * with compare-and-swap loops that check bounds first, so a failing call
 * changes nothing.  Page allocation state has its own mutex per map.
 */

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if NM_DESC_MEMBER
#define NM_D(niov) (&(niov)->desc)
#else
#define NM_D(niov) (niov)
#endif

#define NM_HOT static inline __attribute__((always_inline))
#define NM_RELAXED __ATOMIC_RELAXED
#define NM_ACQ __ATOMIC_ACQUIRE
#define NM_REL __ATOMIC_RELEASE
#define NM_CAS(ptr, oldp, new) \
	__atomic_compare_exchange_n((ptr), (oldp), (new), 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)

/* Kernel constants of the modelled (LP64 / ILP32) host. */
#if ULONG_MAX > 0xffffffffUL
#define NM_POISON_POINTER_DELTA 0xdead000000000000UL
#else
#define NM_POISON_POINTER_DELTA 0UL
#endif
#define NM_LIST_POISON1 (0x100UL + NM_POISON_POINTER_DELTA)
#define NM_LIST_POISON2 (0x122UL + NM_POISON_POINTER_DELTA)
#define NM_PAGE_POISON 0xaa
#define NM_NODES_WIDTH 10 /* CONFIG_NODES_SHIFT=10, SPARSEMEM_VMEMMAP */
#define NM_NODES_PGSHIFT (sizeof(unsigned long) * CHAR_BIT - NM_NODES_WIDTH)
#define NM_MAX_PAGE_ORDER 10
#define NM_NIOV_PAGE_SHIFT 12
/* enum net_iov_type values; generations before 6.16 have no such enum. */
#define NET_IOV_DMABUF_ID 0
#define NET_IOV_IOURING_ID 1

/* The devmem binding: one refcount for the whole dmabuf (refcount_t ref). */
struct net_devmem_dmabuf_binding {
	atomic_t ref;
};

struct nm_area {
	union { /* container_of(niov->owner, ...) == this */
		struct dmabuf_genpool_chunk_owner dmabuf;
#if NM_HAS_AREA
		struct io_zcrx_area zcrx;
#endif
	} owner;
	struct net_devmem_dmabuf_binding binding;
	atomic_t *user_refs;
	struct net_iov *niovs;
	size_t num;
	int type;
	int adopted;
};

enum { NM_PAGE_FREE = 0, NM_PAGE_HEAD = 1, NM_PAGE_TAIL = 2 };

struct nm_pagemap {
	struct page *pages;
	unsigned char *frames;
	unsigned char *state;
	unsigned char *order;
	size_t num;
	size_t page_size;
	unsigned int page_shift;
	unsigned long base_pfn;
	int nid;
	size_t allocated;
	size_t hint;
	pthread_mutex_t alloc_lock;
};

enum { NM_R_AREA = 1, NM_R_PAGES = 2, NM_R_FRAMES = 3 };

struct nm_region {
	uintptr_t start, end;
	size_t stride;
	int kind;
	void *obj;
};

#define NM_TOMBS 64

static pthread_rwlock_t nm_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct nm_region *nm_regions;
static size_t nm_nregions, nm_cap;
static struct {
	uintptr_t start, end;
} nm_tomb[NM_TOMBS];
static size_t nm_ntomb;

/* ---- region table (callers hold nm_lock) ---- */

NM_HOT const struct nm_region *nm_find(uintptr_t addr, const struct nm_region *hint)
{
	size_t i;

	if (hint && addr >= hint->start && addr < hint->end)
		return hint;
	for (i = 0; i < nm_nregions; i++)
		if (addr >= nm_regions[i].start && addr < nm_regions[i].end)
			return &nm_regions[i];
	return NULL;
}

static int nm_missing(uintptr_t addr)
{
	size_t i;

	for (i = 0; i < nm_ntomb && i < NM_TOMBS; i++)
		if (addr >= nm_tomb[i].start && addr < nm_tomb[i].end)
			return NM_E_CLOSED;
	return NM_E_NOT_OWNED;
}

static int nm_overlaps(uintptr_t start, uintptr_t end)
{
	size_t i;

	for (i = 0; i < nm_nregions; i++)
		if (start < nm_regions[i].end && nm_regions[i].start < end)
			return 1;
	return 0;
}

static int nm_register(uintptr_t start, size_t len, size_t stride, int kind, void *obj)
{
	size_t i, j;

	if (nm_overlaps(start, start + len))
		return NM_E_INVAL;
	if (nm_nregions == nm_cap) {
		size_t cap = nm_cap ? nm_cap * 2 : 16;
		struct nm_region *r = realloc(nm_regions, cap * sizeof(*r));

		if (!r)
			return NM_E_NOMEM;
		nm_regions = r;
		nm_cap = cap;
	}
	nm_regions[nm_nregions++] = (struct nm_region){ start, start + len, stride, kind, obj };
	/* New memory at an old address is no longer "closed". */
	for (i = 0, j = 0; i < nm_ntomb; i++)
		if (!(start < nm_tomb[i].end && nm_tomb[i].start < start + len))
			nm_tomb[j++] = nm_tomb[i];
	nm_ntomb = j;
	return 0;
}

static void nm_unregister(void *obj)
{
	size_t i = 0;

	while (i < nm_nregions) {
		if (nm_regions[i].obj != obj) {
			i++;
			continue;
		}
		if (nm_ntomb == NM_TOMBS) {
			memmove(&nm_tomb[0], &nm_tomb[1], sizeof(nm_tomb[0]) * (NM_TOMBS - 1));
			nm_ntomb--;
		}
		nm_tomb[nm_ntomb].start = nm_regions[i].start;
		nm_tomb[nm_ntomb].end = nm_regions[i].end;
		nm_ntomb++;
		nm_regions[i] = nm_regions[--nm_nregions];
	}
}

/* ---- resolving refs (callers hold nm_lock for reading) ---- */

struct nm_ctx {
	const struct nm_region *hint;
};

NM_HOT int nm_resolve_niov(netmem_ref n, struct nm_ctx *cx, struct net_iov **niov, struct nm_area **area,
			   size_t *idx)
{
	uintptr_t p = n & ~1UL;
	const struct nm_region *r;

	if (!(n & 1UL))
		return NM_E_NOT_NIOV;
	r = nm_find(p, cx ? cx->hint : NULL);
	if (!r)
		return nm_missing(p);
	if (r->kind != NM_R_AREA)
		return NM_E_TAG_MISMATCH;
	/* constant divisor: the compiler turns these into multiplications */
	if ((p - r->start) % sizeof(struct net_iov))
		return NM_E_MISALIGNED;
	if (cx)
		cx->hint = r;
	*niov = (struct net_iov *)p;
	*area = r->obj;
	if (idx)
		*idx = (p - r->start) / sizeof(struct net_iov);
	return 0;
}

NM_HOT size_t nm_head_index(const struct nm_pagemap *m, size_t idx)
{
	unsigned int order = __atomic_load_n(&m->order[idx], NM_RELAXED);

	return idx & ~(((size_t)1 << order) - 1);
}

NM_HOT int nm_resolve_page(netmem_ref n, struct nm_ctx *cx, struct page **page, struct nm_pagemap **map,
			   size_t *idx)
{
	const struct nm_region *r;
	struct nm_pagemap *m;
	size_t i;

	if (n & 1UL)
		return NM_E_NOT_PAGE;
	r = nm_find(n, cx ? cx->hint : NULL);
	if (!r)
		return nm_missing(n);
	if (r->kind == NM_R_AREA)
		return NM_E_TAG_MISMATCH;
	if (r->kind == NM_R_FRAMES)
		return NM_E_NOT_PAGE;
	if ((n - r->start) % sizeof(struct page))
		return NM_E_MISALIGNED;
	m = r->obj;
	i = (n - r->start) / sizeof(struct page);
	if (__atomic_load_n(&m->state[i], NM_ACQ) == NM_PAGE_FREE)
		return NM_E_FREED;
	if (__atomic_load_n(&m->pages[nm_head_index(m, i)]._refcount.counter, NM_ACQ) <= 0)
		return NM_E_FREED;
	if (cx)
		cx->hint = r;
	*page = (struct page *)n;
	*map = m;
	if (idx)
		*idx = i;
	return 0;
}

/* ---- counters: bounded CAS loops, nothing written on failure ---- */

NM_HOT int nm_int_inc(int *c, int allow_zero)
{
	int old = __atomic_load_n(c, NM_RELAXED);

	do {
		if (old < 0 || (old == 0 && !allow_zero))
			return NM_E_FREED;
		if (old == INT_MAX)
			return NM_E_OVERFLOW;
	} while (!NM_CAS(c, &old, old + 1));
	return 0;
}

/*
 * The devmem binding's counter, on the hot path: one locked add, then a
 * bounds check that undoes the add on failure (nothing changes net).  The
 * binding never legitimately leaves 1 .. INT_MAX while its area is open (the
 * area holds the first reference), so the only callers that can observe the
 * transient value are themselves misusing it.  Pages keep the CAS loops:
 * their count reaching zero frees the page, so it must never be resurrected.
 */
NM_HOT int nm_binding_add(int *c, int delta)
{
	int old = __atomic_fetch_add(c, delta, __ATOMIC_ACQ_REL);

	if (__builtin_expect(delta > 0 ? (old <= 0 || old == INT_MAX) : old <= 1, 0)) {
		__atomic_fetch_sub(c, delta, __ATOMIC_ACQ_REL);
		if (delta < 0)
			return NM_E_UNDERFLOW;
		return old == INT_MAX ? NM_E_OVERFLOW : NM_E_BINDING_DEAD;
	}
	return 0;
}

/* Decrement unless that would go below @floor; *now gets the new value. */
NM_HOT int nm_int_dec(int *c, int floor, int *now)
{
	int old = __atomic_load_n(c, NM_RELAXED);

	do {
		if (old - 1 < floor)
			return NM_E_UNDERFLOW;
	} while (!NM_CAS(c, &old, old - 1));
	*now = old - 1;
	return 0;
}

/* ---- page allocation ---- */

static void nm_page_free(struct nm_pagemap *m, size_t head)
{
	size_t i, n;

	pthread_mutex_lock(&m->alloc_lock);
	if (m->state[head] != NM_PAGE_HEAD ||
	    __atomic_load_n(&m->pages[head]._refcount.counter, NM_ACQ) != 0) {
		pthread_mutex_unlock(&m->alloc_lock);
		return;
	}
	n = (size_t)1 << m->order[head];
	for (i = head; i < head + n; i++) {
		struct page *pg = &m->pages[i];

		__atomic_store_n(&m->state[i], NM_PAGE_FREE, NM_REL);
		pg->lru.next = (struct list_head *)NM_LIST_POISON1;
		pg->lru.prev = (struct list_head *)NM_LIST_POISON2;
		pg->mapping = NULL;
		pg->index = 0;
		pg->private = 0;
		m->order[i] = 0;
	}
	memset(m->frames + head * m->page_size, NM_PAGE_POISON, n * m->page_size);
	m->allocated -= n;
	if (head < m->hint)
		m->hint = head;
	pthread_mutex_unlock(&m->alloc_lock);
}

static int nm_block_free(const struct nm_pagemap *m, size_t start, size_t n)
{
	size_t i;

	for (i = start; i < start + n; i++)
		if (m->state[i] != NM_PAGE_FREE)
			return 0;
	return 1;
}

int nm_page_alloc(struct nm_pagemap *m, unsigned int order, int pfmemalloc, netmem_ref *out)
{
	size_t n, start, i, tries;
	int rc = NM_E_NO_SPACE;

	if (order > NM_MAX_PAGE_ORDER)
		return NM_E_INVAL;
	n = (size_t)1 << order;
	pthread_rwlock_rdlock(&nm_lock);
	pthread_mutex_lock(&m->alloc_lock);
	if (n <= m->num) {
		start = (m->hint / n) * n;
		for (tries = 0; tries <= m->num / n; tries++, start += n) {
			if (start + n > m->num)
				start = 0;
			if (nm_block_free(m, start, n)) {
				rc = 0;
				break;
			}
		}
	}
	if (!rc) {
		struct page *head = &m->pages[start];

		for (i = start; i < start + n; i++) {
			struct page *pg = &m->pages[i];

			memset(pg, 0, sizeof(*pg));
			pg->flags = (unsigned long)m->nid << NM_NODES_PGSHIFT;
			if (i != start)
				pg->compound_head = (unsigned long)head | 1UL;
			m->order[i] = (unsigned char)order;
		}
		head->pp_magic = pfmemalloc ? 2UL : 0UL; /* lru.next bit 1: pfmemalloc */
		memset(m->frames + start * m->page_size, 0, n * m->page_size);
		__atomic_store_n(&head->_refcount.counter, 1, NM_REL);
		for (i = start + n; i-- > start;)
			__atomic_store_n(&m->state[i], i == start ? NM_PAGE_HEAD : NM_PAGE_TAIL, NM_REL);
		m->allocated += n;
		m->hint = start + n;
		*out = (netmem_ref)head;
	}
	pthread_mutex_unlock(&m->alloc_lock);
	pthread_rwlock_unlock(&nm_lock);
	return rc;
}

/* ---- per-kind reference operations (callers hold nm_lock) ---- */

NM_HOT int nm_niov_is_devmem(const struct net_iov *niov, const struct nm_area *a)
{
#if NM_HAS_TYPE
	(void)a;
	return niov->type == NET_IOV_DMABUF;
#else
	(void)niov;
	return a->type == 0;
#endif
}

NM_HOT int nm_get_one(netmem_ref n, struct nm_ctx *cx)
{
	int rc;

	if (n & 1UL) {
		struct net_iov *niov;
		struct nm_area *a;

		rc = nm_resolve_niov(n, cx, &niov, &a, NULL);
		if (rc)
			return rc;
		if (!nm_niov_is_devmem(niov, a))
			return 0; /* io_uring niovs: get_netmem leaves them alone */
		return nm_binding_add(&a->binding.ref.counter, 1);
	} else {
		struct page *pg;
		struct nm_pagemap *m;
		size_t i;

		rc = nm_resolve_page(n, cx, &pg, &m, &i);
		if (rc)
			return rc;
		return nm_int_inc(&m->pages[nm_head_index(m, i)]._refcount.counter, 0);
	}
}

/*
 * put one reference.  A page whose count reaches zero is freed at once, or,
 * with @pending, its head index is recorded there for the caller to free
 * once the whole batch is known to be valid.
 */
struct nm_pending {
	struct nm_pagemap **maps;
	size_t *heads;
	size_t len, cap;
};

/* Make room for one more entry before anything is decremented. */
NM_HOT int nm_pending_reserve(struct nm_pending *p)
{
	if (p->len == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		struct nm_pagemap **maps = realloc(p->maps, cap * sizeof(*maps));
		size_t *heads;

		if (!maps)
			return NM_E_NOMEM;
		p->maps = maps;
		heads = realloc(p->heads, cap * sizeof(*heads));
		if (!heads)
			return NM_E_NOMEM;
		p->heads = heads;
		p->cap = cap;
	}
	return 0;
}

NM_HOT int nm_put_one(netmem_ref n, struct nm_ctx *cx, struct nm_pending *pending)
{
	int rc, now;

	if (n & 1UL) {
		struct net_iov *niov;
		struct nm_area *a;

		rc = nm_resolve_niov(n, cx, &niov, &a, NULL);
		if (rc)
			return rc;
		if (!nm_niov_is_devmem(niov, a))
			return 0;
		/* The area holds the binding's first reference; put_netmem cannot drop it. */
		return nm_binding_add(&a->binding.ref.counter, -1);
	} else {
		struct page *pg;
		struct nm_pagemap *m;
		size_t i, head;

		rc = nm_resolve_page(n, cx, &pg, &m, &i);
		if (rc)
			return rc;
		head = nm_head_index(m, i);
		if (pending) {
			rc = nm_pending_reserve(pending);
			if (rc)
				return rc;
		}
		rc = nm_int_dec(&m->pages[head]._refcount.counter, 0, &now);
		if (rc)
			return rc;
		if (now == 0) {
			if (pending) {
				pending->maps[pending->len] = m;
				pending->heads[pending->len++] = head;
			} else
				nm_page_free(m, head);
		}
		return 0;
	}
}

/* Undo of one successful put of a batch (the page, if at zero, is not freed yet). */
static void nm_unput_one(netmem_ref n, struct nm_ctx *cx)
{
	if (n & 1UL) {
		struct net_iov *niov;
		struct nm_area *a;

		if (!nm_resolve_niov(n, cx, &niov, &a, NULL) && nm_niov_is_devmem(niov, a))
			__atomic_add_fetch(&a->binding.ref.counter, 1, __ATOMIC_ACQ_REL);
	} else {
		const struct nm_region *r = nm_find(n, NULL);
		struct nm_pagemap *m = r->obj;
		size_t i = (n - r->start) / sizeof(struct page);

		__atomic_add_fetch(&m->pages[nm_head_index(m, i)]._refcount.counter, 1, __ATOMIC_ACQ_REL);
	}
}

int nm_get_netmem(netmem_ref n)
{
	int rc;

	pthread_rwlock_rdlock(&nm_lock);
	rc = nm_get_one(n, NULL);
	pthread_rwlock_unlock(&nm_lock);
	return rc;
}

int nm_put_netmem(netmem_ref n)
{
	int rc;

	pthread_rwlock_rdlock(&nm_lock);
	rc = nm_put_one(n, NULL, NULL);
	pthread_rwlock_unlock(&nm_lock);
	return rc;
}

/*
 * Bulk loops touch one descriptor per ref, usually a cache miss each: ask for
 * the descriptor a few refs ahead.  A prefetch never faults, so an invalid
 * ref (still validated before use) costs nothing here.
 */
#define NM_PREFETCH_AHEAD 8

static inline void nm_prefetch(const netmem_ref *refs, size_t i, size_t n)
{
	if (i + NM_PREFETCH_AHEAD < n)
		__builtin_prefetch((const void *)(refs[i + NM_PREFETCH_AHEAD] & ~1UL), 1);
}

int nm_get_netmem_bulk(const netmem_ref *refs, size_t n, size_t *bad)
{
	struct nm_ctx cx = { NULL };
	size_t i;
	int rc = 0;

	pthread_rwlock_rdlock(&nm_lock);
	for (i = 0; i < n; i++) {
		nm_prefetch(refs, i, n);
		rc = nm_get_one(refs[i], &cx);
		if (rc)
			break;
	}
	if (rc) {
		*bad = i;
		while (i--)
			nm_put_one(refs[i], &cx, NULL);
	}
	pthread_rwlock_unlock(&nm_lock);
	return rc;
}

int nm_put_netmem_bulk(const netmem_ref *refs, size_t n, size_t *bad)
{
	struct nm_ctx cx = { NULL };
	struct nm_pending pending = { NULL, NULL, 0, 0 };
	size_t i;
	int rc = 0;

	pthread_rwlock_rdlock(&nm_lock);
	for (i = 0; i < n; i++) {
		nm_prefetch(refs, i, n);
		rc = nm_put_one(refs[i], &cx, &pending);
		if (rc)
			break;
	}
	if (rc) {
		*bad = i;
		while (i--)
			nm_unput_one(refs[i], &cx);
	} else {
		for (i = 0; i < pending.len; i++)
			nm_page_free(pending.maps[i], pending.heads[i]);
	}
	pthread_rwlock_unlock(&nm_lock);
	free(pending.maps);
	free(pending.heads);
	return rc;
}

/* ---- page_pool's pp_ref_count ---- */

static int nm_pp_counter(netmem_ref n, long **counter)
{
	int rc;

	if (n & 1UL) {
		struct net_iov *niov;
		struct nm_area *a;

		rc = nm_resolve_niov(n, NULL, &niov, &a, NULL);
		if (!rc)
			*counter = &NM_D(niov)->pp_ref_count.counter;
	} else {
		struct page *pg;
		struct nm_pagemap *m;

		rc = nm_resolve_page(n, NULL, &pg, &m, NULL);
		if (!rc)
			*counter = &pg->pp_ref_count.counter;
	}
	return rc;
}

int nm_pp_fragment(netmem_ref n, long nr)
{
	long *c;
	int rc;

	if (nr < 0)
		return NM_E_INVAL;
	pthread_rwlock_rdlock(&nm_lock);
	rc = nm_pp_counter(n, &c);
	if (!rc)
		__atomic_store_n(c, nr, NM_REL);
	pthread_rwlock_unlock(&nm_lock);
	return rc;
}

int nm_pp_ref(netmem_ref n)
{
	long *c, old;
	int rc;

	pthread_rwlock_rdlock(&nm_lock);
	rc = nm_pp_counter(n, &c);
	if (!rc) {
		old = __atomic_load_n(c, NM_RELAXED);
		do {
			if (old == LONG_MAX) {
				rc = NM_E_OVERFLOW;
				break;
			}
		} while (!NM_CAS(c, &old, old + 1));
	}
	pthread_rwlock_unlock(&nm_lock);
	return rc;
}

/*
 * page_pool_unref_netmem(): if the counter reads exactly @nr the caller holds
 * every reference: it ends at 1 and 0 is returned (fast path).  Otherwise @nr
 * is subtracted and the result returned.  Where the kernel would WARN on a
 * negative result, the model refuses and leaves the counter as it was.
 */
int nm_pp_unref(netmem_ref n, long nr, long *ret)
{
	long *c, old;
	int rc;

	if (nr < 1)
		return NM_E_INVAL;
	pthread_rwlock_rdlock(&nm_lock);
	rc = nm_pp_counter(n, &c);
	if (!rc) {
		old = __atomic_load_n(c, NM_ACQ);
		for (;;) {
			if (old == nr) {
				if (NM_CAS(c, &old, 1L)) {
					*ret = 0;
					break;
				}
				continue;
			}
			if (old < nr) {
				rc = NM_E_UNDERFLOW;
				break;
			}
			if (NM_CAS(c, &old, old - nr)) {
				*ret = old - nr;
				break;
			}
		}
	}
	pthread_rwlock_unlock(&nm_lock);
	return rc;
}

/* ---- io_uring zcrx user references: area->user_refs[net_iov_idx(niov)] ---- */

static int nm_uref_counter(netmem_ref n, int **counter)
{
	struct net_iov *niov;
	struct nm_area *a;
	size_t idx;
	int rc = nm_resolve_niov(n, NULL, &niov, &a, &idx);

	if (rc)
		return rc;
	if (!a->user_refs)
		return NM_E_WRONG_PROVIDER;
	*counter = &a->user_refs[idx].counter;
	return 0;
}

int nm_uref_get(netmem_ref n)
{
	int *c, rc;

	pthread_rwlock_rdlock(&nm_lock);
	rc = nm_uref_counter(n, &c);
	if (!rc)
		rc = nm_int_inc(c, 1);
	pthread_rwlock_unlock(&nm_lock);
	return rc;
}

int nm_uref_put(netmem_ref n, int *dropped)
{
	int *c, rc, now;

	pthread_rwlock_rdlock(&nm_lock);
	rc = nm_uref_counter(n, &c);
	if (!rc)
		*dropped = nm_int_dec(c, 0, &now) == 0;
	pthread_rwlock_unlock(&nm_lock);
	return rc;
}

/* ---- field access ---- */

int nm_classify(netmem_ref n)
{
	struct net_iov *niov;
	struct nm_area *a;
	struct page *pg;
	struct nm_pagemap *m;
	int rc;

	pthread_rwlock_rdlock(&nm_lock);
	if (n & 1UL)
		rc = nm_resolve_niov(n, NULL, &niov, &a, NULL);
	else
		rc = nm_resolve_page(n, NULL, &pg, &m, NULL);
	pthread_rwlock_unlock(&nm_lock);
	if (rc)
		return -rc;
	return (n & 1UL) ? NM_KIND_NIOV : NM_KIND_PAGE;
}

int nm_owns(netmem_ref n)
{
	int found;

	pthread_rwlock_rdlock(&nm_lock);
	found = nm_find(n & ~1UL, NULL) != NULL;
	pthread_rwlock_unlock(&nm_lock);
	return found;
}

static unsigned long *nm_word(void *base, int field)
{
	return (unsigned long *)base + field;
}

static int nm_niov_load(struct net_iov *niov, struct nm_area *a, size_t idx, int field, unsigned long *out)
{
	switch (field) {
	case NM_F_WORD0:
	case NM_F_WORD3:
		*out = __atomic_load_n(nm_word(niov, field), NM_RELAXED);
		return 0;
	case NM_F_PP_MAGIC:
		*out = __atomic_load_n(&NM_D(niov)->pp_magic, NM_RELAXED);
		return 0;
	case NM_F_PP:
		*out = (unsigned long)__atomic_load_n(&NM_D(niov)->pp, NM_RELAXED);
		return 0;
	case NM_F_DMA_ADDR:
		*out = __atomic_load_n(&NM_D(niov)->dma_addr, NM_RELAXED);
		return 0;
	case NM_F_PP_REF_COUNT:
		*out = (unsigned long)__atomic_load_n(&NM_D(niov)->pp_ref_count.counter, NM_ACQ);
		return 0;
	case NM_F_TYPE:
#if NM_HAS_TYPE
		*out = (unsigned long)niov->type;
#else
		*out = (unsigned long)a->type;
#endif
		return 0;
	case NM_F_OWNER:
		*out = (unsigned long)__atomic_load_n(&niov->owner, NM_RELAXED);
		return 0;
	case NM_F_IDX:
		*out = idx;
		return 0;
	default:
		return NM_E_NOT_PAGE;
	}
}

static int nm_page_load(struct page *pg, struct nm_pagemap *m, size_t idx, int field, unsigned long *out)
{
	switch (field) {
	case NM_F_WORD0:
	case NM_F_PP_MAGIC:
	case NM_F_PP:
	case NM_F_WORD3:
	case NM_F_DMA_ADDR:
		*out = __atomic_load_n(nm_word(pg, field), NM_RELAXED);
		return 0;
	case NM_F_PP_REF_COUNT:
		*out = (unsigned long)__atomic_load_n(&pg->pp_ref_count.counter, NM_ACQ);
		return 0;
	case NM_F_REFCOUNT:
		*out = (unsigned long)(long)__atomic_load_n(&pg->_refcount.counter, NM_ACQ);
		return 0;
	case NM_F_PAGE_TYPE:
		*out = __atomic_load_n(&pg->page_type, NM_RELAXED);
		return 0;
	case NM_F_PFN:
		*out = m->base_pfn + idx;
		return 0;
	case NM_F_ADDRESS:
		*out = (unsigned long)(m->frames + idx * m->page_size);
		return 0;
	case NM_F_HEAD:
		*out = (unsigned long)&m->pages[nm_head_index(m, idx)];
		return 0;
	default:
		return NM_E_NOT_NIOV;
	}
}

int nm_load(netmem_ref n, int field, unsigned long *out)
{
	int rc;
	size_t idx;

	pthread_rwlock_rdlock(&nm_lock);
	if (n & 1UL) {
		struct net_iov *niov;
		struct nm_area *a;

		rc = nm_resolve_niov(n, NULL, &niov, &a, &idx);
		if (!rc)
			rc = nm_niov_load(niov, a, idx, field, out);
	} else {
		struct page *pg;
		struct nm_pagemap *m;

		rc = nm_resolve_page(n, NULL, &pg, &m, &idx);
		if (!rc)
			rc = nm_page_load(pg, m, idx, field, out);
	}
	pthread_rwlock_unlock(&nm_lock);
	return rc;
}

/* Atomically word = (word & keep_mask) | or_bits, for the plain descriptor words. */
int nm_update(netmem_ref n, int field, unsigned long keep_mask, unsigned long or_bits, unsigned long *old)
{
	unsigned long *w, cur;
	void *base;
	int rc;

	if (field != NM_F_WORD0 && field != NM_F_PP_MAGIC && field != NM_F_PP && field != NM_F_WORD3 &&
	    field != NM_F_DMA_ADDR)
		return NM_E_INVAL;
	pthread_rwlock_rdlock(&nm_lock);
	if (n & 1UL) {
		struct net_iov *niov;
		struct nm_area *a;

		rc = nm_resolve_niov(n, NULL, &niov, &a, NULL);
		base = niov;
	} else {
		struct page *pg;
		struct nm_pagemap *m;

		rc = nm_resolve_page(n, NULL, &pg, &m, NULL);
		base = pg;
	}
	if (!rc) {
		w = nm_word(base, field);
		cur = __atomic_load_n(w, NM_RELAXED);
		while (!NM_CAS(w, &cur, (cur & keep_mask) | or_bits))
			;
		*old = cur;
	}
	pthread_rwlock_unlock(&nm_lock);
	return rc;
}

int nm_virt_to_page(uintptr_t va, netmem_ref *out)
{
	const struct nm_region *r;
	int rc = 0;

	pthread_rwlock_rdlock(&nm_lock);
	r = nm_find(va, NULL);
	if (!r)
		rc = nm_missing(va);
	else if (r->kind != NM_R_FRAMES)
		rc = NM_E_INVAL;
	else {
		struct nm_pagemap *m = r->obj;

		*out = (netmem_ref)&m->pages[(va - r->start) >> m->page_shift];
	}
	pthread_rwlock_unlock(&nm_lock);
	return rc;
}

/* net_iov_init(): store owner and type; nothing else. */
static void nm_niov_init(struct net_iov *niov, struct nm_area *a, int type)
{
#if NM_HAS_AREA
	niov->owner = &a->owner.dmabuf.area;
#else
	niov->owner = &a->owner.dmabuf;
#endif
#if NM_HAS_TYPE
	niov->type = (enum net_iov_type)type;
#else
	(void)type;
#endif
}

int nm_net_iov_init(netmem_ref n, int type)
{
	struct net_iov *niov;
	struct nm_area *a;
	int rc;

	if (type != NET_IOV_DMABUF_ID && type != NET_IOV_IOURING_ID)
		return NM_E_INVAL;
	pthread_rwlock_rdlock(&nm_lock);
	rc = nm_resolve_niov(n, NULL, &niov, &a, NULL);
	if (!rc)
		nm_niov_init(niov, a, type);
	pthread_rwlock_unlock(&nm_lock);
	return rc;
}

/* ---- areas ---- */

static struct nm_area *nm_area_new(size_t num, int type)
{
	struct nm_area *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->num = num;
	a->type = type;
	a->binding.ref.counter = 1;
	if (type == NET_IOV_IOURING_ID) {
		a->user_refs = calloc(num, sizeof(atomic_t));
		if (!a->user_refs) {
			free(a);
			return NULL;
		}
	}
	return a;
}

static void nm_area_destroy(struct nm_area *a)
{
	if (!a->adopted)
		free(a->niovs);
	free(a->user_refs);
	free(a);
}

static void nm_area_link_owner(struct nm_area *a)
{
#if NM_HAS_AREA
	if (a->type == NET_IOV_IOURING_ID) {
		a->owner.zcrx.nia.niovs = a->niovs;
		a->owner.zcrx.nia.num_niovs = a->num;
		a->owner.zcrx.user_refs = a->user_refs;
	} else {
		a->owner.dmabuf.area.niovs = a->niovs;
		a->owner.dmabuf.area.num_niovs = a->num;
		a->owner.dmabuf.binding = &a->binding;
	}
#else
	a->owner.dmabuf.niovs = a->niovs;
	a->owner.dmabuf.num_niovs = a->num;
	a->owner.dmabuf.binding = &a->binding;
#endif
}

static int nm_area_check_type(int type)
{
	if (type == NET_IOV_DMABUF_ID)
		return 0;
#if NM_HAS_AREA
	if (type == NET_IOV_IOURING_ID)
		return 0;
#endif
	return NM_E_INVAL;
}

int nm_area_create(size_t num, int type, dma_addr_t base_dma_addr, struct nm_area **out)
{
	struct nm_area *a;
	size_t i;
	int rc;

	if (num == 0 || num > ((size_t)1 << 32) || nm_area_check_type(type))
		return NM_E_INVAL;
	a = nm_area_new(num, type);
	if (!a)
		return NM_E_NOMEM;
	a->niovs = calloc(num, sizeof(struct net_iov));
	if (!a->niovs) {
		nm_area_destroy(a);
		return NM_E_NOMEM;
	}
	nm_area_link_owner(a);
#if NM_HAS_AREA
	if (type == NET_IOV_DMABUF_ID)
		a->owner.dmabuf.base_dma_addr = base_dma_addr;
#else
	a->owner.dmabuf.base_dma_addr = base_dma_addr;
#endif
	for (i = 0; i < num; i++) {
		nm_niov_init(&a->niovs[i], a, type);
		/* devmem: owner->base_dma_addr + (idx << PAGE_SHIFT), stored at bind time */
		if (type == NET_IOV_DMABUF_ID)
			NM_D(&a->niovs[i])->dma_addr = (unsigned long)(base_dma_addr + ((dma_addr_t)i << NM_NIOV_PAGE_SHIFT));
	}
	pthread_rwlock_wrlock(&nm_lock);
	rc = nm_register((uintptr_t)a->niovs, num * sizeof(struct net_iov), sizeof(struct net_iov), NM_R_AREA, a);
	pthread_rwlock_unlock(&nm_lock);
	if (rc) {
		nm_area_destroy(a);
		return rc;
	}
	*out = a;
	return 0;
}

int nm_area_adopt(void *buf, size_t len, int type, struct nm_area **out)
{
	struct nm_area *a;
	size_t num = len / sizeof(struct net_iov);
	int rc;

	if (!buf || len == 0 || len % sizeof(struct net_iov) || (uintptr_t)buf % _Alignof(struct net_iov) ||
	    nm_area_check_type(type))
		return NM_E_INVAL;
	a = nm_area_new(num, type);
	if (!a)
		return NM_E_NOMEM;
	a->niovs = buf;
	a->adopted = 1;
	nm_area_link_owner(a);
	pthread_rwlock_wrlock(&nm_lock);
	rc = nm_register((uintptr_t)buf, len, sizeof(struct net_iov), NM_R_AREA, a);
	pthread_rwlock_unlock(&nm_lock);
	if (rc) {
		nm_area_destroy(a);
		return rc;
	}
	*out = a;
	return 0;
}

static size_t nm_area_refs_held(const struct nm_area *a)
{
	size_t i, held = (size_t)(__atomic_load_n(&a->binding.ref.counter, NM_ACQ) - 1);

	if (a->user_refs)
		for (i = 0; i < a->num; i++)
			held += (size_t)__atomic_load_n(&a->user_refs[i].counter, NM_ACQ);
	return held;
}

int nm_area_outstanding(struct nm_area *a, size_t *out)
{
	pthread_rwlock_rdlock(&nm_lock);
	*out = nm_area_refs_held(a);
	pthread_rwlock_unlock(&nm_lock);
	return 0;
}

int nm_area_close(struct nm_area *a)
{
	pthread_rwlock_wrlock(&nm_lock);
	if (nm_area_refs_held(a)) {
		pthread_rwlock_unlock(&nm_lock);
		return NM_E_BUSY;
	}
	nm_unregister(a);
	pthread_rwlock_unlock(&nm_lock);
	nm_area_destroy(a);
	return 0;
}

struct net_iov *nm_area_niovs(struct nm_area *a)
{
	return a->niovs;
}

size_t nm_area_num_niovs(struct nm_area *a)
{
	return a->num;
}

void *nm_area_owner(struct nm_area *a)
{
	return &a->owner;
}

int nm_area_binding_refcount(struct nm_area *a)
{
	return __atomic_load_n(&a->binding.ref.counter, NM_ACQ);
}

int nm_area_user_refs(struct nm_area *a, size_t idx, int *out)
{
	if (!a->user_refs)
		return NM_E_WRONG_PROVIDER;
	if (idx >= a->num)
		return NM_E_INVAL;
	*out = __atomic_load_n(&a->user_refs[idx].counter, NM_ACQ);
	return 0;
}

/* ---- page maps ---- */

static void nm_pagemap_destroy(struct nm_pagemap *m)
{
	free(m->pages);
	free(m->frames);
	free(m->state);
	free(m->order);
	pthread_mutex_destroy(&m->alloc_lock);
	free(m);
}

int nm_pagemap_create(size_t num, unsigned int page_shift, int nid, unsigned long base_pfn,
		      struct nm_pagemap **out)
{
	struct nm_pagemap *m;
	size_t i, page_size;
	int rc;

	if (num == 0 || num > ((size_t)1 << 24) || page_shift < 12 || page_shift > 16 || nid < 0 ||
	    nid >= (1 << NM_NODES_WIDTH) || base_pfn > ULONG_MAX - num)
		return NM_E_INVAL;
	page_size = (size_t)1 << page_shift;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NM_E_NOMEM;
	pthread_mutex_init(&m->alloc_lock, NULL);
	m->num = num;
	m->page_size = page_size;
	m->page_shift = page_shift;
	m->nid = nid;
	m->base_pfn = base_pfn;
	m->pages = aligned_alloc(64, ((num * sizeof(struct page) + 63) / 64) * 64);
	m->frames = aligned_alloc(page_size, num * page_size);
	m->state = calloc(num, 1);
	m->order = calloc(num, 1);
	if (!m->pages || !m->frames || !m->state || !m->order) {
		nm_pagemap_destroy(m);
		return NM_E_NOMEM;
	}
	memset(m->pages, 0, num * sizeof(struct page));
	for (i = 0; i < num; i++) {
		m->pages[i].flags = (unsigned long)nid << NM_NODES_PGSHIFT;
		m->pages[i].lru.next = (struct list_head *)NM_LIST_POISON1;
		m->pages[i].lru.prev = (struct list_head *)NM_LIST_POISON2;
	}
	memset(m->frames, NM_PAGE_POISON, num * page_size);
	pthread_rwlock_wrlock(&nm_lock);
	rc = nm_register((uintptr_t)m->pages, num * sizeof(struct page), sizeof(struct page), NM_R_PAGES, m);
	if (!rc) {
		rc = nm_register((uintptr_t)m->frames, num * page_size, page_size, NM_R_FRAMES, m);
		if (rc)
			nm_unregister(m);
	}
	pthread_rwlock_unlock(&nm_lock);
	if (rc) {
		nm_pagemap_destroy(m);
		return rc;
	}
	*out = m;
	return 0;
}

int nm_pagemap_close(struct nm_pagemap *m)
{
	pthread_rwlock_wrlock(&nm_lock);
	pthread_mutex_lock(&m->alloc_lock);
	if (m->allocated) {
		pthread_mutex_unlock(&m->alloc_lock);
		pthread_rwlock_unlock(&nm_lock);
		return NM_E_BUSY;
	}
	pthread_mutex_unlock(&m->alloc_lock);
	nm_unregister(m);
	pthread_rwlock_unlock(&nm_lock);
	nm_pagemap_destroy(m);
	return 0;
}

void nm_pagemap_info(struct nm_pagemap *m, struct nm_pagemap_info *out)
{
	out->pages = (uintptr_t)m->pages;
	out->frames = (uintptr_t)m->frames;
	out->num_pages = m->num;
	out->page_size = m->page_size;
	out->stride = sizeof(struct page);
	out->base_pfn = m->base_pfn;
	out->nid = m->nid;
	out->nodes_pgshift = (unsigned int)NM_NODES_PGSHIFT;
}

size_t nm_pagemap_allocated(struct nm_pagemap *m)
{
	size_t n;

	pthread_mutex_lock(&m->alloc_lock);
	n = m->allocated;
	pthread_mutex_unlock(&m->alloc_lock);
	return n;
}

/* ---- benchmark baselines ---- */

int nm_empty(netmem_ref n)
{
	(void)n;
	return 0;
}

/*
 * The counters get/put_netmem touch, bumped with no validation at all: the
 * floor the bulk path is measured against.  @atomic = 0 uses a plain load
 * and store, which loses updates under concurrency (the tests use it to show
 * their concurrency check can fail).
 */
void nm_counter_add_loop(const netmem_ref *refs, size_t n, int delta, int atomic)
{
	size_t i;

	for (i = 0; i < n; i++) {
		netmem_ref r = refs[i];
		int *c;

		if (r & 1UL) {
			struct net_iov *niov = (struct net_iov *)(r & ~1UL);

			c = &((struct nm_area *)niov->owner)->binding.ref.counter;
		} else {
			struct page *pg = (struct page *)r;
			unsigned long head = pg->compound_head;

			if (head & 1UL)
				pg = (struct page *)(head - 1);
			c = &pg->_refcount.counter;
		}
		if (atomic)
			__atomic_add_fetch(c, delta, __ATOMIC_ACQ_REL);
		else
			__atomic_store_n(c, __atomic_load_n(c, NM_RELAXED) + delta, NM_RELAXED);
	}
}
