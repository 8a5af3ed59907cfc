/* 7.2: the union is gone; type moves before owner, leaving a hole on LP64. */

struct net_iov {
	struct netmem_desc desc;
	enum net_iov_type type;
	struct net_iov_area *owner;
};
