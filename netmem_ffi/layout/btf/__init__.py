"""BTF: read and write the kernel's BPF Type Format, and turn it into netmem layouts.

``reader`` (lazy, lean scan; no ``construct`` import), ``format`` (the records
declared with ``construct``, reading like ``include/uapi/linux/btf.h``),
``writer`` (encode types back to raw BTF; :func:`writer.extract`) and
``layouts`` (BTF to :class:`~netmem_ffi.layout.types.LayoutSet`).
"""

from __future__ import annotations

from netmem_ffi.layout.btf.reader import BTF, BTFMember, BTFType, load_btf

__all__ = ["BTF", "BTFMember", "BTFType", "load_btf"]
