/* From 6.19 ("net: netmem: remove NET_IOV_MAX"): a plain 4-byte enum. */

enum net_iov_type {
	NET_IOV_DMABUF,
	NET_IOV_IOURING
};
