/* 6.16: the provider type replaces __unused_padding in word 0. */

struct net_iov {
	enum net_iov_type type;
	unsigned long pp_magic;
	struct page_pool *pp;
	struct net_iov_area *owner;
	unsigned long dma_addr;
	atomic_long_t pp_ref_count;
};
