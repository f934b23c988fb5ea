"""Exception types raised at the boundary of contractlab.

One exception type per kind of bad input (see ``DESIGN.md``). Every message names the
offending field and, where there is one, the index, so that a user can find the entry
in their file or array without reading a traceback.
"""

from __future__ import annotations


class InvalidInstanceError(ValueError):
    """An instance (array given to the API, or a file) violates the model's rules.

    Attributes
    ----------
    field:
        Name of the offending field, e.g. ``"outcome_probs"``.
    index:
        Index of the offending entry (a tuple), or ``None`` when the whole field is wrong.
    """

    def __init__(self, field: str, message: str, index: tuple[int, ...] | int | None = None):
        if isinstance(index, int):
            index = (index,)
        self.field = field
        self.index = index
        where = field if index is None else f"{field}[{']['.join(str(i) for i in index)}]"
        self.reason = message
        super().__init__(f"{where}: {message}")


class InvalidFileError(InvalidInstanceError):
    """A file could not be read as a contractlab instance (not JSON, wrong kind/version)."""


class SolverFailure(RuntimeError):
    """A solver could not produce an answer it can vouch for: an LP was reported
    ``"inaccurate"`` (its KKT check failed), ``"error"``, or ``"disagreement"`` (HiGHS and
    cvxpy differ under ``backend="both"``). Raised instead of silently answering from the LPs
    that did solve; the message names the LP (action, state, ...) and its status."""
