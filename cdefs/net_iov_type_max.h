/* 6.16 .. 6.18: NET_IOV_MAX = ULONG_MAX makes the enum as wide as unsigned long. */

enum net_iov_type {
	NET_IOV_DMABUF,
	NET_IOV_IOURING,
	NET_IOV_MAX = ULONG_MAX
};
