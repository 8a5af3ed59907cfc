/*
 * netmem_ffi C runtime, validated field access and net_iov_init().
 * Included after netmem_rt.c, in the order of registry.RUNTIME_SOURCES, into one
 * translation unit per ABI generation.
 */

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
		*out = __atomic_load_n(nm_word(NM_D(niov), field), NM_RELAXED);
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
		base = NM_D(niov);
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
