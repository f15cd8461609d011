import json

import pytest

from slimkit import artifacts
from slimkit.errors import RecipeError

from .conftest import sample_manifest


def test_write_variant_is_atomic_when_fill_fails(tmp_path):
    target = tmp_path / "run" / "v"

    def fill(folder):
        (folder / "weights.bin").write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        artifacts.write_variant(target, fill)
    assert not target.exists()
    assert list((tmp_path / "run").iterdir()) == []


def test_write_variant_replaces_old_and_records_checksums(tmp_path):
    target = tmp_path / "v"

    def fill_with(content):
        def fill(folder):
            (folder / "weights.bin").write_bytes(content)
            return sample_manifest(fingerprint=content.decode())
        return fill

    artifacts.write_variant(target, fill_with(b"one"))
    manifest = artifacts.write_variant(target, fill_with(b"two"))
    assert (target / "weights.bin").read_bytes() == b"two"
    assert manifest.files["weights.bin"] == artifacts.sha256_file(target / "weights.bin")
    assert json.loads((target / "manifest.json").read_text())["fingerprint"] == "two"
    assert artifacts.is_finished(target, "two") and not artifacts.is_finished(target, "one")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v"]


def test_verify_checksums_catches_a_changed_file(tmp_path):
    target = tmp_path / "v"
    manifest = artifacts.write_variant(
        target, lambda f: (f / "w.bin").write_bytes(b"x") and sample_manifest())
    artifacts.verify_checksums(target, manifest)
    (target / "w.bin").write_bytes(b"y")
    with pytest.raises(RecipeError, match="missing or changed"):
        artifacts.verify_checksums(target, manifest)


def test_load_variant_refuses_a_plain_folder(tmp_path):
    with pytest.raises(RecipeError, match="not a slimkit variant"):
        artifacts.load_variant(tmp_path)
