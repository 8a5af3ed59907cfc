"""setuptools hook for cffi: compile one extension per ABI generation (see build_ffi.py).

The seven extensions are independent, so build_ext compiles them in parallel
(one job per CPU): on a 2-core machine that halves ``pip install .``.
"""

import os
import sys

from setuptools import setup

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from build_ffi import CFFI_MODULES  # noqa: E402

setup(cffi_modules=CFFI_MODULES, options={"build_ext": {"parallel": os.cpu_count() or 1}})
