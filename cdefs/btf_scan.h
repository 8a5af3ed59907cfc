/*
 * The BTF type-section walk, in C: the one loop of the BTF reader that sees
 * every record (about 120,000 in a distribution vmlinux).  Tooling only; the
 * netmem runtime does not use it.  Same text for cffi's cdef and for C.
 */

#define BTF_SCAN_TRUNCATED -1
#define BTF_SCAN_UNKNOWN_KIND -2
#define BTF_SCAN_PAST_END -3
#define BTF_SCAN_TOO_MANY -4
/* At most this many names are looked for in one pass. */
#define BTF_SCAN_MAX_NAMES 64

/*
 * Walk the records of a type section of @n host-order words at @words
 * (any alignment: words are loaded with memcpy).  @base and
 * @per (256 entries, indexed by info >> 24) give each record's length in
 * words: base + vlen * per; base 0 marks an unknown kind.  The word index of
 * each record is stored in @offsets (room for @max).  Returns the number of
 * records, or a BTF_SCAN_* error with *@count records walked so far (the
 * last one is the culprit).
 *
 * The same pass looks for names (see btf_find_names for @strs ... @found;
 * @k may be 0): on an error, @found holds what the records before the
 * culprit gave.
 */
long btf_scan(const void *words, size_t n, const uint32_t *base, const uint32_t *per, uint32_t *offsets,
	      size_t max, size_t *count, const char *strs, size_t slen, const char *names, size_t k,
	      const uint64_t *by_kind, uint32_t *found);

/*
 * The first record (lowest type id) of each of @k (at most
 * BTF_SCAN_MAX_NAMES) wanted names whose kind it may have, among the
 * @count records at @offsets (word indexes into @words, as btf_scan stores
 * them).  @names holds the names NUL-terminated, back to back; @by_kind (128
 * entries, indexed by kind) has bit j set when name j may have that kind.
 * A record's name is the NUL-terminated string at its name_off in the
 * string section @strs of @slen bytes (one running off its end matches
 * nothing).  found[j] = the type id, or 0 when no record matches.
 */
void btf_find_names(const void *words, const uint32_t *offsets, size_t count, const char *strs, size_t slen,
		    const char *names, size_t k, const uint64_t *by_kind, uint32_t *found);
