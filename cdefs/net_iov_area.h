/* From 6.15 (commit 7d60fa9e1ab1): the provider-neutral owner of a net_iov array. */

struct net_iov;

struct net_iov_area {
	struct net_iov *niovs;
	size_t num_niovs;
	unsigned long base_virtual;
};
