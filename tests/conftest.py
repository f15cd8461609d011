"""Shared fixtures: tiny random models for every supported architecture, and small data files."""

from __future__ import annotations

import os
import random
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


@pytest.fixture
def sentiment_files(tmp_path: Path) -> tuple[Path, Path]:
    train = write_tsv(tmp_path / "train.tsv", sentiment_rows(320, seed=1))
    dev = write_tsv(tmp_path / "dev.tsv", sentiment_rows(80, seed=2))
    return train, dev


# the tiny teacher most tests start from, as a recipe's stages text (others are appended to it)
TEACHER_STAGE = """
  - kind: finetune
    name: teacher
    epochs: 4
    learning_rate: 3.0e-3
    batch_size: 16
"""


def tiny_recipe(tmp_path: Path, train: Path, dev: Path, architecture: str = "bert",
                stages: str | None = None, extra_data: str = "") -> Path:
    shape = "".join(f"\n  {k}: {v}" for k, v in TINY_SHAPES[architecture].items())
    # ALBERT's one shared layer needs a few epochs before it leaves chance from a random init
    epochs, rate = (8, "2.0e-3") if architecture == "albert" else (4, "3.0e-3")
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


@pytest.fixture(scope="session", autouse=True)
def _no_files_left_in_the_repo():
    """Fail the run if a test writes into the working tree."""
    ignored = {".venv", ".git", ".pytest_cache", ".ruff_cache", "__pycache__"}

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
