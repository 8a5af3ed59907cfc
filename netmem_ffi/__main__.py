import sys

from netmem_ffi.cli import main

sys.exit(main())
