"""Every error and warning class of the package, in one place (as PyMC's ``exceptions``).

Each error's ``str()`` is one line naming the column, row, key or option at fault and the
problem: the command line prints it as it is and exits with code 2.
"""

from __future__ import annotations

__all__ = ["ConfigError", "ConvergenceWarning", "DataError"]


class DataError(ValueError):
    """User-facing input error.

    ``str(err)`` is a single line naming the column, row or key at fault and the problem;
    any line breaks in the message are replaced by spaces.
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).splitlines()))


class ConfigError(ValueError):
    """A preset or option is invalid; the message is one line naming the key."""


class ConvergenceWarning(UserWarning):
    """The chains have not converged (or a fit cannot be trusted as run)."""
