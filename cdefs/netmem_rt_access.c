/*
 * netmem_ffi C runtime, validated field access and net_iov_init().
 * Included after netmem_rt.c, in the order of registry.RUNTIME_SOURCES, into one
 * translation unit per ABI generation.
 */

/* ---- field access ---- */

int nm_classify(netmem_ref n)
{
	struct nm_ref r;
	int rc;

	NM_READ_LOCKED(rc = nm_resolve(n, NULL, &r));
	return rc ? -rc : r.kind;
}

int nm_owns(netmem_ref n)
{
	int found;

	NM_READ_LOCKED(found = nm_find(n & ~1UL, NM_NO_HINT) != NULL);
	return found;
}

static int nm_niov_load(struct nm_ref *r, int field, unsigned long *out)
{
	struct net_iov *niov = r->niov;
	int rc;

	switch (field) {
	case NM_F_TYPE:
#if NM_HAS_TYPE
		*out = (unsigned long)niov->type;
#else /* before 6.16 only the owner knows the provider */
		rc = nm_follow_owner(r);
		if (rc)
			return rc;
		*out = (unsigned long)r->area->type;
#endif
		return 0;
	case NM_F_OWNER:
		*out = (unsigned long)__atomic_load_n(&niov->owner, NM_RELAXED);
		return 0;
	case NM_F_IDX:
		rc = nm_follow_owner(r);
		*out = r->idx;
		return rc;
	default:
		return NM_E_NOT_PAGE;
	}
}

static int nm_page_load(const struct nm_ref *r, int field, unsigned long *out)
{
	struct nm_pagemap *m = r->map;
	size_t head;
	int rc;

	switch (field) {
	case NM_F_REFCOUNT:
		*out = (unsigned long)(long)__atomic_load_n(&r->page->_refcount.counter, NM_ACQ);
		return 0;
	case NM_F_PFN:
		*out = m->base_pfn + r->idx;
		return 0;
	case NM_F_ADDRESS:
		*out = (unsigned long)(m->frames + r->idx * m->page_size);
		return 0;
	case NM_F_HEAD:
		rc = nm_follow_head(r, &head);
		if (rc)
			return rc;
		*out = (unsigned long)&m->pages[head];
		return 0;
	default:
		return NM_E_NOT_NIOV;
	}
}

static int nm_load_locked(netmem_ref n, int field, unsigned long *out)
{
	struct nm_ref r;
	int rc = nm_resolve(n, NULL, &r);

	if (rc)
		return rc;
	switch (field) {
	case NM_F_WORD0: /* the descriptor words both kinds share (nm_word() is pinned to them) */
	case NM_F_PP_MAGIC:
	case NM_F_PP:
	case NM_F_DMA_ADDR:
	case NM_F_PP_REF_COUNT:
		*out = __atomic_load_n(nm_word(&r, field), NM_ACQ);
		return 0;
	default:
		return r.kind == NM_KIND_NIOV ? nm_niov_load(&r, field, out) : nm_page_load(&r, field, out);
	}
}

int nm_load(netmem_ref n, int field, unsigned long *out)
{
	int rc;

	NM_READ_LOCKED(rc = nm_load_locked(n, field, out));
	return rc;
}

/* Atomically word = (word & keep_mask) | or_bits, for the page_pool words pp_magic, pp and dma_addr. */
static int nm_update_locked(netmem_ref n, int field, unsigned long keep_mask, unsigned long or_bits,
			    unsigned long *old)
{
	struct nm_ref r;
	unsigned long *w, cur;
	int rc = nm_resolve(n, NULL, &r);

	if (rc)
		return rc;
	w = nm_word(&r, field);
	cur = __atomic_load_n(w, NM_RELAXED);
	while (!NM_CAS(w, &cur, (cur & keep_mask) | or_bits))
		;
	*old = cur;
	return 0;
}

int nm_update(netmem_ref n, int field, unsigned long keep_mask, unsigned long or_bits, unsigned long *old)
{
	int rc;

	if (field != NM_F_PP_MAGIC && field != NM_F_PP && field != NM_F_DMA_ADDR)
		return NM_E_INVAL;
	NM_READ_LOCKED(rc = nm_update_locked(n, field, keep_mask, or_bits, old));
	return rc;
}

static int nm_virt_to_page_locked(uintptr_t va, netmem_ref *out)
{
	const struct nm_region *r = nm_find(va, NM_NO_HINT);
	struct nm_pagemap *m;

	if (!r)
		return nm_missing(va);
	if (r->kind != NM_R_FRAMES)
		return NM_E_INVAL;
	m = r->obj;
	*out = (netmem_ref)&m->pages[(va - r->start) >> m->page_shift];
	return 0;
}

int nm_virt_to_page(uintptr_t va, netmem_ref *out)
{
	int rc;

	NM_READ_LOCKED(rc = nm_virt_to_page_locked(va, out));
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

static int nm_net_iov_init_locked(netmem_ref n, uintptr_t owner, int type)
{
	struct net_iov *niov;
	struct nm_area *a;
	int rc = nm_resolve_niov(n, NULL, &niov, &a, NULL);

	if (rc)
		return rc;
	if (owner != (uintptr_t)&a->owner)
		return NM_E_INVAL;
	nm_niov_init(niov, a, type);
	return 0;
}

/* net_iov_init() of a niov with its own area's owner (@owner must be nm_area_owner() of it). */
int nm_net_iov_init(netmem_ref n, uintptr_t owner, int type)
{
	int rc;

	if (type != NET_IOV_DMABUF_ID && type != NET_IOV_IOURING_ID)
		return NM_E_INVAL;
	NM_READ_LOCKED(rc = nm_net_iov_init_locked(n, owner, type));
	return rc;
}
