/*
 * From 6.15: the two providers embed struct net_iov_area at offset 0 of their
 * owner, so container_of(niov->owner, ...) is the owner's own address.
 * struct io_zcrx_area is io_uring-internal; only its leading members, the
 * ones netmem's users depend on, are modelled.
 */

struct net_devmem_dmabuf_binding;
struct io_zcrx_ifq;

struct dmabuf_genpool_chunk_owner {
	struct net_iov_area area;
	struct net_devmem_dmabuf_binding *binding;
	dma_addr_t base_dma_addr;
};

struct io_zcrx_area {
	struct net_iov_area nia;
	struct io_zcrx_ifq *ifq;
	atomic_t *user_refs;
	_Bool is_mapped;
	unsigned short area_id;
};
