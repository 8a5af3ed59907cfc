"""Shared CLI rendering: rich on a terminal, plain text when piped, NO_COLOR, JSON."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

EXIT_OK = 0
EXIT_INPUT = 1
EXIT_USAGE = 2
EXIT_DIFF = 4


def fail(message: str, code: int = EXIT_INPUT) -> int:
    """Print a one-line error (no traceback) and return *code*."""
    print(f"netmem-ffi: error: {message}", file=sys.stderr)
    return code


def print_json(obj: Any) -> None:
    """JSON on stdout: indented on a terminal, compact (the C encoder, much faster) when piped."""
    indent = 2 if sys.stdout.isatty() else None
    sys.stdout.write(json.dumps(obj, indent=indent, default=str) + "\n")  # dumps: one C-encoder pass


def use_rich(stream: Any = None) -> bool:
    """Rich output only on a terminal; plain text when piped (or TERM=dumb)."""
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)()) and os.environ.get("TERM") != "dumb"


def console(stderr: bool = False) -> Any:
    """A rich Console honouring NO_COLOR; imported lazily (rich is slow to import)."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(
        file=stream,
        no_color="NO_COLOR" in os.environ,
        force_terminal=use_rich(stream),
        highlight=False,
        soft_wrap=not use_rich(stream),
    )
