"""The GLUE files shipped in data/ are the ones data/README.md describes: rows, labels, bytes and
sha256 as its table states, read by slimkit's own loader."""

from __future__ import annotations

import hashlib
import re

import pytest

from slimkit.data import load_splits
from slimkit.recipe import DataConfig

from .conftest import REPO

TABLE = re.compile(r"^\| `(?P<file>[\w/]+\.tsv)` \| [^|]+ \| (?P<rows>[\d,]+) \| `0` (?P<zero>[\d,]+) "
                   r"/ `1` (?P<one>[\d,]+) \| (?P<bytes>[\d,]+) \| `(?P<sha>[0-9a-f]{64})` \|$", re.M)
COLUMNS = {"sst2": {"text": "sentence", "label": "label"},
           "mrpc": {"text": "#1 String", "text_pair": "#2 String", "label": "Quality"}}


def documented() -> list[dict[str, str]]:
    rows = [m.groupdict() for m in TABLE.finditer((REPO / "data" / "README.md").read_text())]
    assert len(rows) == 4
    return rows


@pytest.mark.parametrize("entry", documented(), ids=lambda e: e["file"])
def test_shipped_file_matches_its_provenance_note(entry):
    path = REPO / "data" / entry["file"]
    content = path.read_bytes()
    assert len(content) == int(entry["bytes"].replace(",", ""))
    assert hashlib.sha256(content).hexdigest() == entry["sha"]
    task = entry["file"].split("/")[0]
    rows = load_splits(DataConfig(train=str(path), eval=str(path), **COLUMNS[task])).train
    assert len(rows) == int(entry["rows"].replace(",", ""))
    assert rows.labels.count(1) == int(entry["one"].replace(",", ""))
    assert rows.labels.count(0) == int(entry["zero"].replace(",", ""))
