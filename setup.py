"""setuptools hook for cffi: compile one extension per ABI generation (see build_ffi.py)."""

import os
import sys

from setuptools import setup

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from build_ffi import CFFI_MODULES  # noqa: E402

setup(cffi_modules=CFFI_MODULES)
