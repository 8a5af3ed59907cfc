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
#define NM_MAP_PAGES_MAX ((size_t)1 << 24) /* pages in one simulated memory map */
#define NM_NIOV_PAGE_SHIFT 12
/* enum net_iov_type values; generations before 6.16 have no such enum. */
#define NET_IOV_DMABUF_ID 0
#define NET_IOV_IOURING_ID 1

/* The devmem binding: one refcount for the whole dmabuf (refcount_t ref). */
struct net_devmem_dmabuf_binding {
	atomic_t ref;
	unsigned int id; /* xa_alloc_cyclic(&net_devmem_dmabuf_bindings, ...): 1, 2, ... */
};

static unsigned int nm_binding_ids;

struct nm_area {
	union { /* container_of(niov->owner, ...) == this */
		struct dmabuf_genpool_chunk_owner dmabuf;
#if NM_HAS_AREA
		struct io_zcrx_area zcrx;
#endif
	} owner;
	struct net_devmem_dmabuf_binding binding;
	int unbound; /* net_devmem_unbind_dmabuf() dropped the area's own binding reference */
	atomic_t *user_refs;
	struct net_iov *niovs;
	size_t num;
	int type;
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

/* Run the statements with nm_lock held for reading (work on refs) or writing (the region table). */
#define NM_LOCKED(lock, ...)                   \
	do {                                   \
		lock(&nm_lock);                \
		__VA_ARGS__;                   \
		pthread_rwlock_unlock(&nm_lock); \
	} while (0)
#define NM_READ_LOCKED(...) NM_LOCKED(pthread_rwlock_rdlock, __VA_ARGS__)
#define NM_WRITE_LOCKED(...) NM_LOCKED(pthread_rwlock_wrlock, __VA_ARGS__)

/*
 * fork(): the parent takes nm_lock for writing first, so no thread is half
 * way through an operation (a bulk call, an allocation holding a map's mutex)
 * when the address space is copied; the child, whose only thread is the
 * forking one, starts with a fresh lock.
 */
static void nm_fork_prepare(void)
{
	pthread_rwlock_wrlock(&nm_lock);
}

static void nm_fork_parent(void)
{
	pthread_rwlock_unlock(&nm_lock);
}

static void nm_fork_child(void)
{
	pthread_rwlock_t fresh = PTHREAD_RWLOCK_INITIALIZER;

	nm_lock = fresh;
}

__attribute__((constructor)) static void nm_fork_handlers(void)
{
	pthread_atfork(nm_fork_prepare, nm_fork_parent, nm_fork_child);
}

static struct nm_region *nm_regions;
static size_t nm_nregions, nm_cap;
static struct {
	uintptr_t start, end;
} nm_tomb[NM_TOMBS];
static size_t nm_ntomb;

/* ---- region table (callers hold nm_lock) ---- */

/* An empty region: the hint of a lookup that has none (so a hint is never NULL). */
static const struct nm_region nm_no_region;
#define NM_NO_HINT (&nm_no_region)

/* The region holding @addr: @hint (NM_NO_HINT for none) if it does, else the table's. */
NM_HOT const struct nm_region *nm_find(uintptr_t addr, const struct nm_region *hint)
{
	size_t i;

	if (addr >= hint->start && addr < hint->end)
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

/*
 * Tombstones of closed regions are kept even when new memory reuses their
 * addresses: lookups try the live regions first, so a tombstone only ever
 * answers for an address no open region holds.
 */
static int nm_register(uintptr_t start, size_t len, size_t stride, int kind, void *obj)
{
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

/*
 * What a batch has validated so far (valid while nm_lock is held): the last
 * area region a niov ref fell in, the last page map region a page ref fell
 * in, and the last foreign owner word found to be an area's owner, so
 * consecutive refs of one area or map cost one compare each, and so do
 * batches mixing one area's niovs with one map's pages.
 */
struct nm_ctx {
	const struct nm_region *hint; /* an area's (NM_NO_HINT before the first) */
	const struct nm_region *page_hint; /* a page map's (NM_NO_HINT before the first) */
	uintptr_t owner;
	struct nm_area *owner_area;
};

NM_HOT int nm_resolve_niov(netmem_ref n, struct nm_ctx *cx, struct net_iov **niov, struct nm_area **area,
			   size_t *idx)
{
	uintptr_t p = n & ~1UL;
	const struct nm_region *r;

	if (!(n & 1UL))
		return NM_E_NOT_NIOV;
	r = nm_find(p, cx ? cx->hint : NM_NO_HINT);
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

/*
 * Where page ref @n lies: its region (a page map's), its index there and its
 * state in the map (a head or a tail of an allocated block).  Everything
 * nm_resolve_page() checks but its head's count.
 */
NM_HOT int nm_locate_page(netmem_ref n, const struct nm_region *hint, const struct nm_region **rp, size_t *idx,
			  unsigned char *state)
{
	const struct nm_region *r;
	size_t i;

	if (n & 1UL)
		return NM_E_NOT_PAGE;
	r = nm_find(n, hint);
	if (!r)
		return nm_missing(n);
	if (__builtin_expect(r->kind != NM_R_PAGES, 0))
		return r->kind == NM_R_AREA ? NM_E_TAG_MISMATCH : NM_E_NOT_PAGE;
	if ((n - r->start) % sizeof(struct page))
		return NM_E_MISALIGNED;
	i = (n - r->start) / sizeof(struct page);
	*state = __atomic_load_n(&((const struct nm_pagemap *)r->obj)->state[i], NM_ACQ);
	if (*state == NM_PAGE_FREE)
		return NM_E_FREED;
	*rp = r;
	*idx = i;
	return 0;
}

/* Whether page @i's head in its map's allocation (not its compound_head word) still holds a reference. */
NM_HOT int nm_head_live(const struct nm_pagemap *m, size_t i)
{
	return __atomic_load_n(&m->pages[nm_head_index(m, i)]._refcount.counter, NM_ACQ) > 0;
}

NM_HOT int nm_resolve_page(netmem_ref n, struct nm_ctx *cx, struct page **page, struct nm_pagemap **map,
			   size_t *idx)
{
	const struct nm_region *r;
	size_t i;
	unsigned char state;
	int rc = nm_locate_page(n, cx ? cx->page_hint : NM_NO_HINT, &r, &i, &state);

	if (rc)
		return rc;
	if (!nm_head_live(r->obj, i))
		return NM_E_FREED;
	if (cx)
		cx->page_hint = r;
	*page = (struct page *)n;
	*map = r->obj;
	if (idx)
		*idx = i;
	return 0;
}

/* A resolved ref: a niov of an area or a page of a map, with its index there. */
struct nm_ref {
	int kind; /* NM_KIND_NIOV or NM_KIND_PAGE */
	size_t idx;
	struct net_iov *niov;
	struct nm_area *area;
	struct page *page;
	struct nm_pagemap *map;
};

/* The niov-or-page dispatch, written once: resolve @n by its NET_IOV bit. */
NM_HOT int nm_resolve(netmem_ref n, struct nm_ctx *cx, struct nm_ref *r)
{
	if (n & 1UL) {
		r->kind = NM_KIND_NIOV;
		return nm_resolve_niov(n, cx, &r->niov, &r->area, &r->idx);
	}
	r->kind = NM_KIND_PAGE;
	return nm_resolve_page(n, cx, &r->page, &r->map, &r->idx);
}

/*
 * Follow niov->owner as the kernel does (container_of(owner, ..., area)): r->area
 * becomes the area the stored owner word points at.  The region table only says
 * whether the owner is ours: NULL is NM_E_NULL_OWNER, any other address the
 * package does not own NM_E_FOREIGN_OWNER (the kernel would dereference either).
 * The common case is a single compare; with @cx, an owner word found once in
 * the table is not looked up again in the same batch.
 */
NM_HOT int nm_owner_area(struct nm_ref *r, struct nm_ctx *cx)
{
	uintptr_t owner = (uintptr_t)__atomic_load_n(&r->niov->owner, NM_RELAXED);
	struct nm_area *a = NULL;
	size_t i;

	if (owner == (uintptr_t)&r->area->owner)
		return 0;
	if (!owner)
		return NM_E_NULL_OWNER;
	if (cx && owner == cx->owner) {
		r->area = cx->owner_area;
		return 0;
	}
	for (i = 0; i < nm_nregions && !a; i++)
		if (nm_regions[i].kind == NM_R_AREA && owner == (uintptr_t)&((struct nm_area *)nm_regions[i].obj)->owner)
			a = nm_regions[i].obj;
	if (!a)
		return NM_E_FOREIGN_OWNER;
	if (cx) {
		cx->owner = owner;
		cx->owner_area = a;
	}
	r->area = a;
	return 0;
}

/*
 * nm_owner_area(), then r->idx becomes the kernel's net_iov_idx() =
 * (unsigned int)(niov - owner->niovs), read from that owner's memory.
 */
NM_HOT int nm_follow_owner(struct nm_ref *r)
{
	intptr_t diff;
	int rc = nm_owner_area(r, NULL);

	if (rc)
		return rc;
	diff = (intptr_t)((uintptr_t)r->niov - (uintptr_t)__atomic_load_n(&r->niov->owner->niovs, NM_RELAXED));
	r->idx = (unsigned int)(diff / (intptr_t)sizeof(struct net_iov));
	return 0;
}

/*
 * compound_head(page) from the stored word, as the kernel reads it: bit 0 set
 * means a tail whose head is word - 1.  The head must be a live page of the
 * same map (NM_E_BAD_HEAD otherwise: the kernel would follow the word anywhere).
 */
NM_HOT int nm_follow_head(const struct nm_ref *r, size_t *head)
{
	unsigned long word = __atomic_load_n(&r->page->compound_head, NM_RELAXED);
	const struct nm_pagemap *m = r->map;
	uintptr_t h, start = (uintptr_t)m->pages;

	if (!(word & 1UL)) {
		*head = r->idx;
		return 0;
	}
	h = word - 1;
	if (h < start || h >= start + m->num * sizeof(struct page) || (h - start) % sizeof(struct page))
		return NM_E_BAD_HEAD;
	*head = (h - start) / sizeof(struct page);
	if (__atomic_load_n(&m->state[*head], NM_ACQ) == NM_PAGE_FREE)
		return NM_E_FREED;
	return 0;
}

/* Address of descriptor word @field (NM_F_WORD0 .. NM_F_PP_REF_COUNT): the niov's desc or the page. */
NM_HOT unsigned long *nm_word(const struct nm_ref *r, int field)
{
	void *base = r->kind == NM_KIND_NIOV ? (void *)NM_D(r->niov) : (void *)r->page;

	return (unsigned long *)base + field;
}

/* nm_word() indexes words by NM_F_* number: pin each to its member in both descriptors. */
#define NM_ASSERT_WORD(field, member)                                                                   \
	_Static_assert(offsetof(struct page, member) == (field) * sizeof(unsigned long),               \
		       "struct page: " #member " is not word " #field);                                 \
	_Static_assert(offsetof(__typeof__(*NM_D((struct net_iov *)0)), member) ==                      \
			       (field) * sizeof(unsigned long),                                          \
		       "net_iov descriptor: " #member " is not word " #field)
NM_ASSERT_WORD(NM_F_PP_MAGIC, pp_magic);
NM_ASSERT_WORD(NM_F_PP, pp);
NM_ASSERT_WORD(NM_F_DMA_ADDR, dma_addr);
NM_ASSERT_WORD(NM_F_PP_REF_COUNT, pp_ref_count);
_Static_assert(offsetof(struct page, flags) == NM_F_WORD0 * sizeof(unsigned long), "struct page: flags is not word 0");

/* ---- counters: bounded CAS loops, nothing written on failure ---- */

/*
 * Add @k (1 .. INT_MAX) to a counter that must be live: NM_E_FREED if it is
 * negative or (unless @allow_zero) zero, NM_E_OVERFLOW past INT_MAX.
 */
NM_HOT int nm_int_inc(int *c, int k, int allow_zero)
{
	int old = __atomic_load_n(c, NM_RELAXED);

	do {
		if (old < 0 || (old == 0 && !allow_zero))
			return NM_E_FREED;
		if (old > INT_MAX - k)
			return NM_E_OVERFLOW;
	} while (!NM_CAS(c, &old, old + k));
	return 0;
}

/*
 * The devmem binding's counter, on the hot path: one locked add of @delta
 * (+k for k gets, -k for k puts), then a bounds check that undoes the add on
 * failure (nothing changes net).  The binding never legitimately leaves
 * 1 .. INT_MAX while its area is bound (the area holds the first reference;
 * after unbind the last put takes it to 0 and the binding is dead: a get fails
 * as refcount_inc_not_zero() does), so the only callers that can observe the
 * transient value are themselves misusing it.  Pages keep the CAS loops:
 * their count reaching zero frees the page, so it must never be resurrected.
 * A put may take the count to 0 only once the binding is unbound
 * (refcount_dec_and_test); k refs at once succeed exactly when k single ones would.
 */
NM_HOT int nm_binding_add(int *c, int delta, const int *unbound)
{
	int old = __atomic_fetch_add(c, delta, __ATOMIC_ACQ_REL);

	if (__builtin_expect(old <= 0 || (delta > 0 ? old > INT_MAX - delta
						    : old + delta < !__atomic_load_n(unbound, NM_ACQ)), 0)) {
		__atomic_fetch_sub(c, delta, __ATOMIC_ACQ_REL);
		if (old <= 0)
			return NM_E_BINDING_DEAD;
		return delta > 0 ? NM_E_OVERFLOW : NM_E_UNDERFLOW;
	}
	return 0;
}

/*
 * Take @k (1 .. INT_MAX) from a counter without going below 0; *now gets the
 * new value.  NM_E_FREED if it is already 0 or less (nothing left to drop),
 * NM_E_UNDERFLOW if it holds fewer than @k.
 */
NM_HOT int nm_int_dec(int *c, int k, int *now)
{
	int old = __atomic_load_n(c, NM_RELAXED);

	do {
		if (old <= 0)
			return NM_E_FREED;
		if (old < k) /* old - k < 0, without overflow at INT_MIN */
			return NM_E_UNDERFLOW;
	} while (!NM_CAS(c, &old, old - k));
	*now = old - k;
	return 0;
}
