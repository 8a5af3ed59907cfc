/*
 * netmem_ffi C runtime, the refcount path: get/put_netmem, pp_ref_count, io_uring user refs.
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
 * One ref of a batch, validated: the counter get/put_netmem move for it, found
 * the way the kernel finds it (the _refcount of the head page named by the
 * stored compound_head word, or the devmem binding of the area niov->owner
 * points at), and the head page a put that reaches zero frees.
 */
struct nm_op {
	int *c;		    /* NULL: nothing to move (io_uring niovs are left alone, their owner never read) */
	const int *unbound; /* a binding's: its area's flag; NULL for a page's _refcount */
	uintptr_t owner;    /* a binding's: the owner word naming its area (&area->owner) */
	struct nm_pagemap *map;
	size_t head;
};

/* The op that moves the _refcount of @hp, page @head of @m. */
NM_HOT void nm_page_op(struct nm_pagemap *m, size_t head, struct page *hp, struct nm_op *op)
{
	op->c = &hp->_refcount.counter;
	op->unbound = NULL;
	op->owner = 0;
	op->map = m;
	op->head = head;
}

/*
 * nm_plan_one() of a ref known to be a page's (bit 0 clear): what
 * nm_resolve_page() checks, then the head named by its compound_head word.
 * nm_resolve_page() requires the count of the page's head in the map's
 * allocation to be live.  When the page is that head and its compound_head
 * word names no other (the usual case), the move that follows checks that
 * very counter and fails the same way (NM_E_FREED at zero or below), so the
 * check is left to it: two loads fewer a page.
 */
NM_HOT int nm_plan_page(netmem_ref n, struct nm_ctx *cx, struct nm_op *op)
{
	struct nm_ref r = { .kind = NM_KIND_PAGE, .page = (struct page *)n };
	const struct nm_region *reg;
	unsigned char state;
	size_t head;
	int rc = nm_locate_page(n, cx ? cx->page_hint : NM_NO_HINT, &reg, &r.idx, &state);

	if (rc)
		return rc;
	r.map = reg->obj;
	if (state == NM_PAGE_HEAD && !(__atomic_load_n(&r.page->compound_head, NM_RELAXED) & 1UL)) {
		nm_page_op(r.map, r.idx, r.page, op);
	} else {
		if (!nm_head_live(r.map, r.idx))
			return NM_E_FREED;
		rc = nm_follow_head(&r, &head);
		if (rc)
			return rc;
		nm_page_op(r.map, head, &r.map->pages[head], op);
	}
	if (cx)
		cx->page_hint = reg;
	return 0;
}

/*
 * Validate @n and find its counter (@cx: the batch so far, or NULL).  A
 * binding's counter is never read; a page's is read only where its head is
 * found some other way than by its own state (nm_plan_page).
 */
NM_HOT int nm_plan_one(netmem_ref n, struct nm_ctx *cx, struct nm_op *op)
{
	struct nm_ref r;
	int rc;

	if (!(n & 1UL))
		return nm_plan_page(n, cx, op);
	rc = nm_resolve_niov(n, cx, &r.niov, &r.area, NULL);
	if (rc)
		return rc;
	op->c = NULL; /* nothing to move, unless a devmem niov */
	op->unbound = NULL;
#if NM_HAS_TYPE
	if (r.niov->type != NET_IOV_DMABUF)
		return 0;
#endif
	rc = nm_owner_area(&r, cx);
	if (rc)
		return rc;
#if !NM_HAS_TYPE
	if (!nm_niov_is_devmem(r.niov, r.area))
		return 0;
#endif
	op->c = &r.area->binding.ref.counter;
	op->unbound = &r.area->unbound;
	op->owner = (uintptr_t)&r.area->owner;
	return 0;
}

/*
 * Head pages that reached zero during a batch of puts, freed only once the
 * whole batch is known to be valid.
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

/*
 * Move @op's counter by @delta: +k for k gets, -k for k puts of the same
 * counter at once (all k succeed or nothing changes).  A page whose count
 * reaches zero is freed at once, or, with @pending, recorded there.
 */
NM_HOT int nm_move(const struct nm_op *op, int delta, struct nm_pending *pending)
{
	int now, rc;

	if (!op->c)
		return 0;
	/* The area holds the binding's first reference until area.unbind(); put_netmem cannot drop it. */
	if (op->unbound)
		return nm_binding_add(op->c, delta, op->unbound);
	if (delta > 0)
		return nm_int_inc(op->c, delta, 0);
	if (pending) {
		rc = nm_pending_reserve(pending);
		if (rc)
			return rc;
	}
	rc = nm_int_dec(op->c, -delta, &now);
	if (rc || now)
		return rc;
	if (pending) {
		pending->maps[pending->len] = op->map;
		pending->heads[pending->len++] = op->head;
	} else
		nm_page_free(op->map, op->head);
	return 0;
}

/* get (@delta 1) or put (-1) one ref. */
static int nm_ref_one(netmem_ref n, int delta)
{
	struct nm_op op;
	int rc = nm_plan_one(n, NULL, &op);

	return rc ? rc : nm_move(&op, delta, NULL);
}

int nm_get_netmem(netmem_ref n)
{
	int rc;

	NM_READ_LOCKED(rc = nm_ref_one(n, 1));
	return rc;
}

int nm_put_netmem(netmem_ref n)
{
	int rc;

	NM_READ_LOCKED(rc = nm_ref_one(n, -1));
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
		return nm_int_inc(c, 1, 1);
	*dropped = nm_int_dec(c, 1, &now) == 0;
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
