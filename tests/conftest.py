"""Shared fixtures: tiny random models for every supported architecture, and small data files."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# the GLUE files the repository ships (data/README.md), or the copy SLIMKIT_DATA points at
DATA = Path(os.environ.get("SLIMKIT_DATA") or REPO / "data")

# The shapes of the tiny models: small enough to train in a second, every family represented.
TINY_SHAPES = {
    "bert": {"hidden_size": 32, "num_hidden_layers": 4, "num_attention_heads": 4,
             "intermediate_size": 64},
    "roberta": {"hidden_size": 32, "num_hidden_layers": 4, "num_attention_heads": 4,
                "intermediate_size": 64},
    "xlm-roberta": {"hidden_size": 32, "num_hidden_layers": 4, "num_attention_heads": 4,
                    "intermediate_size": 64},
    "electra": {"hidden_size": 32, "embedding_size": 16, "num_hidden_layers": 4,
                "num_attention_heads": 4, "intermediate_size": 64},
    "albert": {"hidden_size": 32, "embedding_size": 16, "num_hidden_layers": 4,
               "num_attention_heads": 4, "intermediate_size": 64},
    "distilbert": {"dim": 32, "n_layers": 4, "n_heads": 4, "hidden_dim": 64},
    "deberta-v2": {"hidden_size": 32, "num_hidden_layers": 4, "num_attention_heads": 4,
                   "intermediate_size": 64},
}
ARCHITECTURES = list(TINY_SHAPES)

POSITIVE = ["good", "great", "excellent", "wonderful", "superb", "lovely"]
NEGATIVE = ["bad", "awful", "terrible", "dreadful", "poor", "boring"]
FILLER = ["the", "movie", "was", "really", "quite", "plot", "acting", "film", "a", "story"]


def sentiment_rows(count: int, seed: int) -> list[tuple[str, str]]:
    """Sentences whose label is carried by one sentiment word among filler words."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        label = rng.randint(0, 1)
        words = rng.sample(FILLER, 4) + [rng.choice(POSITIVE if label else NEGATIVE)]
        rng.shuffle(words)
        rows.append((" ".join(words), str(label)))
    return rows


def write_tsv(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows),
                    encoding="utf-8")
    return path


def write_sentiment_files(folder: Path) -> tuple[Path, Path]:
    """(train.tsv, dev.tsv) in ``folder``: the same bytes every time, so runs resume across tests."""
    train = write_tsv(folder / "train.tsv", sentiment_rows(320, seed=1))
    dev = write_tsv(folder / "dev.tsv", sentiment_rows(80, seed=2))
    return train, dev


@pytest.fixture
def sentiment_files(tmp_path: Path) -> tuple[Path, Path]:
    return write_sentiment_files(tmp_path)


def pytest_configure(config):
    """Under pytest-xdist each worker takes its share of the cores (and so do the processes its
    tests start): more OpenMP threads than cores spin against each other and stall every step."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))


# the tiny teacher most tests start from, as a recipe's stages text (others are appended to it)
TEACHER_STAGE = """
  - kind: finetune
    name: teacher
    epochs: 4
    learning_rate: 3.0e-3
    batch_size: 16
"""


def student_stage(*extra: str) -> str:
    """A recipe's stages text for the tiny every-other-layer student distilled without hidden
    states, plus ``extra`` lines of its own (``"augment: {multiplier: 2}"``)."""
    lines = ["kind: distill", "name: student", "layers: every_other", "epochs: 2",
             "learning_rate: 3.0e-3", "batch_size: 16", "gamma: 0", *extra]
    return "\n  - " + "\n    ".join(lines) + "\n"


def schedule(architecture: str) -> tuple[int, str]:
    """(epochs, learning rate) that take a tiny random model of the family past chance: ALBERT's
    one shared layer and RoBERTa with its own byte-level BPE need longer before they leave it."""
    return {"albert": (8, "2.0e-3"), "roberta": (6, "3.0e-3")}.get(architecture, (4, "3.0e-3"))


# family -> its own tokenizer's folder (tests/family_tokenizers.py), built once a session
FAMILY_TOKENIZERS: dict[str, Path] = {}


@pytest.fixture(scope="session", autouse=True)
def _family_tokenizers(tmp_path_factory):
    from .family_tokenizers import FAMILIES, build

    corpus = [text for text, _ in sentiment_rows(400, seed=9)]
    root = tmp_path_factory.mktemp("tokenizers")
    FAMILY_TOKENIZERS.update({family: build(family, corpus, root / family) for family in FAMILIES})


def tiny_recipe(tmp_path: Path, train: Path, dev: Path, architecture: str = "bert",
                stages: str | None = None, extra_data: str = "") -> Path:
    shape = "".join(f"\n  {k}: {v}" for k, v in TINY_SHAPES[architecture].items())
    if architecture in FAMILY_TOKENIZERS:
        shape += f"\n  tokenizer: {FAMILY_TOKENIZERS[architecture]}"
    stages = stages or teacher_stage(architecture)
    text = f"""name: tiny
seed: 3
output_dir: {tmp_path / 'runs'}
model:
  architecture: {architecture}{shape}
data:
  train: {train}
  eval: {dev}
  max_length: 24{extra_data}
stages:{stages}"""
    path = tmp_path / "recipe.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def teacher_stage(architecture: str) -> str:
    """The teacher stage ``tiny_recipe`` uses by default: the family's schedule."""
    epochs, rate = schedule(architecture)
    return f"""
  - kind: finetune
    name: teacher
    epochs: {epochs}
    learning_rate: {rate}
    batch_size: 16
"""


@pytest.fixture(scope="session")
def teacher_for(tmp_path_factory):
    """teacher_for(architecture) -> a trained tiny teacher's folder, trained once a session (per
    pytest-xdist worker). Copied into a test's run folder, a recipe with the same teacher stage
    resumes past it: same data bytes, same settings, same fingerprint."""
    from slimkit.planning import plan
    from slimkit.runner import build_registry, execute

    made: dict[str, Path] = {}

    def trained(architecture: str = "bert") -> Path:
        if architecture not in made:
            root = tmp_path_factory.mktemp(f"teacher-{architecture}")
            recipe = tiny_recipe(root, *write_sentiment_files(root), architecture=architecture)
            registry = build_registry()
            execute(plan(recipe, registry), registry)
            made[architecture] = root / "runs" / "tiny" / "teacher"
        return made[architecture]
    return trained


def seed_teacher(tmp_path: Path, folder: Path) -> Path:
    """tmp_path/runs/tiny/teacher as a copy of a trained teacher's folder."""
    return Path(shutil.copytree(folder, tmp_path / "runs" / "tiny" / "teacher"))


@pytest.fixture(scope="session")
def trained_teacher(teacher_for) -> Path:
    """The default tiny BERT teacher (TEACHER_STAGE is BERT's schedule)."""
    return teacher_for("bert")


@pytest.fixture
def with_teacher(tmp_path: Path, trained_teacher: Path) -> Path:
    """tmp_path/runs/tiny seeded with the trained teacher: a ``tiny_recipe`` whose stages start
    with TEACHER_STAGE resumes past it (same data bytes, same settings, same fingerprint)."""
    return seed_teacher(tmp_path, trained_teacher)


@pytest.fixture(scope="session", autouse=True)
def _no_files_left_in_the_repo():
    """Fail the run if a test writes into the working tree."""
    ignored = {".venv", ".git", ".pytest_cache", ".ruff_cache", "__pycache__", "mutants"}

    def snapshot() -> set[str]:
        found = set()
        for folder, dirs, files in os.walk(REPO):
            dirs[:] = [d for d in dirs if d not in ignored and not d.endswith(".egg-info")]
            found.update(os.path.relpath(os.path.join(folder, f), REPO) for f in files)
        return found

    before = snapshot()
    yield
    left = sorted(snapshot() - before)
    assert not left, f"tests left files in the repository: {left[:10]}"


# Modules whose tests start processes or build a module-scoped run, longest first: pytest-xdist
# (--dist loadscope) hands whole modules to workers in collection order, so starting with these
# keeps one worker from being left with a long module at the end.
LONGEST_FIRST = ["test_crash_safety", "test_bench", "test_export", "test_quantize", "test_profile",
                 "test_multiprocess", "test_output", "test_pairs_and_pruned_exports", "test_distill",
                 "test_structure", "test_peers", "test_safe_load", "test_runner"]


def pytest_collection_modifyitems(items):
    def rank(item) -> int:
        name = item.path.stem
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the order inside a module is kept


def sample_manifest(**fields):
    """A valid manifest with placeholder values, for tests that write folders by hand."""
    from slimkit.manifest import DataRecord, Manifest, RecipeRecord

    values = dict(variant="v", stage="finetune", stage_config={"kind": "finetune"}, parent="base",
                  lineage=["base"], fingerprint="f", parent_fingerprint="p",
                  recipe=RecipeRecord(path="r.yaml", sha256="s", text="name: r"),
                  backend="pytorch", label_names=["0", "1"], max_length=32,
                  data=DataRecord(eval_source="dev.tsv", eval="e"), stage_seconds=0.0,
                  size_bytes=0, versions={}, created="2026-01-01T00:00:00+00:00")
    return Manifest(**{**values, **fields})


@pytest.fixture
def stage_setup(tmp_path, sentiment_files, request):
    """(parent variant, RunContext, tmp_path) for running one stage directly on a tiny model of
    the family given as the indirect parameter."""
    from slimkit.models import load_base
    from slimkit.planning import plan
    from slimkit.runner import build_registry
    from slimkit.stage import RunContext, Variant

    architecture = request.param
    recipe = tiny_recipe(tmp_path, *sentiment_files, architecture=architecture)
    planned = plan(recipe, build_registry())
    model, tokenizer = load_base(planned.recipe.model, ["0", "1"], seed=0)
    model.eval()
    ctx = RunContext(recipe=planned.recipe, recipe_path=str(recipe), train=planned.splits.train,
                     validation=planned.splits.validation, eval=planned.splits.eval, variants={},
                     seed=0, workdir=tmp_path, resolve_variant=None)
    return Variant("parent", model, tokenizer), ctx, tmp_path


def served_labels(folder: Path, texts: list[str], pairs: list[str] | None = None) -> list[str]:
    """The labels ``slimkit serve`` answers for a variant folder (the real app, in-process)."""
    from fastapi.testclient import TestClient

    from serving.app import create_app
    from serving.config import ServeConfig
    from serving.model import open_served

    body: dict = {"texts": texts, **({"text_pairs": pairs} if pairs else {})}
    with TestClient(create_app(open_served(folder, 1), ServeConfig(warmup_calls=1))) as http:
        answer = http.post("/predict", json=body)
    assert answer.status_code == 200, answer.text
    return [p["label"] for p in answer.json()["predictions"]]
