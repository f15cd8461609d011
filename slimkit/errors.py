"""The two kinds of failure a user sees: bad input (exit 2) and a failure while running (exit 1)."""

from __future__ import annotations


class SlimkitError(Exception):
    """A failure while running a stage; the CLI prints it as one line and exits 1."""

    exit_code = 1


class RecipeError(SlimkitError):
    """Bad user input: a recipe, a data file or a model reference. Exit code 2.

    Rendered as ``FILE: FIELD: PROBLEM (FIX)`` so that one line says where and what to do.
    """

    exit_code = 2

    def __init__(self, problem: str, *, file: str | None = None, field: str | None = None,
                 fix: str | None = None) -> None:
        self.file, self.field, self.problem, self.fix = file, field, problem, fix
        super().__init__(self.render())

    def render(self) -> str:
        parts = [p for p in (self.file, self.field) if p]
        line = ": ".join([*parts, self.problem])
        return f"{line} ({self.fix})" if self.fix else line

    def at(self, file: str | None = None, prefix: str | None = None) -> RecipeError:
        """The same error placed inside a file and under a field prefix."""
        field = ".".join(p for p in (prefix, self.field) if p) or None
        return RecipeError(self.problem, file=file or self.file, field=field, fix=self.fix)
