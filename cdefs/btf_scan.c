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

long btf_scan(const void *words, size_t n, const uint32_t *base, const uint32_t *per, uint32_t *offsets,
	      size_t max, size_t *count)
{
	size_t i = 0, k = 0;

	while (i < n) {
		uint32_t info, top;
		uint64_t step;

		if (k == max) {
			*count = k;
			return BTF_SCAN_TOO_MANY;
		}
		offsets[k++] = (uint32_t)i;
		*count = k;
		if (i + 1 >= n)
			return BTF_SCAN_TRUNCATED;
		info = word_at(words, i + 1);
		top = info >> 24;
		if (!base[top])
			return BTF_SCAN_UNKNOWN_KIND;
		step = (uint64_t)base[top] + (uint64_t)(info & 0xffffffu) * per[top];
		if (step > n - i)
			return BTF_SCAN_PAST_END;
		i += (size_t)step;
	}
	*count = k;
	return (long)k;
}

size_t btf_match_names(const void *words, const uint32_t *offsets, size_t count, const uint32_t *names,
		       size_t k, uint32_t *out_ids, uint32_t *out_which, size_t cap)
{
	size_t id, j, found = 0;

	for (id = 0; id < count && found < cap; id++) {
		uint32_t name_off = word_at(words, offsets[id]);

		for (j = 0; j < k; j++) {
			if (name_off == names[j]) {
				out_ids[found] = (uint32_t)(id + 1);
				out_which[found++] = (uint32_t)j;
				break;
			}
		}
	}
	return found;
}

void btf_find_strings(const char *strs, size_t len, const char *wanted, size_t k, uint32_t *out)
{
	const char *names[64];
	size_t lens[64], j, left = 0, i = 0;
	const char *w = wanted;

	for (j = 0; j < k && j < 64; j++) {
		names[j] = w;
		lens[j] = strlen(w);
		w += lens[j] + 1;
		out[j] = 0xffffffffu;
		left++;
	}
	k = j;
	while (i < len && left) {
		const char *s = strs + i;
		const char *nul = memchr(s, 0, len - i);
		size_t n = nul ? (size_t)(nul - s) : len - i;

		for (j = 0; j < k; j++) {
			if (out[j] == 0xffffffffu && lens[j] == n && memcmp(names[j], s, n) == 0 && nul) {
				out[j] = (uint32_t)i;
				left--;
			}
		}
		i += n + 1;
	}
}
