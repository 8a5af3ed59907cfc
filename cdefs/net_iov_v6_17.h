/*
 * 6.17 .. 6.19: the descriptor, or its six fields by name, then owner and type.
 * 6.19 kept this declaration and changed only enum net_iov_type.
 */

struct net_iov {
	union {
		struct netmem_desc desc;
		struct {
			unsigned long _flags;
			unsigned long pp_magic;
			struct page_pool *pp;
			unsigned long _pp_mapping_pad;
			unsigned long dma_addr;
			atomic_long_t pp_ref_count;
		};
	};
	struct net_iov_area *owner;
	enum net_iov_type type;
};
