"""How the CLI refuses input and reports failures: one line on stderr, exit code by error type."""

from __future__ import annotations

import argparse
import sys

from jupyter_mlops.core.contracts import EXIT_NOPERM, EXIT_UNAVAILABLE, EXIT_USAGE
from jupyter_mlops.core.errors import (
    MlopsError,
    PermissionDenied,
    TrackingUnavailable,
    UsageProblem,
)

PROG = "jupyter mlops"


def fail(message: str, code: int = EXIT_USAGE, prog: str = PROG) -> int:
    """Print ``<prog>: error: <message>`` as one line on stderr; return ``code``."""
    text = " ".join(str(message).split())
    print(f"{prog}: error: {text}", file=sys.stderr)
    return code


def exit_code(exc: MlopsError, otherwise: int) -> int:
    """64 for bad input, 69 for an unreachable store, 77 when the server refused our credentials
    or permission, else the subcommand's ``otherwise``."""
    if isinstance(exc, UsageProblem):
        return EXIT_USAGE
    if isinstance(exc, PermissionDenied):
        return EXIT_NOPERM
    if isinstance(exc, TrackingUnavailable):
        return EXIT_UNAVAILABLE
    return otherwise


def one_line(text: str) -> str:
    """argparse ``type`` for names, URIs and paths: non-empty, one line, no NUL."""
    if not text.strip() or any(c in text for c in "\n\r\x00"):
        raise argparse.ArgumentTypeError(f"expected one non-empty line, got {text[:80]!r}")
    return text
