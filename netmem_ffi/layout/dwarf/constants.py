"""The DWARF 4/5 constants the netmem reader uses (DWARF 5 standard, section 7; GNU extensions).

Only tags and attributes the layouts need are named; every form is known, so
any DIE can be stepped over.
"""

from __future__ import annotations


class Tag:
    """``DW_TAG_*`` (DWARF 5 7.5.3, table 7.3): plain ints, as they are compared in the hot loop."""

    array_type = 0x01
    enumeration_type = 0x04
    member = 0x0D
    pointer_type = 0x0F
    compile_unit = 0x11
    structure_type = 0x13
    subroutine_type = 0x15
    typedef = 0x16
    union_type = 0x17
    unspecified_parameters = 0x18
    formal_parameter = 0x05
    subrange_type = 0x21
    base_type = 0x24
    const_type = 0x26
    enumerator = 0x28
    volatile_type = 0x35
    restrict_type = 0x37
    unspecified_type = 0x3B
    atomic_type = 0x47
    partial_unit = 0x3C
    type_unit = 0x41


class At:
    """``DW_AT_*`` (DWARF 5 7.5.4, table 7.5)."""

    sibling = 0x01
    byte_size = 0x0B
    bit_offset = 0x0C  # DWARF 2/3 bitfields (GCC still emits it for -gdwarf-4)
    bit_size = 0x0D
    name = 0x03
    const_value = 0x1C
    upper_bound = 0x2F
    count = 0x37
    data_member_location = 0x38
    declaration = 0x3C
    encoding = 0x3E
    type = 0x49
    data_bit_offset = 0x6B
    str_offsets_base = 0x72


class Form:
    """``DW_FORM_*`` (DWARF 5 7.5.6, table 7.6) and the GNU forms GCC emits."""

    addr = 0x01
    block2 = 0x03
    block4 = 0x04
    data2 = 0x05
    data4 = 0x06
    data8 = 0x07
    string = 0x08
    block = 0x09
    block1 = 0x0A
    data1 = 0x0B
    flag = 0x0C
    sdata = 0x0D
    strp = 0x0E
    udata = 0x0F
    ref_addr = 0x10
    ref1 = 0x11
    ref2 = 0x12
    ref4 = 0x13
    ref8 = 0x14
    ref_udata = 0x15
    indirect = 0x16
    sec_offset = 0x17
    exprloc = 0x18
    flag_present = 0x19
    strx = 0x1A
    addrx = 0x1B
    ref_sup4 = 0x1C
    strp_sup = 0x1D
    data16 = 0x1E
    line_strp = 0x1F
    ref_sig8 = 0x20
    implicit_const = 0x21
    loclistx = 0x22
    rnglistx = 0x23
    ref_sup8 = 0x24
    strx1 = 0x25
    strx2 = 0x26
    strx3 = 0x27
    strx4 = 0x28
    addrx1 = 0x29
    addrx2 = 0x2A
    addrx3 = 0x2B
    addrx4 = 0x2C
    GNU_addr_index = 0x1F01
    GNU_str_index = 0x1F02
    GNU_ref_alt = 0x1F20
    GNU_strp_alt = 0x1F21


#: ``DW_ATE_*`` base type encodings (DWARF 5 7.8).
ATE_BOOLEAN, ATE_FLOAT, ATE_SIGNED, ATE_SIGNED_CHAR, ATE_UNSIGNED, ATE_UNSIGNED_CHAR = 0x02, 0x04, 0x05, 0x06, 0x07, 0x08
ATE_UTF = 0x10
#: ``DW_OP_plus_uconst``: the DWARF 2/3 member location expression.
OP_PLUS_UCONST = 0x23
#: Unit types (DWARF 5 7.5.1): the header of a skeleton/split unit carries a DWO id, a type unit a signature.
UT_TYPE, UT_SKELETON, UT_SPLIT_COMPILE, UT_SPLIT_TYPE = 0x02, 0x04, 0x05, 0x06

#: Forms whose value is a string (resolved by :meth:`netmem_ffi.layout.dwarf.units.Unit.string`).
STRING_FORMS = frozenset({Form.string, Form.strp, Form.line_strp, Form.strx, Form.strx1, Form.strx2, Form.strx3,
                          Form.strx4, Form.GNU_str_index})
#: Forms whose value is a reference inside the unit (an offset from the unit header).
UNIT_REF_FORMS = frozenset({Form.ref1, Form.ref2, Form.ref4, Form.ref8, Form.ref_udata})
