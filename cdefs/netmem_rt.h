/*
 * The C runtime of netmem_ffi: memory the package owns (net_iov areas and a
 * simulated memory map of struct pages) and the refcount path.
 *
 * Same text for cffi's cdef and for the C compiler.  Every function
 * validates the netmem_ref it is given against the regions this module owns
 * before touching memory, returns 0 or a NM_E_* code, and leaves every
 * counter unchanged when it fails.  All run without the GIL; they are safe
 * to call from many threads at once.
 */

#define NM_E_NOT_OWNED 1
#define NM_E_MISALIGNED 2
#define NM_E_NOT_NIOV 3
#define NM_E_NOT_PAGE 4
#define NM_E_FREED 5
#define NM_E_CLOSED 6
#define NM_E_UNDERFLOW 7
#define NM_E_OVERFLOW 8
#define NM_E_BUSY 9
#define NM_E_NOMEM 10
#define NM_E_INVAL 11
#define NM_E_BINDING_DEAD 12
#define NM_E_WRONG_PROVIDER 13
#define NM_E_NO_SPACE 14
#define NM_E_TAG_MISMATCH 15
#define NM_E_NULL_OWNER 16
#define NM_E_FOREIGN_OWNER 17
#define NM_E_BAD_HEAD 18

#define NM_KIND_NIOV 1
#define NM_KIND_PAGE 2

/* Fields for nm_load / nm_update; WORD0 .. DMA_ADDR are also word indices into the descriptor. */
#define NM_F_WORD0 0
#define NM_F_PP_MAGIC 1
#define NM_F_PP 2
#define NM_F_DMA_ADDR 4
#define NM_F_PP_REF_COUNT 5
#define NM_F_REFCOUNT 6
#define NM_F_TYPE 7
#define NM_F_OWNER 8
#define NM_F_IDX 9
#define NM_F_PFN 10
#define NM_F_ADDRESS 11
#define NM_F_HEAD 12

struct nm_area;
struct nm_pagemap;

struct nm_pagemap_info {
	uintptr_t pages;
	uintptr_t frames;
	size_t num_pages;
	size_t page_size;
	size_t stride;
	unsigned long base_pfn;
	int nid;
	unsigned int nodes_pgshift;
};

/* Areas of struct net_iov (devmem dmabuf bindings and io_uring zcrx areas). */
/* An area lives in a caller-owned, zeroed block of nm_area_block_size() bytes (0: bad arguments;
 * nm_zalloc gives one); with niovs NULL the niovs are in the block and initialised, else the
 * caller's array is adopted. */
size_t nm_area_block_size(size_t num_niovs, int type, int with_niovs);
int nm_area_create(void *block, size_t len, void *niovs, size_t num_niovs, int type, dma_addr_t base_dma_addr,
		   struct nm_area **out);
int nm_area_close(struct nm_area *area);
struct net_iov *nm_area_niovs(struct nm_area *area);
size_t nm_area_num_niovs(struct nm_area *area);
void *nm_area_owner(struct nm_area *area);
int nm_area_binding_refcount(struct nm_area *area);
int nm_area_unbind(struct nm_area *area);
int nm_area_unbound(struct nm_area *area);
int nm_binding_id(uintptr_t binding, unsigned int *out);
int nm_area_user_refs(struct nm_area *area, size_t idx, int *out);
int nm_area_outstanding(struct nm_area *area, size_t *out);

/* A simulated memory map: struct page array plus the frames it describes. */
int nm_pagemap_create(size_t num_pages, unsigned int page_shift, int nid, unsigned long base_pfn,
		      void *frames, struct nm_pagemap **out);
int nm_pagemap_close(struct nm_pagemap *map);
void nm_pagemap_info(struct nm_pagemap *map, struct nm_pagemap_info *out);
int nm_page_alloc(struct nm_pagemap *map, unsigned int order, int pfmemalloc, netmem_ref *out);
size_t nm_pagemap_allocated(struct nm_pagemap *map);
/* Page frames, owned by Python (a cffi allocator over mmap/munmap; zeroed). */
void *nm_frames_alloc(size_t size);
void nm_frames_free(void *frames);
/* Area blocks, owned by Python (a cffi allocator over calloc/free: a large block's pages are
 * fresh from the kernel, zero and untouched until used). */
void *nm_zalloc(size_t size);
void nm_zfree(void *p);

/* Validation and field access. */
int nm_classify(netmem_ref netmem);
int nm_owns(netmem_ref netmem);
int nm_load(netmem_ref netmem, int field, unsigned long *out);
int nm_update(netmem_ref netmem, int field, unsigned long keep_mask, unsigned long or_bits, unsigned long *old);
int nm_virt_to_page(uintptr_t va, netmem_ref *out);
int nm_net_iov_init(netmem_ref netmem, uintptr_t owner, int type);

/* The refcount path. */
int nm_get_netmem(netmem_ref netmem);
int nm_put_netmem(netmem_ref netmem);
/* get (@sign 1) or put (-1) every ref, all or nothing.  Each ref is read once (another thread may
 * rewrite @refs meanwhile; a failed batch is undone from a log of its moves); on error *bad is the
 * first bad ref's index and *bad_ref (unless NULL) that ref as read. */
int nm_netmem_bulk(const netmem_ref *refs, size_t n, int sign, size_t *bad, netmem_ref *bad_ref);
int nm_get_netmem_bulk(const netmem_ref *refs, size_t n, size_t *bad);
int nm_put_netmem_bulk(const netmem_ref *refs, size_t n, size_t *bad);
int nm_pp_fragment(netmem_ref netmem, long nr);
int nm_pp_ref(netmem_ref netmem);
int nm_pp_unref(netmem_ref netmem, long nr, long *ret);
int nm_uref_get(netmem_ref netmem);
int nm_uref_put(netmem_ref netmem, int *dropped);

/* Baselines for benchmarks: the floor of a cffi call, a bare atomic loop. */
int nm_empty(netmem_ref netmem);
void nm_counter_add_loop(const netmem_ref *refs, size_t n, int delta);
