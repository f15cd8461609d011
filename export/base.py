"""What every exporter shares: the parity gate against PyTorch and its typed errors.

Exporters (ONNX, OpenVINO, TensorRT-ready ONNX) are stages; each runs the exported model and the
PyTorch parent on the same real inputs and passes both logits through ``check_parity``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pydantic import Field, PositiveInt

from slimkit.data import Dataset
from slimkit.errors import SlimkitError
from slimkit.stage import RunContext, StageConfig, Variant


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
                             f"the tolerance {atol:g} (raise the stage's atol only if the accuracy "
                             "holds)")
    if parity.argmax_agreement < min_agreement:
        raise AgreementError(f"{what}: predictions agree with PyTorch on "
                             f"{parity.argmax_agreement:.1%} of rows, below {min_agreement:.1%} (lower "
                             "the stage's min_agreement only if the accuracy holds)")
    return parity


class ToleranceConfig(StageConfig):
    """Parity settings every exporter shares."""

    atol: float = Field(1e-3, gt=0, description="largest |logit difference| allowed vs PyTorch")
    min_agreement: float = Field(0.99, ge=0, le=1, description="share of equal argmax predictions")
    parity_rows: PositiveInt = Field(64, description="eval rows run through both for the gate")


def parity_rows(ctx: RunContext, count: int) -> Dataset:
    rows = ctx.validation
    return rows.subset(list(range(min(count, len(rows)))))


def gate(parent: Variant, candidate: Any, ctx: RunContext, cfg: ToleranceConfig,
         what: str) -> Parity:
    """Run the parent and the candidate runtime on the same real rows; raise past tolerance."""
    from slimkit.inference import batched_logits
    from slimkit.runtimes import runtime_for

    rows = parity_rows(ctx, cfg.parity_rows)
    max_length = ctx.recipe.data.max_length
    reference = batched_logits(runtime_for(parent).logits, parent.tokenizer, rows, max_length,
                               progress=False)
    produced = batched_logits(candidate.logits, parent.tokenizer, rows, max_length, progress=False)
    return check_parity(reference, produced, atol=cfg.atol, min_agreement=cfg.min_agreement,
                        what=what)


def require_pytorch_parent(parent: Variant, kind: str) -> None:
    if parent.backend != "pytorch" or parent.model is None:
        raise ExportError(f"{kind} starts from a PyTorch variant, not '{parent.name}' "
                          f"({parent.backend})")
