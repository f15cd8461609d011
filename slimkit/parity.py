"""The parity gate: a derived variant (an export, a quantized model, a peer) and its parent run on
the same real rows, and the logits must agree within the stage's tolerances; typed errors past them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pydantic import Field, PositiveInt

from slimkit.data import Dataset
from slimkit.errors import SlimkitError
from slimkit.runtime import Runtime
from slimkit.stage import RunContext, StageConfig


class ParityError(SlimkitError):
    """A derived variant that does not match its parent."""


class ShapeError(ParityError):
    """The exported model's outputs do not have the parent's shape."""


class ToleranceError(ParityError):
    """Logits differ from PyTorch's by more than the recipe's tolerance."""


class AgreementError(ParityError):
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
    """Compare two (rows, labels) logit arrays; raise a typed ParityError past the tolerances."""
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
    """Parity settings every gated stage shares."""

    atol: float = Field(1e-3, gt=0, description="largest |logit difference| allowed vs PyTorch")
    min_agreement: float = Field(0.99, ge=0, le=1, description="share of equal argmax predictions")
    parity_rows: PositiveInt = Field(64, description="eval rows run through both for the gate")


def parity_rows(ctx: RunContext, count: int) -> Dataset:
    rows = ctx.validation
    return rows.subset(list(range(min(count, len(rows)))))


def gate(reference: Runtime, candidate: Runtime, tokenizer: Any, ctx: RunContext,
         cfg: ToleranceConfig, what: str) -> Parity:
    """Run the parent's runtime and the candidate's on the same real rows; raise past tolerance."""
    from slimkit.inference import batched_logits

    rows = parity_rows(ctx, cfg.parity_rows)
    max_length = ctx.recipe.data.max_length
    expected = batched_logits(reference.logits, tokenizer, rows, max_length, progress=False)
    produced = batched_logits(candidate.logits, tokenizer, rows, max_length, progress=False)
    return check_parity(expected, produced, atol=cfg.atol, min_agreement=cfg.min_agreement,
                        what=what)
