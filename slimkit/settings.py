"""What a benchmark measures (the recipe's ``benchmark:`` block, or ``slimkit bench`` flags) and
what the regression gate tolerates (``slimkit compare --tolerances FILE`` or flags). Pydantic only:
``slimkit.recipe`` imports this, so it must stay light. Backend names are checked against the
backend registry (``backends/registry.py``) when a recipe is planned or a benchmark starts."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, model_validator

Device = Literal["cpu", "cuda"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BenchmarkConfig(_Strict):
    """Every finished variant x backend x device: quality, latency, memory, size."""

    reference: str = Field("teacher", description="variant every latency is a ratio to (PyTorch)")
    variants: list[str] | None = Field(None, description="only these variants (default: all)")
    backends: list[str] | None = Field(None, description="backends to try on each variant "
                                       "(default: every one slimkit has)")
    devices: list[Device] = Field(["cpu", "cuda"], description="cuda rows are skipped without CUDA")
    batch_sizes: list[PositiveInt] = Field([1, 32], min_length=1, description="rows per timed call")
    seq_lens: list[PositiveInt] = Field([64, 128], min_length=1,
                                        description="tokens per row of a timed call")
    real_texts: bool = Field(False, description="also time batch 1 over the eval rows, each at "
                             "its own token length (no padding): a column 'b1/real'")
    eval_batch_size: PositiveInt = Field(
        32, description="rows per call when scoring accuracy and F1: dynamic INT8 quantizes each "
                        "call's activations by that call's range, so its scores depend on the rows "
                        "batched together; 1 scores them as a batch-1 server would")
    threads: PositiveInt | None = Field(None, description="intra-op threads (default: physical cores)")
    warmup: int = Field(5, ge=0, description="untimed calls before each shape")
    rounds: PositiveInt = Field(10, description="interleaved rounds of target then reference")
    per_round: PositiveInt = Field(5, description="timed calls per runtime per round")
    min_seconds: float = Field(0.0, ge=0, description="keep adding rounds until this much time")
    repeats: PositiveInt = Field(1, description="measure every row in this many processes, one "
                                 "pass over the rows each, and keep the median latencies")
    spin_wait: bool = Field(True, description="let idle runtime threads spin between calls "
                            "(each runtime's default); false: they sleep (OMP_WAIT_POLICY=PASSIVE, "
                            "ONNX Runtime without spinning): steadier ratios from one process to "
                            "the next, slower PyTorch calls (benchmarks/REPORT.md)")
    budget: float = Field(1.0, ge=0, description="accuracy budget in points below the reference")
    metric: Literal["accuracy", "f1"] = Field("accuracy", description="what the budget is on")
    pick_batch: PositiveInt | None = Field(None, description="shape the best pick is judged at "
                                           "(default: the first batch size)")
    pick_seq: PositiveInt | None = Field(None, description="default: the first sequence length")
    timeout: PositiveInt = Field(1800, description="seconds allowed for one measurement")
    publish: str | None = Field(None, description="also copy report.json / .md / pareto.png here, "
                                "named after the recipe (e.g. benchmarks/results)")
    peers: list[str] = Field([], description="variants made the way a user would without slimkit "
                             "(marked in the report; the best of them is what we must beat)")

    @model_validator(mode="after")
    def _pick_shape_is_measured(self) -> BenchmarkConfig:
        if self.pick_batch is not None and self.pick_batch not in self.batch_sizes:
            raise ValueError(f"pick_batch {self.pick_batch} is not in batch_sizes {self.batch_sizes}")
        if self.pick_seq is not None and self.pick_seq not in self.seq_lens:
            raise ValueError(f"pick_seq {self.pick_seq} is not in seq_lens {self.seq_lens}")
        return self

    @property
    def pick_shape(self) -> tuple[int, int]:
        return self.pick_batch or self.batch_sizes[0], self.pick_seq or self.seq_lens[0]


class SearchConfig(_Strict):
    """The recipe's ``search:`` block: the fastest deployable variant within an accuracy budget,
    judged on one backend / device / shape, published as ``runs/<recipe>/best``."""

    budget: float = Field(1.0, ge=0, description="points below the reference's metric")
    metric: Literal["accuracy", "f1"] = "accuracy"
    backend: str | None = Field(None, description="only variants made for this backend")
    device: Device = "cpu"
    batch_size: PositiveInt = 1
    seq_len: PositiveInt = 64
    include_peers: bool = Field(False, description="let a peer variant be the pick")


class Tolerances(_Strict):
    """How far a metric may move before ``slimkit compare`` fails; None turns a check off.

    Quality limits are in points (0.5 = half a percentage point); latency, memory and size limits
    are relative rises (0.15 = 15 %) of the value against the baseline's, latency as the ratio to
    the same run's reference so that a slower machine alone does not fail the gate (the median
    of the per-round ratios, ``round_ratio_p50``; the ratio of the p50s for older reports). A real
    slow-down shows at every shape, noise does not: between runs on a 2-core VM one shape's ratio
    moved up to 19 %, the geometric mean over a row's shapes at most 13 %; hence a tight limit on
    the mean and a looser one per shape."""

    accuracy: float | None = Field(1.0, ge=0, description="max accuracy drop, points")
    f1: float | None = Field(1.0, ge=0, description="max F1 drop, points")
    agreement: float | None = Field(None, ge=0, description="max drop of agreement, points")
    significance: float | None = Field(
        0.05, gt=0, lt=0.5, description="an accuracy or F1 drop past its limit fails only when a "
        "paired test on the same eval rows finds it significant at this level (McNemar for "
        "accuracy, paired bootstrap for F1); null: the points alone decide")
    latency: PositiveFloat | None = Field(
        0.15, description="max rise of a row's ratio to the reference (round_ratio_p50), "
        "geometric mean over its shapes")
    latency_shape: PositiveFloat | None = Field(
        0.30, description="max rise of that ratio at any one shape")
    p90: PositiveFloat | None = Field(None, description="max rise of the p90 ratio")
    reference_shift: PositiveFloat | None = Field(
        None, lt=1, description="max drop of the median row's ratio (geometric mean over its "
        "shapes): every row looking faster at once means the reference path got slower")
    latency_calibrated: PositiveFloat | None = Field(
        None, description="max rise of the reference's own p50 in units of the machine's "
        "calibration product (median over the report's processes, per shape): catches a slower "
        "reference path, which ratios cannot; see benchmarks/REPORT.md for its measured noise")
    memory: PositiveFloat | None = Field(None, description="max rise of peak resident memory")
    size: PositiveFloat | None = Field(None, description="max rise of size on disk")
    serving_throughput: PositiveFloat | None = Field(
        0.20, description="max relative drop of a load test's requests per second")
    serving_p99: PositiveFloat | None = Field(
        0.50, description="max relative rise of a load test's p99 latency")
