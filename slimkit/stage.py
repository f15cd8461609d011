"""What every stage shares: its config base class, the Stage interface, Variant, RunContext, Registry."""

from __future__ import annotations

import difflib
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from slimkit.errors import RecipeError, SlimkitError

if TYPE_CHECKING:
    from slimkit.data import Dataset
    from slimkit.manifest import Manifest
    from slimkit.recipe import Recipe

log = logging.getLogger(__name__)


class StageConfig(BaseModel):
    """Base of every stage's config: strict, immutable, JSON round-trippable."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: str
    name: str | None = Field(None, description="variant name; defaults to the kind")
    parent: str | None = Field(None, description="variant to start from; default: the stage above")
    evaluate: bool = Field(True, description="evaluate the variant on data.eval after the stage")

    @property
    def variant_name(self) -> str:
        return self.name or self.kind

    def check_lineage(self, ancestors: list[StageConfig]) -> None:
        """Raise RecipeError (field relative to this stage) when this stage contradicts a stage
        it descends from; ``ancestors`` nearest first. Most stages depend on none."""


ConfigT = TypeVar("ConfigT", bound=StageConfig)


@dataclass
class Variant:
    """One model produced by a stage (or the base model), in memory and/or on disk."""

    name: str
    model: Any = None
    tokenizer: Any = None
    path: Path | None = None
    backend: str = "pytorch"
    precision: str = "fp32"  # what it computes in, as the report shows it ("int8 dynamic", ...)
    options: dict[str, Any] = field(default_factory=dict)  # for its backend (OpenVINO's precision hint)
    manifest: Manifest | None = None  # once written or loaded
    extras: dict[str, Any] = field(default_factory=dict)  # the stage's typed Manifest records
    runtime: Any = None  # the runtime it runs on, once opened (slimkit.load opens it)
    metrics: dict[str, Any] | None = None  # its scores on the eval rows, when the stage has them
    extra_files: dict[str, bytes] = field(default_factory=dict)  # written beside it (curves)

    def save(self, folder: Path) -> None:
        """Write the model and tokenizer as a plain Hugging Face folder."""
        self.model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)

    def predict(self, texts: list[str], text_pairs: list[str] | None = None) -> list[str]:
        """Label names for raw texts (the deployable one-call path)."""
        from slimkit.data import Dataset
        from slimkit.inference import batched_logits

        if self.runtime is None:
            raise SlimkitError(f"variant '{self.name}' has no runtime open: load it with "
                               "slimkit.load(FOLDER)")
        if self.manifest is not None:
            names, max_length = self.manifest.label_names, self.manifest.max_length
        else:
            config = self.model.config
            names, max_length = [config.id2label[i] for i in range(config.num_labels)], 512
        rows = Dataset(list(texts), list(text_pairs) if text_pairs else None, [0] * len(texts),
                       names, "predict")
        logits = batched_logits(self.runtime.logits, self.tokenizer, rows, max_length,
                                progress=False)
        return [names[i] for i in logits.argmax(axis=1)]


def exactly_one(config: Any, first: str, second: str) -> None:
    """For a config's model validator: exactly one of two alternative amount fields is set."""
    if (getattr(config, first) is None) == (getattr(config, second) is None):
        raise ValueError(f"give exactly one of {first} or {second}")


def require_pytorch_parent(parent: Variant, kind: str) -> None:
    """For a stage that starts from an in-memory PyTorch model (exports, peers)."""
    if parent.backend != "pytorch" or parent.model is None:
        raise SlimkitError(f"{kind} starts from a PyTorch variant, not '{parent.name}' "
                           f"({parent.backend})")


def with_sidecar(path: Path) -> list[Path]:
    """A model file and, for an ONNX graph with external weights, its ``.data`` file."""
    data = path.with_name(path.name + ".data")
    return [path, data] if data.is_file() else [path]


class FileVariant(Variant):
    """A variant held as files (ONNX graph, OpenVINO IR, pickled quantized module) plus the
    tokenizer and the Hugging Face config, so it runs without the PyTorch parent."""

    def __init__(self, name: str, tokenizer: Any, config: Any, files: dict[str, Path],
                 backend: str, options: dict[str, Any] | None = None, *, precision: str = "fp32",
                 **extras: Any) -> None:
        super().__init__(name=name, tokenizer=tokenizer, backend=backend, precision=precision,
                         extras=dict(extras))
        self.config, self.files, self.options = config, dict(files), dict(options or {})
        self.extras.update(backend_options=self.options, artifact=next(iter(self.files)))

    @property
    def artifact(self) -> Path:
        """The main file: in the variant's folder once written, else where the stage made it."""
        name = next(iter(self.files))
        return self.path / name if self.path else self.files[name]

    def save(self, folder: Path) -> None:
        for name, source in self.files.items():
            for path in with_sidecar(source):
                shutil.copy2(path, folder / (name if path == source else path.name))
        self.config.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)


@dataclass
class RunContext:
    """What a stage may read while it runs; it writes only through the Variant it returns."""

    recipe: Recipe
    recipe_path: str
    train: Dataset
    validation: Dataset
    eval: Dataset
    variants: dict[str, Variant]
    seed: int
    workdir: Path
    resolve_variant: Any = None  # callable(name) -> Variant, loads a finished variant on demand

    def variant(self, name: str) -> Variant:
        return self.resolve_variant(name)

    def scratch(self, name: str) -> Path:
        """A fresh folder for a stage's intermediate files; the runner removes it at the end."""
        import os
        import tempfile

        root = self.workdir / f".scratch.tmp-{os.getpid()}"
        root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=root))


class Stage(Generic[ConfigT]):
    """A stage: ``check`` runs at validate time from the model's config alone, ``run`` does the work."""

    # Under a multi-process launch a distributed stage (training) runs in every process, each on
    # its share of the batches; any other stage runs in the main process while the others wait.
    distributed: ClassVar[bool] = False

    def __init__(self, config: ConfigT) -> None:
        self.config = config

    def check(self, model_config: dict[str, Any], recipe: Recipe) -> None:
        """Raise RecipeError(field=...) when the config cannot apply to this model. Cheap."""

    def run(self, parent: Variant, ctx: RunContext) -> Variant:
        raise NotImplementedError


class Registry:
    """An explicit map from a stage's ``kind`` to its config class and its stage class."""

    builtin_keys: ClassVar[set[str]] = set(StageConfig.model_fields)

    def __init__(self) -> None:
        self._stages: dict[str, tuple[type[StageConfig], type[Stage]]] = {}

    def add(self, config_cls: type[StageConfig], stage_cls: type[Stage]) -> None:
        kind = config_cls.model_fields["kind"].default
        if not isinstance(kind, str) or kind in self._stages:
            raise ValueError(f"stage kind {kind!r} is missing or registered twice")
        self._stages[kind] = (config_cls, stage_cls)

    def kinds(self) -> list[str]:
        return sorted(self._stages)

    def config_class(self, kind: Any, *, field_name: str) -> type[StageConfig]:
        if kind in self._stages:
            return self._stages[kind][0]
        close = difflib.get_close_matches(str(kind), self.kinds(), n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise RecipeError(f"unknown stage kind {kind!r}", field=field_name,
                          fix=f"{hint}known kinds: {', '.join(self.kinds())}")

    def build(self, config: StageConfig) -> Stage:
        return self._stages[config.kind][1](config)
