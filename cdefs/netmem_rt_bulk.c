/*
 * netmem_ffi C runtime, the bulk refcount path: get/put_netmem over a batch, all or nothing.
 * Included after netmem_rt_refs.c, in the order of registry.RUNTIME_SOURCES, into one
 * translation unit per ABI generation.
 */

/* ---- bulk: one pass; consecutive refs on one devmem binding move it once ---- */

/*
 * Each ref is read once from the caller's array (another thread may be
 * rewriting it), validated, and its counter found as get/put_netmem do it.
 * A page's _refcount moves at once (the validation of a later page ref reads
 * it, and the atomic overlaps that validation).  A binding moves at once too,
 * unless the ref before moved the same binding: then its move is deferred
 * while the next refs name it (the niovs of one area share it), so a run of k
 * niovs costs one atomic of k instead of k on one contended line, and refs
 * alternating between bindings never wait for the next validation.  The outcome is the one of doing the refs one by one: validation
 * never reads a binding's counter, and a run that cannot move as a whole is
 * redone ref by ref to name its first bad ref.  Every move is logged; the
 * undo of a failed batch reverses the log and never reads the caller's array
 * again.
 */
#define NM_RUN_MAX 64
/* Descriptors are usually a cache miss each: ask for the one a few refs ahead. */
#define NM_PREFETCH_AHEAD 8
/* Refs read so far, by index mod NM_RING: the ones read ahead and the whole current run. */
#define NM_RING 128
_Static_assert(NM_RUN_MAX + NM_PREFETCH_AHEAD < NM_RING, "the ring holds the current run and the refs read ahead");
/*
 * The log of a batch's moves, one word per move at most, so n words hold a
 * batch of n refs: a page's counter (one ref), a binding's counter | 1 (one
 * ref), or a binding's counter | 3 followed by the run's length (two words,
 * two refs or more).  Counters are 4-aligned, so the tags never collide.
 */
#define NM_LOG_ONE 1
#define NM_LOG_RUN 3
/*
 * Log words are staged in the batch (always in cache) and written out 64 at
 * a time to lines asked for four spills earlier: a store that misses would
 * otherwise hold up the next atomic, which waits for every earlier store.
 */
#define NM_STAGE 64

struct nm_batch {
	int sign; /* 1: get, -1: put */
	struct nm_pending pending;
	uintptr_t *log;
	size_t logged;
	unsigned int staged;
	uintptr_t stage[NM_STAGE];
	netmem_ref ring[NM_RING];
};

static void nm_log_spill(struct nm_batch *b)
{
	size_t i;

	memcpy(b->log + b->logged, b->stage, b->staged * sizeof(b->stage[0]));
	b->logged += b->staged;
	b->staged = 0;
	for (i = 0; i < NM_STAGE; i += 8) /* may lie past the log's end: a prefetch never faults */
		__builtin_prefetch((const void *)((uintptr_t)(b->log + b->logged) + (4 * NM_STAGE + i) * sizeof(uintptr_t)), 1);
}

NM_HOT void nm_log_push(struct nm_batch *b, uintptr_t w)
{
	b->stage[b->staged++] = w;
	if (b->staged == NM_STAGE)
		nm_log_spill(b);
}

/* Consecutive refs of a batch, refs[start .. start + len), on one binding (one op). */
struct nm_run {
	struct nm_op op;
	size_t start, len;
};

/* Move @op's counter for @k refs (@sign: 1 get, -1 put) and log the move. */
NM_HOT int nm_move_logged(const struct nm_op *op, int sign, int k, struct nm_batch *b)
{
	int rc;

	if (!op->c)
		return 0;
	rc = nm_move(op, sign * k, sign < 0 ? &b->pending : NULL);
	if (rc)
		return rc;
	if (!op->unbound) { /* pages move one ref at a time */
		nm_log_push(b, (uintptr_t)op->c);
	} else if (k == 1) {
		nm_log_push(b, (uintptr_t)op->c | NM_LOG_ONE);
	} else {
		nm_log_push(b, (uintptr_t)op->c | NM_LOG_RUN);
		nm_log_push(b, (uintptr_t)k);
	}
	return 0;
}

/* Move @run's counter: at once, or ref by ref to find the first that fails (*bad).  Out of line: the loop stays small. */
static __attribute__((noinline)) int nm_flush(const struct nm_run *run, int sign, struct nm_batch *b, size_t *bad)
{
	size_t j;
	int rc;

	if (run->len > 1 && !nm_move_logged(&run->op, sign, (int)run->len, b))
		return 0;
	for (j = 0; j < run->len; j++) {
		rc = nm_move_logged(&run->op, sign, 1, b);
		if (rc) {
			*bad = run->start + j;
			return rc;
		}
	}
	return 0;
}

/* Read refs[i] once into the ring; the batch works from there. */
NM_HOT netmem_ref nm_take(const netmem_ref *refs, size_t i, struct nm_batch *b)
{
	return b->ring[i % NM_RING] = __atomic_load_n(&refs[i], NM_RELAXED);
}

/* refs[i] as the ring holds it, once refs[i + NM_PREFETCH_AHEAD] is read and its descriptor asked for. */
NM_HOT netmem_ref nm_next(const netmem_ref *refs, size_t n, size_t i, struct nm_batch *b)
{
	/* a prefetch never faults, so an invalid ref (validated before use) costs nothing here */
	if (i + NM_PREFETCH_AHEAD < n)
		__builtin_prefetch((const void *)(nm_take(refs, i + NM_PREFETCH_AHEAD, b) & ~1UL), 1);
	return b->ring[i % NM_RING];
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
 * The forward pass of a batch (@sign a constant where it is inlined); on
 * failure *bad is the first ref that failed, and every ref before it moved.
 */
NM_HOT int nm_bulk_forward(const netmem_ref *refs, size_t n, int sign, struct nm_batch *b, size_t *bad)
{
	struct nm_ctx cx = { NULL, 0, NULL };
	struct nm_run run = { .len = 0 };
	struct nm_op op;
	const int *last = NULL; /* the counter the ref before moved at once */
	size_t i;
	int rc = 0, flushed;

	for (i = 0; i < n && i < NM_PREFETCH_AHEAD; i++)
		nm_take(refs, i, b);
	for (i = 0; i < n; i++) {
		netmem_ref ref = nm_next(refs, n, i, b);

		if (run.len) {
			if (nm_run_continues(&run, ref, cx.hint)) {
				if (run.len < NM_RUN_MAX) {
					run.len++;
					continue;
				}
				if ((flushed = nm_flush(&run, sign, b, bad)))
					return flushed;
				run.start = i; /* a full run moves; the next one starts here */
				run.len = 1;
				continue;
			}
			if ((flushed = nm_flush(&run, sign, b, bad)))
				return flushed;
			run.len = 0;
		}
		rc = nm_plan_one(ref, &cx, &op);
		if (rc)
			break;
		if (op.unbound && op.c == last) { /* the ref before was on this binding too: expect more */
			run.op = op;
			run.start = i;
			run.len = 1;
			continue;
		}
		rc = nm_move_logged(&op, sign, 1, b);
		if (rc)
			break;
		last = op.c;
	}
	if (run.len && (flushed = nm_flush(&run, sign, b, bad)))
		return flushed;
	if (rc)
		*bad = i;
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
	reg = nm_find((uintptr_t)pg, NULL); /* at zero: freed as put_netmem would */
	if (reg && reg->kind == NM_R_PAGES)
		nm_page_free(reg->obj, ((uintptr_t)pg - reg->start) / sizeof(struct page));
}

/* Reverse every move of the batch's log. */
static void nm_undo(struct nm_batch *b)
{
	size_t i;

	nm_log_spill(b);
	for (i = 0; i < b->logged; i++) {
		uintptr_t w = b->log[i];
		int k = (w & NM_LOG_RUN) == NM_LOG_RUN ? (int)b->log[++i] : 1;

		if (w & NM_LOG_ONE)
			__atomic_fetch_sub((int *)(w & ~(uintptr_t)NM_LOG_RUN), b->sign * k, __ATOMIC_ACQ_REL);
		else
			nm_unmove_page((int *)w, b->sign);
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
	b.log = n <= SIZE_MAX / sizeof(*b.log) ? malloc((n ? n : 1) * sizeof(*b.log)) : NULL;
	b.logged = 0;
	b.staged = 0;
	if (!b.log) {
		*bad = 0;
		if (bad_ref)
			*bad_ref = n ? __atomic_load_n(&refs[0], NM_RELAXED) : 0;
		return NM_E_NOMEM;
	}
	rc = sign > 0 ? nm_bulk_forward(refs, n, 1, &b, bad) : nm_bulk_forward(refs, n, -1, &b, bad);
	if (rc && bad_ref)
		*bad_ref = b.ring[*bad % NM_RING];
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
