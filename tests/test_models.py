from pathlib import Path

import pytest

from slimkit.errors import RecipeError
from slimkit.models import read_model_config, resolve_source


def test_short_name_resolves_to_the_packaged_minilm():
    folder = Path(resolve_source("minilm-l6"))
    assert (folder / "model.safetensors").is_file()
    config = read_model_config("minilm-l6")
    assert (config["num_hidden_layers"], config["num_attention_heads"], config["hidden_size"]) \
        == (6, 12, 384)


def test_local_folder_needs_a_config(tmp_path):
    with pytest.raises(RecipeError, match="has no config.json"):
        read_model_config(str(tmp_path))
    with pytest.raises(RecipeError, match="model folder not found"):
        read_model_config(str(tmp_path / "missing"))


def test_hub_id_offline_fails_with_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(RecipeError) as caught:
        read_model_config("some-org/some-model")
    line = str(caught.value)
    assert "cannot fetch 'some-org/some-model' from the Hugging Face Hub" in line
    assert "\n" not in line


def test_hub_id_goes_through_from_pretrained(monkeypatch, tmp_path):
    """The real hub path: a local hub cache stands in for the network."""
    import shutil

    from huggingface_hub import constants

    from slimkit.models import load_base

    cache = tmp_path / "hub"
    snapshot = cache / "models--org--tiny" / "snapshots" / ("0" * 40)
    shutil.copytree(resolve_source("minilm-l6"), snapshot)
    (cache / "models--org--tiny" / "refs").mkdir()
    (cache / "models--org--tiny" / "refs" / "main").write_text("0" * 40)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    assert read_model_config("org/tiny")["hidden_size"] == 384
    model, tokenizer = load_base("org/tiny", ["neg", "pos"], seed=0)
    assert model.config.id2label == {0: "neg", 1: "pos"}
    assert tokenizer("hello")["input_ids"][0] == tokenizer.cls_token_id
