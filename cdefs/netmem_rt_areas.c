/*
 * netmem_ffi C runtime, net_iov areas: creation, adoption, close.
 * Included after netmem_rt.c, in the order of registry.RUNTIME_SOURCES, into one
 * translation unit per ABI generation.
 */

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
