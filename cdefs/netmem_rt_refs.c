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
 * The counter get/put_netmem move for a niov ref: its devmem binding's
 * refcount, or NULL for an io_uring niov (get/put_netmem leave those alone).
 */
NM_HOT int nm_niov_binding(netmem_ref n, struct nm_ctx *cx, int **counter)
{
	struct net_iov *niov;
	struct nm_area *a;
	int rc = nm_resolve_niov(n, cx, &niov, &a, NULL);

	if (rc)
		return rc;
	*counter = nm_niov_is_devmem(niov, a) ? &a->binding.ref.counter : NULL;
	return 0;
}

NM_HOT int nm_get_one(netmem_ref n, struct nm_ctx *cx)
{
	int rc;

	if (n & 1UL) {
		int *binding;

		rc = nm_niov_binding(n, cx, &binding);
		return rc || !binding ? rc : nm_binding_add(binding, 1);
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
		int *binding;

		/* The area holds the binding's first reference; put_netmem cannot drop it. */
		rc = nm_niov_binding(n, cx, &binding);
		return rc || !binding ? rc : nm_binding_add(binding, -1);
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
