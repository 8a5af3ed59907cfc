/* See btf_scan.h. */

/*
 * The type section starts at hdr_len + type_off of a blob, which nothing
 * forces to be 4-aligned: every word is loaded with memcpy, never through a
 * uint32_t pointer (a misaligned load is undefined behaviour).
 */
static inline uint32_t word_at(const void *words, size_t i)
{
	uint32_t w;

	memcpy(&w, (const unsigned char *)words + 4 * i, sizeof(w));
	return w;
}

/* The names looked for: what a record is compared with (only when its kind is wanted by some name). */
struct wanted {
	const char *name[BTF_SCAN_MAX_NAMES];
	size_t len[BTF_SCAN_MAX_NAMES];
	uint64_t by_kind[128];	/* names still unfound that may have each kind */
	const char *strs;
	size_t slen;
	size_t pending;		/* names not found yet */
};

static void wanted_init(struct wanted *w, const char *strs, size_t slen, const char *names, size_t k,
			const uint64_t *by_kind, uint32_t *found)
{
	uint64_t all = 0;
	size_t j;

	if (k > BTF_SCAN_MAX_NAMES)
		k = BTF_SCAN_MAX_NAMES;
	for (j = 0; j < k; j++) {
		w->name[j] = names;
		w->len[j] = strlen(names);
		names += w->len[j] + 1;
		found[j] = 0;
		all |= (uint64_t)1 << j;
	}
	for (j = 0; j < 128; j++)
		w->by_kind[j] = by_kind ? by_kind[j] & all : 0;
	w->strs = strs;
	w->slen = slen;
	w->pending = k;
}

/*
 * Record @id (name_off @name_off, info @info), of a kind some unfound name may
 * have: the first of its name and kind?  Out of line: most records are of no
 * wanted kind, and the walk's loop keeps its registers.
 */
static __attribute__((noinline)) void wanted_match(struct wanted *w, uint32_t id, uint32_t name_off,
						  uint32_t info, uint32_t *found)
{
	uint64_t left = w->by_kind[(info >> 24) & 0x7f];
	size_t room;

	if (!name_off || name_off >= w->slen)
		return;
	room = w->slen - name_off;
	while (left) {
		int j = __builtin_ctzll(left);

		left &= left - 1;
		if (w->len[j] < room && memcmp(w->strs + name_off, w->name[j], w->len[j] + 1) == 0) {
			uint32_t k;

			found[j] = id;
			w->pending--;
			for (k = 0; k < 128; k++)
				w->by_kind[k] &= ~((uint64_t)1 << j);
			return;
		}
	}
}

long btf_scan(const void *words, size_t n, const uint32_t *base, const uint32_t *per, uint32_t *offsets,
	      size_t max, size_t *count, const char *strs, size_t slen, const char *names, size_t k,
	      const uint64_t *by_kind, uint32_t *found)
{
	struct wanted w;
	size_t i = 0, c = 0;
	long rc = 0;

	wanted_init(&w, strs, slen, names, k, by_kind, found);
	while (i < n) {
		uint32_t info, top;
		uint64_t step;

		if (c == max) {
			rc = BTF_SCAN_TOO_MANY;
			break;
		}
		offsets[c++] = (uint32_t)i;
		if (i + 1 >= n) {
			rc = BTF_SCAN_TRUNCATED;
			break;
		}
		info = word_at(words, i + 1);
		top = info >> 24;
		if (!base[top]) {
			rc = BTF_SCAN_UNKNOWN_KIND;
			break;
		}
		step = (uint64_t)base[top] + (uint64_t)(info & 0xffffffu) * per[top];
		if (step > n - i) {
			rc = BTF_SCAN_PAST_END;
			break;
		}
		if (w.by_kind[top & 0x7f])
			wanted_match(&w, (uint32_t)c, word_at(words, i), info, found);
		i += (size_t)step;
	}
	*count = c;
	return rc ? rc : (long)c;
}

void btf_find_names(const void *words, const uint32_t *offsets, size_t count, const char *strs, size_t slen,
		    const char *names, size_t k, const uint64_t *by_kind, uint32_t *found)
{
	struct wanted w;
	size_t id;

	wanted_init(&w, strs, slen, names, k, by_kind, found);
	for (id = 0; id < count && w.pending; id++) {
		uint32_t info = word_at(words, offsets[id] + 1);

		if (w.by_kind[(info >> 24) & 0x7f])
			wanted_match(&w, (uint32_t)(id + 1), word_at(words, offsets[id]), info, found);
	}
}
