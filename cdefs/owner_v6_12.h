/* 6.12 (net/core/devmem.h): a dmabuf chunk owns its slice of net_iovs directly. */

struct net_iov;
struct net_devmem_dmabuf_binding;

struct dmabuf_genpool_chunk_owner {
	unsigned long base_virtual;
	dma_addr_t base_dma_addr;
	struct net_iov *niovs;
	size_t num_niovs;
	struct net_devmem_dmabuf_binding *binding;
};
