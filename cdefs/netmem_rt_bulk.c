/*
 * netmem_ffi C runtime, the bulk refcount path: get/put_netmem over a batch, all or nothing.
 * Included after netmem_rt_refs.c, in the order of registry.RUNTIME_SOURCES, into one
 * translation unit per ABI generation.
 */

/* ---- bulk: one pass; consecutive refs on one devmem binding move it once ---- */

/*
 * Each ref's value is read once from the caller's array (another thread may
 * be rewriting it), validated, and its counter found as get/put_netmem do it
 * (a page span also reads a ref a few steps early, as a prefetch address
 * only: that read decides nothing).  A page's _refcount moves at once (a
 * later ref of that page checks the count it left, and the atomic overlaps
 * the next validation).  A binding moves at once too, unless the ref before
 * moved the same binding: then its move is deferred while the next refs name
 * it (the niovs of one area share it), so a run of k niovs costs one atomic
 * of k instead of k on one contended line, and refs alternating between
 * bindings never wait for the next validation; a ref that continues a run is
 * recognised in a few compares (nm_run_continues).  The outcome is the one of
 * doing the refs one by one: validation never reads a binding's counter, and
 * a run that cannot move as a whole is redone ref by ref to name its first
 * bad ref.  Every move is logged; the undo of a failed batch reverses the log
 * and never reads the caller's array again.
 *
 * A page ref costs its checks, its atomic and the store of its log word, so
 * the page loop keeps everything else out: pages run in a loop of their own
 * (nm_page_span), out of line, whose state fits in registers (spills
 * measured as a store and a reload a step), a head page's own count is
 * checked by its move (nm_plan_page), and a page's move logs four bytes.
 */
#define NM_RUN_MAX 64
/* Descriptors are usually a cache miss each: ask for the one a few refs ahead. */
#define NM_PREFETCH_AHEAD 8
/* Refs read so far, by index mod NM_RING: the ones read ahead and the whole current run. */
#define NM_RING 128
_Static_assert(NM_RUN_MAX + NM_PREFETCH_AHEAD < NM_RING, "the ring holds the current run and the refs read ahead");
/*
 * The log of a batch's moves, in 32-bit words so that a page move, one per
 * page ref, costs one four-byte store.  The low two bits of a record's first
 * word say what it is:
 *   head << 2                   a page's move: its head index in the log's current map
 *   ptr | NM_LOG_MAP            pages after it are of map ptr
 *   ptr | NM_LOG_ONE            a binding's counter ptr moved for one ref
 *   ptr | NM_LOG_RUN, k         a binding's counter ptr moved for k refs at once
 * where ptr is a 4-aligned pointer in two words, low first, written with one
 * store.  A ref adds three words at most (a map switch and a page, or a
 * binding), so 3n words hold a batch of n refs; a head index needs 24 bits
 * (NM_MAP_PAGES_MAX).
 */
#define NM_LOG_MAP 1u
#define NM_LOG_ONE 2u
#define NM_LOG_RUN 3u
#define NM_LOG_TAGS 3u
#define NM_LOG_PER_REF 3
_Static_assert(NM_MAP_PAGES_MAX <= ((size_t)1 << 30), "a head index fits a page word");
_Static_assert(_Alignof(struct nm_pagemap) >= 4 && _Alignof(int) >= 4, "pointers in the log have two low bits clear");

struct nm_batch {
	int sign; /* 1: get, -1: put */
	struct nm_pending pending;
	uint32_t *log, *end; /* the log, and the end of what the forward pass wrote */
	netmem_ref bad_ref;  /* the first bad ref, as read */
	netmem_ref ring[NM_RING];
};

/*
 * Where the forward pass writes: the log's next word and current map, and the
 * pages put to zero.  A local of the pass, so that the compiler keeps it in
 * registers across the atomics (a copy goes to nm_flush).
 */
struct nm_cursor {
	uint32_t *next;
	const struct nm_pagemap *map;
	struct nm_pending pending;
};

NM_HOT void nm_log_push(struct nm_cursor *cur, uint32_t w)
{
	*cur->next++ = w;
}

/* Log @p (4-aligned) with @tag in its low bits: two words, one store. */
NM_HOT void nm_log_ptr(struct nm_cursor *cur, uint32_t tag, const void *p)
{
	uint64_t v = (uintptr_t)p;
	uint32_t words[2] = { (uint32_t)v | tag, (uint32_t)(v >> 32) };

	memcpy(cur->next, words, sizeof(words));
	cur->next += 2;
}

/* Consecutive refs of a batch, refs[start .. start + len), on one binding (one op). */
struct nm_run {
	struct nm_op op;
	size_t start, len;
};

/* Log a page's move (one ref): its head index, after its map unless the log's last page was of that map. */
NM_HOT void nm_log_page(const struct nm_op *op, struct nm_cursor *cur)
{
	if (__builtin_expect(op->map != cur->map, 0)) {
		nm_log_ptr(cur, NM_LOG_MAP, op->map);
		cur->map = op->map;
	}
	nm_log_push(cur, (uint32_t)op->head << 2);
}

/* Move @op's counter for @k refs (@sign: 1 get, -1 put) and log the move. */
NM_HOT int nm_move_logged(const struct nm_op *op, int sign, int k, struct nm_cursor *cur)
{
	int rc;

	if (!op->c)
		return 0;
	rc = nm_move(op, sign * k, sign < 0 ? &cur->pending : NULL);
	if (rc)
		return rc;
	if (!op->unbound) {
		nm_log_page(op, cur);
	} else if (k == 1) {
		nm_log_ptr(cur, NM_LOG_ONE, op->c);
	} else {
		nm_log_ptr(cur, NM_LOG_RUN, op->c);
		nm_log_push(cur, (uint32_t)k);
	}
	return 0;
}

/* Move @run's counter: at once, or ref by ref to find the first that fails (*bad).  Out of line: the loop stays small. */
static __attribute__((noinline)) int nm_flush(const struct nm_run *run, int sign, struct nm_cursor *cur, size_t *bad)
{
	size_t j;
	int rc;

	if (run->len > 1 && !nm_move_logged(&run->op, sign, (int)run->len, cur))
		return 0;
	for (j = 0; j < run->len; j++) {
		rc = nm_move_logged(&run->op, sign, 1, cur);
		if (rc) {
			*bad = run->start + j;
			return rc;
		}
	}
	return 0;
}

/* nm_flush() on a copy of @cur (the pass's own cursor stays in registers). */
NM_HOT int nm_flush_run(const struct nm_run *run, int sign, struct nm_cursor *cur, size_t *bad)
{
	struct nm_cursor copy = *cur;
	int rc = nm_flush(run, sign, &copy, bad);

	*cur = copy;
	return rc;
}

/* Read refs[i] once into the ring; the batch works from there. */
NM_HOT netmem_ref nm_take(const netmem_ref *refs, size_t i, struct nm_batch *b)
{
	return b->ring[i % NM_RING] = __atomic_load_n(&refs[i], NM_RELAXED);
}

/*
 * The index step @i reads ahead: an index, not a pointer of its own (the
 * loops have no register to spare for one: spilled, it is a store per step).
 */
NM_HOT size_t nm_ahead_index(size_t i)
{
	size_t j = i + NM_PREFETCH_AHEAD;

	__asm__("" : "+r"(j));
	return j;
}

/* Ask for @ref's descriptor: a prefetch never faults, so an invalid ref (validated before use) costs nothing. */
NM_HOT void nm_prefetch_ref(netmem_ref ref)
{
	__builtin_prefetch((const void *)(ref & ~1UL), 1);
}

/* Step i: read refs[i + NM_PREFETCH_AHEAD] into the ring and ask for its descriptor. */
NM_HOT void nm_ahead(const netmem_ref *refs, size_t n, size_t i, struct nm_batch *b)
{
	size_t j = nm_ahead_index(i);

	if (j < n)
		nm_prefetch_ref(nm_take(refs, j, b));
}

/* What nm_page_step() returns at a niov ref: not an NM_E_* code. */
#define NM_STEP_NIOV (-1)

/*
 * One step of a page span: refs[i], whose value is @ref, planned, moved and
 * logged; 0 to go on, NM_STEP_NIOV at a niov ref (its value left in the
 * ring), or the error of a bad ref (its index in *bad, as read in b->bad_ref).
 * The step also reads the ref NM_PREFETCH_AHEAD ahead, but only as the
 * address of a prefetch, whose value decides nothing.
 */
NM_HOT int nm_page_step(const netmem_ref *refs, size_t n, size_t i, netmem_ref ref, int sign, struct nm_batch *b,
			struct nm_ctx *cx, struct nm_cursor *cur, size_t *bad)
{
	struct nm_op op;
	size_t j;
	int rc;

	if (ref & 1UL) {
		b->ring[i % NM_RING] = ref;
		return NM_STEP_NIOV;
	}
	j = nm_ahead_index(i);
	if (j < n)
		nm_prefetch_ref(__atomic_load_n(&refs[j], NM_RELAXED));
	rc = nm_plan_page(ref, cx, &op);
	if (!rc)
		rc = nm_move(&op, sign, sign < 0 ? &cur->pending : NULL);
	if (rc) {
		*bad = i;
		b->bad_ref = ref;
		return rc;
	}
	nm_log_page(&op, cur);
	return 0;
}

/*
 * Page refs from refs[*ip] on, planned, moved and logged until a niov ref (or
 * the end, or a bad ref).  Out of line, with the batch's state in locals: a
 * loop of its own, whose counters and cursor stay in registers (no spill: a
 * store and a reload a step).
 *
 * The refs the ring holds on entry (the next NM_PREFETCH_AHEAD) are taken
 * from it, in a loop of their own; each later ref's value is read once, when
 * its step comes, into a register (the ring store a step it saves is 0.1-0.3
 * ns a page ref, measured).  At a niov ref the ring is left as the batch's
 * loop expects it: that ref and the next ones, each value read once.
 */
NM_HOT int nm_page_span(const netmem_ref *refs, size_t n, size_t *ip, int sign, struct nm_batch *b,
			struct nm_ctx *cxp, struct nm_cursor *curp, size_t *bad)
{
	struct nm_ctx cx = *cxp;
	struct nm_cursor cur = *curp;
	size_t i = *ip, taken = n - i > NM_PREFETCH_AHEAD ? i + NM_PREFETCH_AHEAD : n, j;
	int rc = 0;

	while (i < taken && !(rc = nm_page_step(refs, n, i, b->ring[i % NM_RING], sign, b, &cx, &cur, bad)))
		i++;
	while (!rc && i < n && !(rc = nm_page_step(refs, n, i, __atomic_load_n(&refs[i], NM_RELAXED), sign, b, &cx, &cur, bad)))
		i++;
	if (rc == NM_STEP_NIOV) {
		for (j = i + 1 > taken ? i + 1 : taken; j < n && j < i + NM_PREFETCH_AHEAD; j++)
			nm_take(refs, j, b);
		rc = 0;
	}
	*ip = i;
	*cxp = cx;
	*curp = cur;
	return rc;
}

static __attribute__((noinline)) int nm_page_span_get(const netmem_ref *refs, size_t n, size_t *ip, struct nm_batch *b,
						      struct nm_ctx *cx, struct nm_cursor *cur, size_t *bad)
{
	return nm_page_span(refs, n, ip, 1, b, cx, cur, bad);
}

static __attribute__((noinline)) int nm_page_span_put(const netmem_ref *refs, size_t n, size_t *ip, struct nm_batch *b,
						      struct nm_ctx *cx, struct nm_cursor *cur, size_t *bad)
{
	return nm_page_span(refs, n, ip, -1, b, cx, cur, bad);
}

/*
 * Whether @ref is one more niov of @run's binding, in a few compares: it lies
 * on a niov boundary of @reg (the area region the batch last resolved), is a
 * devmem niov and its owner word is the run's.  Then nm_plan_one() would find
 * the run's counter for it (the owner word names one area); otherwise it is
 * planned in full.
 */
NM_HOT int nm_run_continues(const struct nm_run *run, netmem_ref ref, const struct nm_region *reg)
{
	uintptr_t p = ref & ~1UL;
	const struct net_iov *niov = (const struct net_iov *)p;

	if (!(ref & 1UL) || p < reg->start || p >= reg->end || (p - reg->start) % sizeof(struct net_iov))
		return 0;
#if NM_HAS_TYPE
	if (niov->type != NET_IOV_DMABUF)
		return 0;
#endif
	return (uintptr_t)__atomic_load_n(&niov->owner, NM_RELAXED) == run->op.owner;
}

/*
 * The end of @run's extension from refs[i]: the first ref that does not
 * continue it (nm_run_continues), or where the run is full, or n.  Each step
 * reads ahead as the batch's loop does.  Out of line, with the run and its
 * region copied in: the loop keeps them in registers.
 */
static __attribute__((noinline)) size_t nm_run_extend(const netmem_ref *refs, size_t n, size_t i, struct nm_batch *b,
						      const struct nm_run *runp, const struct nm_region *regp)
{
	const struct nm_run run = *runp;
	const struct nm_region reg = *regp;
	size_t stop = n - i > NM_RUN_MAX - run.len ? i + (NM_RUN_MAX - run.len) : n;

	while (i < stop && nm_run_continues(&run, b->ring[i % NM_RING], &reg)) {
		nm_ahead(refs, n, i, b);
		i++;
	}
	return i;
}

/*
 * The forward pass of a batch (@sign a constant where it is inlined); on
 * failure *bad is the first ref that failed, b->bad_ref that ref as read, and
 * every ref before it moved.
 */
NM_HOT int nm_bulk_forward(const netmem_ref *refs, size_t n, int sign, struct nm_batch *b, size_t *bad)
{
	struct nm_cursor cur = { b->log, NULL, { NULL, NULL, 0, 0 } };
	struct nm_ctx cx = { NM_NO_HINT, NM_NO_HINT, 0, NULL };
	struct nm_run run = { .len = 0 };
	struct nm_op op;
	const int *last = NULL; /* the counter the ref before moved at once */
	netmem_ref ref;
	size_t i;
	int rc = 0;

	for (i = 0; i < n && i < NM_PREFETCH_AHEAD; i++)
		nm_take(refs, i, b);
	for (i = 0; i < n;) {
		if (run.len) { /* extended in a loop of its own, then moved */
			size_t end = nm_run_extend(refs, n, i, b, &run, cx.hint);

			run.len += end - i;
			i = end;
			if (i == n)
				continue;
			/* stopped short: refs[i] is no more of the run; stopped full: a new run starts there if it is */
			if (run.len == NM_RUN_MAX && nm_run_continues(&run, b->ring[i % NM_RING], cx.hint)) {
				nm_ahead(refs, n, i, b);
				if ((rc = nm_flush_run(&run, sign, &cur, bad)))
					goto run_failed;
				run.start = i++;
				run.len = 1;
				continue;
			}
			if ((rc = nm_flush_run(&run, sign, &cur, bad)))
				goto run_failed;
			run.len = 0;
		}
		ref = b->ring[i % NM_RING];
		if (!(ref & 1UL) && i + 1 < n && !(b->ring[(i + 1) % NM_RING] & 1UL)) { /* pages: a loop of their own */
			rc = sign > 0 ? nm_page_span_get(refs, n, &i, b, &cx, &cur, bad)
				      : nm_page_span_put(refs, n, &i, b, &cx, &cur, bad);
			if (rc)
				goto out;
			last = NULL; /* a page's counter is no binding's */
			continue;
		}
		nm_ahead(refs, n, i, b);
		rc = nm_plan_one(ref, &cx, &op);
		if (rc)
			break;
		if (op.unbound && op.c == last) { /* the ref before was on this binding too: expect more */
			run.op = op;
			run.start = i++;
			run.len = 1;
			continue;
		}
		rc = nm_move_logged(&op, sign, 1, &cur);
		if (rc)
			break;
		last = op.c;
		i++;
	}
	if (run.len) { /* a ref of the run fails before the one that stopped the pass, if any */
		int flushed = nm_flush_run(&run, sign, &cur, bad);

		if (flushed) {
			rc = flushed;
			goto run_failed;
		}
	}
	if (rc) {
		*bad = i;
		b->bad_ref = ref;
	}
	goto out;
run_failed:
	b->bad_ref = b->ring[*bad % NM_RING];
out:
	b->end = cur.next;
	b->pending = cur.pending;
	return rc;
}

/* Reverse one logged page move: a put gives the page back its reference (not freed yet), a get drops it. */
static void nm_unmove_page(int *c, int sign)
{
	struct page *pg = (struct page *)((unsigned char *)c - offsetof(struct page, _refcount));
	const struct nm_region *reg;
	int now;

	if (sign < 0) {
		__atomic_add_fetch(c, 1, __ATOMIC_ACQ_REL);
		return;
	}
	if (nm_int_dec(c, 1, &now) || now)
		return;
	reg = nm_find((uintptr_t)pg, NM_NO_HINT); /* at zero: freed as put_netmem would */
	if (reg && reg->kind == NM_R_PAGES)
		nm_page_free(reg->obj, ((uintptr_t)pg - reg->start) / sizeof(struct page));
}

/* Reverse every move of the batch's log. */
static void nm_undo(struct nm_batch *b)
{
	const struct nm_pagemap *map = NULL;
	const uint32_t *w = b->log;

	while (w < b->end) {
		uint32_t tag = *w & NM_LOG_TAGS;
		void *p;

		if (!tag) {
			nm_unmove_page(&map->pages[*w++ >> 2]._refcount.counter, b->sign);
			continue;
		}
		p = (void *)(uintptr_t)((uint64_t)(w[0] & ~NM_LOG_TAGS) | (uint64_t)w[1] << 32);
		w += 2;
		if (tag == NM_LOG_MAP)
			map = p;
		else
			__atomic_fetch_sub((int *)p, b->sign * (tag == NM_LOG_RUN ? (int)*w++ : 1), __ATOMIC_ACQ_REL);
	}
}

/* A batch under nm_lock: forward, then the undo (from the log) or the frees of pages put to zero. */
static int nm_bulk_locked(const netmem_ref *refs, size_t n, int sign, size_t *bad, netmem_ref *bad_ref)
{
	struct nm_batch b;
	size_t i;
	int rc;

	b.sign = sign;
	b.pending = (struct nm_pending){ NULL, NULL, 0, 0 };
	b.log = n <= SIZE_MAX / NM_LOG_PER_REF / sizeof(*b.log) ? malloc((n ? n : 1) * NM_LOG_PER_REF * sizeof(*b.log))
							      : NULL;
	b.end = b.log;
	if (!b.log) {
		*bad = 0;
		if (bad_ref)
			*bad_ref = n ? __atomic_load_n(&refs[0], NM_RELAXED) : 0;
		return NM_E_NOMEM;
	}
	rc = sign > 0 ? nm_bulk_forward(refs, n, 1, &b, bad) : nm_bulk_forward(refs, n, -1, &b, bad);
	if (rc && bad_ref)
		*bad_ref = b.bad_ref;
	if (rc)
		nm_undo(&b);
	free(b.log);
	for (i = 0; !rc && i < b.pending.len; i++)
		nm_page_free(b.pending.maps[i], b.pending.heads[i]);
	free(b.pending.maps);
	free(b.pending.heads);
	return rc;
}

int nm_netmem_bulk(const netmem_ref *refs, size_t n, int sign, size_t *bad, netmem_ref *bad_ref)
{
	int rc;

	if ((sign != 1 && sign != -1) || (n && !refs))
		return NM_E_INVAL;
	NM_READ_LOCKED(rc = nm_bulk_locked(refs, n, sign, bad, bad_ref));
	return rc;
}

int nm_get_netmem_bulk(const netmem_ref *refs, size_t n, size_t *bad)
{
	return nm_netmem_bulk(refs, n, 1, bad, NULL);
}

int nm_put_netmem_bulk(const netmem_ref *refs, size_t n, size_t *bad)
{
	return nm_netmem_bulk(refs, n, -1, bad, NULL);
}
