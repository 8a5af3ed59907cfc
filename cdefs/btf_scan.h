/*
 * The BTF type-section walk, in C: the one loop of the BTF reader that sees
 * every record (about 120,000 in a distribution vmlinux).  Tooling only; the
 * netmem runtime does not use it.  Same text for cffi's cdef and for C.
 */

#define BTF_SCAN_TRUNCATED -1
#define BTF_SCAN_UNKNOWN_KIND -2
#define BTF_SCAN_PAST_END -3
#define BTF_SCAN_TOO_MANY -4

/*
 * Walk the records of a type section of @n host-order words at @words
 * (any alignment: words are loaded with memcpy).  @base and
 * @per (256 entries, indexed by info >> 24) give each record's length in
 * words: base + vlen * per; base 0 marks an unknown kind.  The word index of
 * each record is stored in @offsets (room for @max).  Returns the number of
 * records, or a BTF_SCAN_* error with *@count records walked so far (the
 * last one is the culprit).
 */
long btf_scan(const void *words, size_t n, const uint32_t *base, const uint32_t *per, uint32_t *offsets,
	      size_t max, size_t *count);

/*
 * Records (ids, in order) whose name_off is one of the @k values of @names:
 * for each, out_ids[j] = type id and out_which[j] = index into @names.
 * Returns how many were stored (at most @cap; the caller asks again with
 * more room when the return equals @cap).
 */
size_t btf_match_names(const void *words, const uint32_t *offsets, size_t count, const uint32_t *names,
		       size_t k, uint32_t *out_ids, uint32_t *out_which, size_t cap);

/*
 * One pass over a string section of @len bytes: for each of the @k wanted
 * names (NUL-terminated, back to back in @wanted), the offset of the first
 * whole string equal to it, or UINT32_MAX (0xffffffff) when none is.
 */
void btf_find_strings(const char *strs, size_t len, const char *wanted, size_t k, uint32_t *out);
