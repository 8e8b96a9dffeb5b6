"""The one exception type the CLI turns into a single stderr line and a non-zero exit."""
from __future__ import annotations


class UserError(ValueError):
    """Bad input from the user (a file, an option, a checkpoint); the message is shown as is.

    A ValueError, so code that validates arguments (the temperature checks, say) can raise it once
    and serve both the Python API (which expects ValueError) and the CLI (which prints one line)."""
