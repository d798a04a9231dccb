"""Errors a user can fix.

Anything the user can act on (a bad file, a missing column, a target with one class) is raised as
``DataValidationError`` with a message written for that user: what is wrong, where, what to do. The CLI
turns it into exit code 2 and one ``error:`` line; the app turns it into ``st.error``. Anything else is
a bug and is allowed to surface.
"""

from __future__ import annotations


class DataValidationError(ValueError):
    """A problem with the user's data or settings, with a message meant for that user.

    Parameters
    ----------
    problems
        One sentence per problem found; each names the column/row and the fix.
    """

    def __init__(self, *problems: str) -> None:
        self.problems: tuple[str, ...] = tuple(p for p in problems if p)
        super().__init__(" ".join(self.problems))
