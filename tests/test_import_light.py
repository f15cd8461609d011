import subprocess
import sys

HEAVY = ("torch", "transformers", "onnxruntime", "openvino", "tensorrt", "compress", "export")


def test_import_slimkit_loads_no_heavy_module():
    code = ("import sys, slimkit, slimkit.cli, slimkit.recipe, slimkit.stage, slimkit.data;"
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
