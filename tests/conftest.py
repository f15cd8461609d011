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
    tests start): oversubscribed OpenMP threads spin, and a tiny model's step then takes 50x longer."""
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
    epochs, rate = schedule(architecture)
    stages = stages or f"""
  - kind: finetune
    name: teacher
    epochs: {epochs}
    learning_rate: {rate}
    batch_size: 16
"""
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


@pytest.fixture(scope="session")
def trained_teacher(tmp_path_factory) -> Path:
    """The default tiny BERT teacher (``tiny_recipe`` with TEACHER_STAGE), trained once a session."""
    from slimkit.runner import build_registry, execute, plan

    root = tmp_path_factory.mktemp("teacher")
    registry = build_registry()
    recipe = tiny_recipe(root, *write_sentiment_files(root), stages=TEACHER_STAGE)
    execute(plan(recipe, registry), registry)
    return root / "runs" / "tiny" / "teacher"


@pytest.fixture
def with_teacher(tmp_path: Path, trained_teacher: Path) -> Path:
    """tmp_path/runs/tiny seeded with the trained teacher: a ``tiny_recipe`` whose stages start
    with TEACHER_STAGE resumes past it (same data bytes, same settings, same fingerprint)."""
    shutil.copytree(trained_teacher, tmp_path / "runs" / "tiny" / "teacher")
    return tmp_path / "runs" / "tiny" / "teacher"


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
