/*
 * Declarations shared by every netmem generation.
 *
 * This text is fed unchanged to cffi's cdef and to the C compiler (after
 * <stddef.h>/<limits.h>), and parsed by the portable layout engine, so it
 * uses only plain C declarations: no macros, no attributes, no includes.
 *
 * struct page is modelled only as far as netmem sees it: the page_pool words
 * that struct netmem_desc mirrors, the words they share a union with
 * (lru, compound_head), page_type/_mapcount, _refcount and memcg_data
 * (CONFIG_MEMCG=y, as in Debian's configs).  Word sizes follow the target's
 * unsigned long, so the same text gives the LP64 and the ILP32 window.
 */

typedef unsigned long netmem_ref;

typedef struct {
	int counter;
} atomic_t;

typedef struct {
	long counter;
} atomic_long_t;

typedef unsigned long long dma_addr_t;

struct page_pool;
struct address_space;

struct list_head {
	struct list_head *next;
	struct list_head *prev;
};

struct page {
	unsigned long flags;
	union {
		struct {
			struct list_head lru;
			struct address_space *mapping;
			unsigned long index;
			unsigned long private;
		};
		struct {
			unsigned long pp_magic;
			struct page_pool *pp;
			unsigned long _pp_mapping_pad;
			unsigned long dma_addr;
			atomic_long_t pp_ref_count;
		};
		struct {
			unsigned long compound_head;
		};
	};
	union {
		unsigned int page_type;
		atomic_t _mapcount;
	};
	atomic_t _refcount;
	unsigned long memcg_data;
};
