/*
 * netmem_ffi C runtime, page maps: allocation, compound pages, free-and-poison.
 * Included after netmem_rt.c, in the order of registry.RUNTIME_SOURCES, into one
 * translation unit per ABI generation.
 */

#include <sys/mman.h>

/* ---- page-frame memory: mmap'ed, so freeing returns it to the system at once ---- */

#define NM_FRAMES_HEADER 4096 /* one page in front of the frames records the mapping's size */

void *nm_frames_alloc(size_t size)
{
	size_t total = size + NM_FRAMES_HEADER;
	unsigned char *p;

	if (size > SIZE_MAX - NM_FRAMES_HEADER)
		return NULL;
	p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	memcpy(p, &total, sizeof(total));
	return p + NM_FRAMES_HEADER;
}

void *nm_zalloc(size_t size)
{
	return calloc(1, size ? size : 1);
}

void nm_zfree(void *p)
{
	free(p);
}

void nm_frames_free(void *frames)
{
	unsigned char *p;
	size_t total;

	if (!frames)
		return;
	p = (unsigned char *)frames - NM_FRAMES_HEADER;
	memcpy(&total, p, sizeof(total));
	munmap(p, total);
}

/* ---- page allocation ---- */

/*
 * Threads holding a stale ref may read a page's words (validated, then
 * loaded atomically) while its block is freed or reallocated, so every word
 * of struct page and every byte of order[] is written with an atomic store.
 */
static void nm_page_word(unsigned long *w, unsigned long v)
{
	__atomic_store_n(w, v, NM_RELAXED);
}

static void nm_page_clear(struct page *pg)
{
	size_t i;

	for (i = 0; i < sizeof(*pg) / sizeof(unsigned long); i++)
		nm_page_word((unsigned long *)pg + i, 0);
}

static void nm_page_free(struct nm_pagemap *m, size_t head)
{
	size_t i, n;

	pthread_mutex_lock(&m->alloc_lock);
	if (m->state[head] != NM_PAGE_HEAD ||
	    __atomic_load_n(&m->pages[head]._refcount.counter, NM_ACQ) != 0) {
		pthread_mutex_unlock(&m->alloc_lock);
		return;
	}
	n = (size_t)1 << m->order[head];
	for (i = head; i < head + n; i++) {
		struct page *pg = &m->pages[i];

		__atomic_store_n(&m->state[i], NM_PAGE_FREE, NM_REL);
		nm_page_word((unsigned long *)&pg->lru.next, NM_LIST_POISON1);
		nm_page_word((unsigned long *)&pg->lru.prev, NM_LIST_POISON2);
		nm_page_word((unsigned long *)&pg->mapping, 0);
		nm_page_word(&pg->index, 0);
		nm_page_word(&pg->private, 0);
		__atomic_store_n(&m->order[i], 0, NM_RELAXED);
	}
	memset(m->frames + head * m->page_size, NM_PAGE_POISON, n * m->page_size);
	m->allocated -= n;
	if (head < m->hint)
		m->hint = head;
	pthread_mutex_unlock(&m->alloc_lock);
}

static int nm_block_free(const struct nm_pagemap *m, size_t start, size_t n)
{
	size_t i;

	for (i = start; i < start + n; i++)
		if (m->state[i] != NM_PAGE_FREE)
			return 0;
	return 1;
}

/* First fit from the map's hint; *start gets the block.  Caller holds m->alloc_lock. */
static int nm_find_block(const struct nm_pagemap *m, size_t n, size_t *start)
{
	size_t s, tries;

	if (n > m->num)
		return NM_E_NO_SPACE;
	s = (m->hint / n) * n;
	for (tries = 0; tries <= m->num / n; tries++, s += n) {
		if (s + n > m->num)
			s = 0;
		if (nm_block_free(m, s, n)) {
			*start = s;
			return 0;
		}
	}
	return NM_E_NO_SPACE;
}

static int nm_page_alloc_locked(struct nm_pagemap *m, unsigned int order, int pfmemalloc, netmem_ref *out)
{
	size_t n = (size_t)1 << order, start, i;
	struct page *head;
	int rc;

	pthread_mutex_lock(&m->alloc_lock);
	rc = nm_find_block(m, n, &start);
	if (!rc) {
		head = &m->pages[start];
		for (i = start; i < start + n; i++) {
			struct page *pg = &m->pages[i];

			nm_page_clear(pg);
			nm_page_word(&pg->flags, (unsigned long)m->nid << NM_NODES_PGSHIFT);
			if (i != start)
				nm_page_word(&pg->compound_head, (unsigned long)head | 1UL);
			__atomic_store_n(&m->order[i], (unsigned char)order, NM_RELAXED);
		}
		nm_page_word(&head->pp_magic, pfmemalloc ? 2UL : 0UL); /* lru.next bit 1: pfmemalloc */
		memset(m->frames + start * m->page_size, 0, n * m->page_size);
		__atomic_store_n(&head->_refcount.counter, 1, NM_REL);
		for (i = start + n; i-- > start;)
			__atomic_store_n(&m->state[i], i == start ? NM_PAGE_HEAD : NM_PAGE_TAIL, NM_REL);
		m->allocated += n;
		m->hint = start + n;
		*out = (netmem_ref)head;
	}
	pthread_mutex_unlock(&m->alloc_lock);
	return rc;
}

int nm_page_alloc(struct nm_pagemap *m, unsigned int order, int pfmemalloc, netmem_ref *out)
{
	int rc;

	if (order > NM_MAX_PAGE_ORDER)
		return NM_E_INVAL;
	NM_READ_LOCKED(rc = nm_page_alloc_locked(m, order, pfmemalloc, out));
	return rc;
}

/* ---- page maps ---- */

/* The struct page array and the frames, as two regions of the map (caller holds nm_lock for writing). */
static int nm_register_map(struct nm_pagemap *m)
{
	int rc = nm_register((uintptr_t)m->pages, m->num * sizeof(struct page), sizeof(struct page), NM_R_PAGES, m);

	if (!rc) {
		rc = nm_register((uintptr_t)m->frames, m->num * m->page_size, m->page_size, NM_R_FRAMES, m);
		if (rc)
			nm_unregister(m);
	}
	return rc;
}

static void nm_pagemap_destroy(struct nm_pagemap *m)
{
	free(m->pages);
	free(m->state);
	free(m->order);
	pthread_mutex_destroy(&m->alloc_lock);
	free(m);
}

/*
 * @frames (num << page_shift bytes, page-aligned) belongs to the caller, who
 * keeps it alive as long as it likes: views of page contents handed to
 * Python can then outlive the map without ever pointing at freed memory.
 */
int nm_pagemap_create(size_t num, unsigned int page_shift, int nid, unsigned long base_pfn, void *frames,
		      struct nm_pagemap **out)
{
	struct nm_pagemap *m;
	size_t i, page_size;
	int rc;

	if (num == 0 || num > NM_MAP_PAGES_MAX || page_shift < 12 || page_shift > 16 || nid < 0 ||
	    nid >= (1 << NM_NODES_WIDTH) || base_pfn > ULONG_MAX - num || !frames ||
	    (uintptr_t)frames & (((uintptr_t)1 << page_shift) - 1))
		return NM_E_INVAL;
	page_size = (size_t)1 << page_shift;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NM_E_NOMEM;
	pthread_mutex_init(&m->alloc_lock, NULL);
	m->num = num;
	m->page_size = page_size;
	m->page_shift = page_shift;
	m->nid = nid;
	m->base_pfn = base_pfn;
	m->pages = aligned_alloc(64, ((num * sizeof(struct page) + 63) / 64) * 64);
	m->frames = frames;
	m->state = calloc(num, 1);
	m->order = calloc(num, 1);
	if (!m->pages || !m->state || !m->order) {
		nm_pagemap_destroy(m);
		return NM_E_NOMEM;
	}
	memset(m->pages, 0, num * sizeof(struct page));
	for (i = 0; i < num; i++) {
		m->pages[i].flags = (unsigned long)nid << NM_NODES_PGSHIFT;
		m->pages[i].lru.next = (struct list_head *)NM_LIST_POISON1;
		m->pages[i].lru.prev = (struct list_head *)NM_LIST_POISON2;
	}
	memset(m->frames, NM_PAGE_POISON, num * page_size);
	NM_WRITE_LOCKED(rc = nm_register_map(m));
	if (rc) {
		nm_pagemap_destroy(m);
		return rc;
	}
	*out = m;
	return 0;
}

static int nm_pagemap_close_locked(struct nm_pagemap *m)
{
	size_t allocated;

	pthread_mutex_lock(&m->alloc_lock);
	allocated = m->allocated;
	pthread_mutex_unlock(&m->alloc_lock);
	if (allocated)
		return NM_E_BUSY;
	nm_unregister(m);
	return 0;
}

int nm_pagemap_close(struct nm_pagemap *m)
{
	int rc;

	NM_WRITE_LOCKED(rc = nm_pagemap_close_locked(m));
	if (!rc)
		nm_pagemap_destroy(m);
	return rc;
}

void nm_pagemap_info(struct nm_pagemap *m, struct nm_pagemap_info *out)
{
	out->pages = (uintptr_t)m->pages;
	out->frames = (uintptr_t)m->frames;
	out->num_pages = m->num;
	out->page_size = m->page_size;
	out->stride = sizeof(struct page);
	out->base_pfn = m->base_pfn;
	out->nid = m->nid;
	out->nodes_pgshift = (unsigned int)NM_NODES_PGSHIFT;
}

/* Under nm_lock too, so that fork() never copies a map's mutex while it is held. */
static size_t nm_pagemap_allocated_locked(struct nm_pagemap *m)
{
	size_t n;

	pthread_mutex_lock(&m->alloc_lock);
	n = m->allocated;
	pthread_mutex_unlock(&m->alloc_lock);
	return n;
}

size_t nm_pagemap_allocated(struct nm_pagemap *m)
{
	size_t n;

	NM_READ_LOCKED(n = nm_pagemap_allocated_locked(m));
	return n;
}
