/*
 * netmem_ffi C runtime, net_iov areas: creation, adoption, close.
 * Included after netmem_rt.c, in the order of registry.RUNTIME_SOURCES, into one
 * translation unit per ABI generation.
 */

/* ---- areas ---- */

/*
 * At most 2^32 niovs, and never more than size_t can count in bytes
 * (a shift by 32 would be undefined on ILP32).
 */
#if SIZE_MAX > 0xffffffffUL
#define NM_MAX_NIOVS ((size_t)1 << 32)
#else
#define NM_MAX_NIOVS ((SIZE_MAX - 4096) / (sizeof(struct net_iov) + sizeof(atomic_t)))
#endif

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

/* An area's block: struct nm_area, io_uring's user_refs[num], then the niovs (unless adopted). */
static size_t nm_area_niovs_offset(size_t num, int type)
{
	size_t off = sizeof(struct nm_area);

	if (type == NET_IOV_IOURING_ID)
		off += num * sizeof(atomic_t);
	return (off + 63) & ~(size_t)63;
}

size_t nm_area_block_size(size_t num, int type, int with_niovs)
{
	if (num == 0 || num > NM_MAX_NIOVS || nm_area_check_type(type))
		return 0;
	return nm_area_niovs_offset(num, type) + (with_niovs ? num * sizeof(struct net_iov) : 0);
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

/* net_iov_init() every niov (zero already: the block is); devmem niovs get owner->base_dma_addr + (idx << PAGE_SHIFT). */
static void nm_area_init_niovs(struct nm_area *a, dma_addr_t base_dma_addr)
{
	size_t i;

#if NM_HAS_AREA
	if (a->type == NET_IOV_DMABUF_ID)
		a->owner.dmabuf.base_dma_addr = base_dma_addr;
#else
	a->owner.dmabuf.base_dma_addr = base_dma_addr;
#endif
	for (i = 0; i < a->num; i++) {
		nm_niov_init(&a->niovs[i], a, a->type);
		if (a->type == NET_IOV_DMABUF_ID)
			NM_D(&a->niovs[i])->dma_addr = (unsigned long)(base_dma_addr + ((dma_addr_t)i << NM_NIOV_PAGE_SHIFT));
	}
}

/*
 * @block (nm_area_block_size() bytes, zeroed, owned by the caller, who keeps
 * it alive until after nm_area_close()) holds the area's state.  With @niovs
 * NULL the niovs live in @block too and are initialised; otherwise the
 * caller's array of @num niovs is adopted as it is.  Only the area's own
 * struct is cleared here: io_uring's user_refs and the niovs are left as the
 * zeroed block has them, so a large area touches each page once (calloc's
 * fresh pages are not touched at all until then).
 */
int nm_area_create(void *block, size_t len, void *niovs, size_t num, int type, dma_addr_t base_dma_addr,
		   struct nm_area **out)
{
	struct nm_area *a = block;
	size_t need = nm_area_block_size(num, type, niovs == NULL);
	size_t off;
	int rc;

	if (!block || need == 0 || len < need || (uintptr_t)block % _Alignof(struct nm_area) ||
	    (uintptr_t)niovs % _Alignof(struct net_iov))
		return NM_E_INVAL;
	off = nm_area_niovs_offset(num, type);
	memset(a, 0, sizeof(*a));
	a->num = num;
	a->type = type;
	a->binding.ref.counter = 1;
	a->binding.id = __atomic_add_fetch(&nm_binding_ids, 1, NM_RELAXED);
	a->unbound = 0;
	if (type == NET_IOV_IOURING_ID)
		a->user_refs = (atomic_t *)(a + 1);
	a->niovs = niovs ? niovs : (struct net_iov *)((unsigned char *)block + off);
	nm_area_link_owner(a);
	if (!niovs)
		nm_area_init_niovs(a, base_dma_addr);
	NM_WRITE_LOCKED(rc = nm_register((uintptr_t)a->niovs, num * sizeof(struct net_iov), sizeof(struct net_iov),
					 NM_R_AREA, a));
	if (rc)
		return rc;
	*out = a;
	return 0;
}

static size_t nm_area_refs_held(const struct nm_area *a)
{
	size_t i, held = (size_t)(__atomic_load_n(&a->binding.ref.counter, NM_ACQ) -
				  !__atomic_load_n(&a->unbound, NM_ACQ));

	if (a->user_refs)
		for (i = 0; i < a->num; i++)
			held += (size_t)__atomic_load_n(&a->user_refs[i].counter, NM_ACQ);
	return held;
}

int nm_area_outstanding(struct nm_area *a, size_t *out)
{
	NM_READ_LOCKED(*out = nm_area_refs_held(a));
	return 0;
}

static int nm_area_close_locked(struct nm_area *a)
{
	if (nm_area_refs_held(a))
		return NM_E_BUSY;
	nm_unregister(a);
	return 0;
}

/* Unregister the area; its block stays the caller's (nothing here frees it). */
int nm_area_close(struct nm_area *a)
{
	int rc;

	NM_WRITE_LOCKED(rc = nm_area_close_locked(a));
	return rc;
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

/*
 * net_devmem_unbind_dmabuf(): drop the area's own binding reference.  The
 * binding lives on while niovs are still referenced and dies with the last
 * put_netmem (refcount_dec_and_test); NM_E_BINDING_DEAD if already unbound.
 */
int nm_area_unbind(struct nm_area *a)
{
	int zero = 0;

	if (a->user_refs)
		return NM_E_WRONG_PROVIDER;
	if (!NM_CAS(&a->unbound, &zero, 1))
		return NM_E_BINDING_DEAD;
	__atomic_fetch_sub(&a->binding.ref.counter, 1, __ATOMIC_ACQ_REL);
	return 0;
}

static int nm_binding_id_locked(uintptr_t binding, unsigned int *out)
{
	size_t i;

	for (i = 0; i < nm_nregions; i++) {
		struct nm_area *a = nm_regions[i].obj;

		if (nm_regions[i].kind == NM_R_AREA && binding == (uintptr_t)&a->binding) {
			*out = a->binding.id;
			return 0;
		}
	}
	return binding ? NM_E_NOT_OWNED : NM_E_NULL_OWNER;
}

/* binding->id of a binding pointer read from a chunk owner; it must be one of ours. */
int nm_binding_id(uintptr_t binding, unsigned int *out)
{
	int rc;

	NM_READ_LOCKED(rc = nm_binding_id_locked(binding, out));
	return rc;
}

int nm_area_unbound(struct nm_area *a)
{
	return __atomic_load_n(&a->unbound, NM_ACQ);
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
