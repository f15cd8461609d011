"""What every exporter shares: the parity gate against PyTorch and its typed errors.

Exporters (ONNX, OpenVINO, TensorRT-ready ONNX) are stages; each runs the exported model and the
PyTorch parent on the same real inputs and passes both logits through ``check_parity``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from slimkit.errors import SlimkitError


class ExportError(SlimkitError):
    """An export that could not be produced or does not match its PyTorch parent."""


class ShapeError(ExportError):
    """The exported model's outputs do not have the parent's shape."""


class ToleranceError(ExportError):
    """Logits differ from PyTorch's by more than the recipe's tolerance."""


class AgreementError(ExportError):
    """Too many predicted labels differ from PyTorch's."""


@dataclass(frozen=True)
class Parity:
    rows: int
    max_abs_diff: float
    argmax_agreement: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def check_parity(reference: Any, exported: Any, *, atol: float, min_agreement: float = 1.0,
                 what: str = "export") -> Parity:
    """Compare two (rows, labels) logit arrays; raise a typed ExportError past the tolerances."""
    import numpy as np

    reference, exported = np.asarray(reference, np.float64), np.asarray(exported, np.float64)
    if reference.shape != exported.shape:
        raise ShapeError(f"{what}: output shape {exported.shape}, PyTorch gives {reference.shape}")
    parity = Parity(rows=int(reference.shape[0]),
                    max_abs_diff=float(np.max(np.abs(reference - exported))),
                    argmax_agreement=float(np.mean(reference.argmax(1) == exported.argmax(1))))
    if not parity.max_abs_diff <= atol:  # also catches NaN
        raise ToleranceError(f"{what}: max |logit difference| {parity.max_abs_diff:.3g} exceeds "
                             f"the tolerance {atol:g} (raise the recipe's tolerance only if the "
                             "accuracy holds)")
    if parity.argmax_agreement < min_agreement:
        raise AgreementError(f"{what}: predictions agree with PyTorch on "
                             f"{parity.argmax_agreement:.1%} of rows, below {min_agreement:.1%}")
    return parity
