"""What exporters share besides the parity gate (``slimkit.parity``): their error type."""

from __future__ import annotations

from slimkit.errors import SlimkitError


class ExportError(SlimkitError):
    """An export that could not be produced."""
