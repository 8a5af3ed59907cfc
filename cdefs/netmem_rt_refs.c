/*
 * netmem_ffi C runtime, the refcount path: get/put_netmem, bulk, pp_ref_count, io_uring user refs.
 * Included after netmem_rt.c, in the order of registry.RUNTIME_SOURCES, into one
 * translation unit per ABI generation.
 */

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

/*
 * The counter get/put_netmem move for a resolved ref, found the way the kernel
 * finds it: the _refcount of the head page named by the stored compound_head
 * word (r->idx becomes the head's index), or the devmem binding of the area
 * niov->owner points at; *c = NULL for an io_uring niov (get/put_netmem leave
 * those alone, and never read their owner).
 */
NM_HOT int nm_ref_counter(struct nm_ref *r, int **c)
{
	size_t head;
	int rc;

	if (r->kind == NM_KIND_PAGE) {
		rc = nm_follow_head(r, &head);
		if (rc)
			return rc;
		r->idx = head;
		*c = &r->map->pages[head]._refcount.counter;
		return 0;
	}
#if NM_HAS_TYPE
	if (r->niov->type != NET_IOV_DMABUF) {
		*c = NULL;
		return 0;
	}
#endif
	rc = nm_follow_owner(r);
	if (rc)
		return rc;
	*c = nm_niov_is_devmem(r->niov, r->area) ? &r->area->binding.ref.counter : NULL;
	return 0;
}

NM_HOT int nm_get_one(netmem_ref n, struct nm_ctx *cx)
{
	struct nm_ref r;
	int *c, rc = nm_resolve(n, cx, &r);

	if (!rc)
		rc = nm_ref_counter(&r, &c);
	if (rc || !c)
		return rc;
	return r.kind == NM_KIND_NIOV ? nm_binding_add(c, 1, &r.area->unbound) : nm_int_inc(c, 0);
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
	struct nm_ref r;
	int *c, now, rc = nm_resolve(n, cx, &r);

	if (!rc)
		rc = nm_ref_counter(&r, &c);
	if (rc || !c)
		return rc;
	/* The area holds the binding's first reference until area.unbind(); put_netmem cannot drop it. */
	if (r.kind == NM_KIND_NIOV)
		return nm_binding_add(c, -1, &r.area->unbound);
	if (pending) {
		rc = nm_pending_reserve(pending);
		if (rc)
			return rc;
	}
	rc = nm_int_dec(c, 0, &now);
	if (rc || now)
		return rc;
	if (pending) {
		pending->maps[pending->len] = r.map;
		pending->heads[pending->len++] = r.idx;
	} else
		nm_page_free(r.map, r.idx);
	return 0;
}

/* Undo of one successful put of a batch (the page, if at zero, is not freed yet). */
static void nm_unput_one(netmem_ref n, struct nm_ctx *cx)
{
	struct nm_ref r;
	int *c;

	if (n & 1UL) {
		if (nm_resolve(n, cx, &r))
			return;
	} else { /* a page at zero no longer resolves: find it by address */
		const struct nm_region *reg = nm_find(n, NULL);

		r.kind = NM_KIND_PAGE;
		r.map = reg->obj;
		r.page = (struct page *)n;
		r.idx = (n - reg->start) / sizeof(struct page);
	}
	if (!nm_ref_counter(&r, &c) && c)
		__atomic_add_fetch(c, 1, __ATOMIC_ACQ_REL);
}

int nm_get_netmem(netmem_ref n)
{
	int rc;

	NM_READ_LOCKED(rc = nm_get_one(n, NULL));
	return rc;
}

int nm_put_netmem(netmem_ref n)
{
	int rc;

	NM_READ_LOCKED(rc = nm_put_one(n, NULL, NULL));
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

/*
 * @refs must not change during the call (the Python side passes its own
 * copy): the undo of a failed batch reads the refs a second time.
 */
static int nm_get_bulk_locked(const netmem_ref *refs, size_t n, size_t *bad)
{
	struct nm_ctx cx = { NULL };
	size_t i;
	int rc = 0;

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
	return rc;
}

static int nm_put_bulk_locked(const netmem_ref *refs, size_t n, size_t *bad)
{
	struct nm_ctx cx = { NULL };
	struct nm_pending pending = { NULL, NULL, 0, 0 };
	size_t i;
	int rc = 0;

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
	free(pending.maps);
	free(pending.heads);
	return rc;
}

int nm_get_netmem_bulk(const netmem_ref *refs, size_t n, size_t *bad)
{
	int rc;

	NM_READ_LOCKED(rc = nm_get_bulk_locked(refs, n, bad));
	return rc;
}

int nm_put_netmem_bulk(const netmem_ref *refs, size_t n, size_t *bad)
{
	int rc;

	NM_READ_LOCKED(rc = nm_put_bulk_locked(refs, n, bad));
	return rc;
}

/* ---- page_pool's pp_ref_count ---- */

static int nm_pp_counter(netmem_ref n, long **counter)
{
	struct nm_ref r;
	int rc = nm_resolve(n, NULL, &r);

	if (!rc)
		*counter = r.kind == NM_KIND_NIOV ? &NM_D(r.niov)->pp_ref_count.counter : &r.page->pp_ref_count.counter;
	return rc;
}

static int nm_pp_fragment_locked(netmem_ref n, long nr)
{
	long *c;
	int rc = nm_pp_counter(n, &c);

	if (!rc)
		__atomic_store_n(c, nr, NM_REL);
	return rc;
}

int nm_pp_fragment(netmem_ref n, long nr)
{
	int rc;

	if (nr < 0)
		return NM_E_INVAL;
	NM_READ_LOCKED(rc = nm_pp_fragment_locked(n, nr));
	return rc;
}

static int nm_pp_ref_locked(netmem_ref n)
{
	long *c, old;
	int rc = nm_pp_counter(n, &c);

	if (rc)
		return rc;
	old = __atomic_load_n(c, NM_RELAXED);
	do {
		if (old == LONG_MAX)
			return NM_E_OVERFLOW;
	} while (!NM_CAS(c, &old, old + 1));
	return 0;
}

int nm_pp_ref(netmem_ref n)
{
	int rc;

	NM_READ_LOCKED(rc = nm_pp_ref_locked(n));
	return rc;
}

/*
 * page_pool_unref_netmem(): if the counter reads exactly @nr the caller holds
 * every reference: it ends at 1 and 0 is returned (fast path).  Otherwise @nr
 * is subtracted and the result returned.  Where the kernel would WARN on a
 * negative result, the model refuses and leaves the counter as it was.
 */
static int nm_pp_unref_locked(netmem_ref n, long nr, long *ret)
{
	long *c, old;
	int rc = nm_pp_counter(n, &c);

	if (rc)
		return rc;
	old = __atomic_load_n(c, NM_ACQ);
	for (;;) {
		if (old < nr)
			return NM_E_UNDERFLOW;
		if (NM_CAS(c, &old, old == nr ? 1L : old - nr)) {
			*ret = old == nr ? 0 : old - nr;
			return 0;
		}
	}
}

int nm_pp_unref(netmem_ref n, long nr, long *ret)
{
	int rc;

	if (nr < 1)
		return NM_E_INVAL;
	NM_READ_LOCKED(rc = nm_pp_unref_locked(n, nr, ret));
	return rc;
}

/* ---- io_uring zcrx user references: area->user_refs[net_iov_idx(niov)] ---- */

static int nm_uref_counter(netmem_ref n, int **counter)
{
	struct nm_ref r;
	int rc = nm_resolve_niov(n, NULL, &r.niov, &r.area, NULL);

	if (!rc)
		rc = nm_follow_owner(&r);
	if (rc)
		return rc;
	if (!r.area->user_refs)
		return NM_E_WRONG_PROVIDER;
	if (r.idx >= r.area->num) /* the kernel would index user_refs out of bounds */
		return NM_E_INVAL;
	*counter = &r.area->user_refs[r.idx].counter;
	return 0;
}

/* get (@delta 1) or put (@delta -1, *dropped: whether it was above 0) one user ref. */
static int nm_uref_locked(netmem_ref n, int delta, int *dropped)
{
	int *c, now, rc = nm_uref_counter(n, &c);

	if (rc)
		return rc;
	if (delta > 0)
		return nm_int_inc(c, 1);
	*dropped = nm_int_dec(c, 0, &now) == 0;
	return 0;
}

int nm_uref_get(netmem_ref n)
{
	int rc;

	NM_READ_LOCKED(rc = nm_uref_locked(n, 1, NULL));
	return rc;
}

int nm_uref_put(netmem_ref n, int *dropped)
{
	int rc;

	NM_READ_LOCKED(rc = nm_uref_locked(n, -1, dropped));
	return rc;
}

/* ---- benchmark baselines ---- */

int nm_empty(netmem_ref n)
{
	(void)n;
	return 0;
}

/*
 * The counters get/put_netmem touch, bumped atomically with no validation at
 * all: the floor the bulk path is measured against (netmem-ffi bench).
 */
void nm_counter_add_loop(const netmem_ref *refs, size_t n, int delta)
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
		__atomic_add_fetch(c, delta, __ATOMIC_ACQ_REL);
	}
}
