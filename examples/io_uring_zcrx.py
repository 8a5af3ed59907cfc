"""An io_uring zero-copy receive (zcrx) area: per-niov user references.

io_uring hands received buffers to user space and counts them per niov in
area->user_refs[net_iov_idx(niov)]; get_netmem()/put_netmem() leave io_uring
niovs alone, and a put of a user ref only decrements a count above zero.

Run: python examples/io_uring_zcrx.py
"""

import netmem_ffi as nm

with nm.NetIovArea(16, nm.NET_IOV_IOURING) as area:
    niov = area[5]
    print("devmem?", nm.net_is_devmem_iov(niov), "- idx", nm.net_iov_idx(niov))
    for _ in range(3):                      # three CQEs point user space at this buffer
        nm.io_zcrx_get_niov_uref(niov)
    nm.get_netmem(niov.netmem)              # the stack's get/put: no effect on io_uring niovs
    nm.put_netmem(niov.netmem)
    print("user refs:", area.user_refs(5), "outstanding:", area.outstanding)
    returned = [nm.io_zcrx_put_niov_uref(niov) for _ in range(4)]
    print("user space returns the buffer 4 times:", returned)   # the 4th finds 0: False
    print("user refs now:", area.user_refs(5))
print("area closed")
