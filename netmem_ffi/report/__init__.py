"""Renderers of layouts: pahole-style text, the page/netmem_desc/net_iov overlay, SVG."""
