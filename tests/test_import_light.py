import subprocess
import sys
from pathlib import Path

HEAVY = ("torch", "transformers", "onnxruntime", "openvino", "tensorrt", "compress", "export")


def test_import_slimkit_loads_no_heavy_module():
    code = ("import sys, slimkit, slimkit.cli, slimkit.recipe, slimkit.stage, slimkit.data;"
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_validating_a_recipe_loads_no_heavy_module():
    """`slimkit validate` stays under a second: every stage's config is read (all of
    build_registry's modules), the data and the model's config too, without torch."""
    code = ("import sys; from slimkit.planning import plan; from slimkit.runner import build_registry;"
            "plan('recipes/sst2-minilm.yaml', build_registry());"
            f"print([m for m in {HEAVY!r} if m in sys.modules and m not in ('compress', 'export')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "[]"
