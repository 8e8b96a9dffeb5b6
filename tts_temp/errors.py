"""The one exception type the CLI turns into a single stderr line and a non-zero exit."""
from __future__ import annotations


class UserError(Exception):
    """Bad input from the user (a file, an option, a checkpoint); the message is shown as is."""
