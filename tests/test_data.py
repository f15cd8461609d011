import os
from pathlib import Path

import pytest

from slimkit.data import load_splits
from slimkit.errors import RecipeError
from slimkit.recipe import DataConfig

from .conftest import DATA


def load(train: Path, eval_: Path | None = None, **fields):
    return load_splits(DataConfig(train=str(train), eval=str(eval_ or train), **fields), "r.yaml")


def test_tsv_single_sentence(tmp_path):
    f = tmp_path / "a.tsv"
    f.write_text("sentence\tlabel\nnice one\t1\nawful\t0\n", encoding="utf-8")
    splits = load(f)
    assert splits.train.texts == ["nice one", "awful"]
    assert splits.train.labels == [1, 0]
    assert splits.train.text_pairs is None
    assert splits.validation is splits.eval


def test_tsv_pairs_with_bom_and_bare_quotes(tmp_path):
    f = tmp_path / "mrpc.tsv"
    f.write_bytes("\ufeffQuality\t#1 String\t#2 String\n1\tHe said \"yes\tShe \"agreed\n"
                  .encode("utf-8"))
    splits = load(f, text="#1 String", text_pair="#2 String", label="Quality")
    assert splits.train.texts == ['He said "yes']
    assert splits.train.text_pairs == ['She "agreed']


def test_csv_with_quoting_and_string_labels(tmp_path):
    f = tmp_path / "a.csv"
    f.write_text('review,stars\n"good, really",pos\nmeh,neg\n"fine",neutral\n', encoding="utf-8")
    splits = load(f, text="review", label="stars", labels=["neg", "neutral", "pos"])
    assert splits.train.texts == ["good, really", "meh", "fine"]
    assert splits.train.labels == [2, 0, 1]
    assert splits.train.label_names == ["neg", "neutral", "pos"]


def test_jsonl_and_inferred_label_order(tmp_path):
    f = tmp_path / "a.jsonl"
    f.write_text('{"t": "x", "y": "b"}\n\n{"t": "z", "y": "a"}\n', encoding="utf-8")
    splits = load(f, text="t", label="y")
    assert splits.train.label_names == ["a", "b"]
    assert splits.train.labels == [1, 0]


def test_numeric_labels_sort_as_numbers(tmp_path):
    f = tmp_path / "a.tsv"
    f.write_text("sentence\tlabel\na\t10\nb\t2\nc\t1\n", encoding="utf-8")
    assert load(f).train.label_names == ["1", "2", "10"]


def test_file_without_header_uses_column_indices(tmp_path):
    f = tmp_path / "a.tsv"
    f.write_text("1\tfirst\n0\tsecond\n", encoding="utf-8")
    splits = load(f, header=False, text=1, label=0)
    assert splits.train.texts == ["first", "second"]
    with pytest.raises(RecipeError, match="no header"):
        load(f, header=False, text="sentence", label=0)


def test_max_eval_samples_cuts_eval_rows(tmp_path):
    f = tmp_path / "a.tsv"
    f.write_text("sentence\tlabel\n" + "".join(f"s{i}\t{i % 2}\n" for i in range(10)))
    assert len(load(f, max_eval_samples=3).eval) == 3


@pytest.mark.parametrize("content, message", [
    (b"", "file is empty"),
    (b"sentence\tlabel\n", "no data rows"),
    (b"sentence\tlabel\nok\t1\nbad\t7\n", "row 3: label '7' is not in the label set"),
    (b"sentence\tlabel\nok\t1\ncaf\xe9\t0\n", "row 3: not UTF-8"),
    (b"text\tlabel\nok\t1\n", "row 2: missing column 'sentence'"),
    (b"sentence\tlabel\nok\t1\nthree\t1\textra\n", "row 3: 3 fields where the header has 2"),
])
def test_bad_files_name_file_and_row(tmp_path, content, message):
    bad = tmp_path / "bad.tsv"
    bad.write_bytes(content)
    good = tmp_path / "good.tsv"
    good.write_text("sentence\tlabel\na\t0\nb\t1\n", encoding="utf-8")
    with pytest.raises(RecipeError) as caught:
        load(good, bad, labels=["0", "1"])
    line = str(caught.value)
    assert message in line and str(bad) in line
    assert line.startswith("r.yaml: data.eval:")
    assert "\n" not in line


def test_missing_file_says_how_to_fix(tmp_path):
    with pytest.raises(RecipeError, match="file not found.*SLIMKIT_DATA"):
        load(tmp_path / "nope.tsv")


def test_huggingface_dataset_offline_is_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(RecipeError) as caught:
        load_splits(DataConfig(dataset="nyu-mll/glue", dataset_config="sst2", train="train",
                               eval="validation"), "r.yaml")
    line = str(caught.value)
    assert "cannot load Hugging Face dataset 'nyu-mll/glue'" in line and "\n" not in line


def test_real_glue_files_load():
    sst2 = load(DATA / "sst2" / "dev.tsv")
    assert len(sst2.train) == 872 and sorted(set(sst2.train.labels)) == [0, 1]
    mrpc = load(DATA / "mrpc" / "dev.tsv", text="#1 String", text_pair="#2 String",
                label="Quality")
    assert len(mrpc.train) == 408
    assert sum(mrpc.train.labels) == 279
    assert os.path.basename(mrpc.train.source) == "dev.tsv"
