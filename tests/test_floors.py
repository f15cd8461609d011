"""The floors (README, "Architecture"): core <- backends <- compress <- export <- benchmarks <-
serving <- runner / CLI, checked by import-linter's contracts in pyproject.toml; and the house rules that
keep modules readable: every module on a floor, no function over 40 lines, no module-level import
of an optional backend library outside backends/."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from .conftest import REPO

PACKAGES = ("slimkit", "backends", "compress", "export", "benchmarks", "serving")
# optional extras (onnx, openvino, inc, tensorrt): only backends/ and the stages that use them
# may import these, and only inside functions, so that a missing one fails with its extra's name
OPTIONAL = {"onnxruntime", "onnx", "onnxscript", "onnxconverter_common", "openvino", "nncf",
            "optimum", "neural_compressor", "tensorrt", "fastapi", "uvicorn", "prometheus_client",
            "httpx", "aiohttp", "uvloop", "httptools"}
# torch and transformers are slimkit's own dependencies, but slow to import: at module level
# only in compress/ (PyTorch compression code, loaded by the runner when a stage runs)
FRAMEWORK = {"torch", "transformers"}


def modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (REPO / package).rglob("*.py"))


def contracts() -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10: import-linter's own dependency
        import tomli as tomllib
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]


def test_the_import_contracts_hold():
    code = ("import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(no_cache=True, no_logo=True))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 kept, 0 broken" in out.stdout


def test_every_module_is_on_a_floor():
    config = contracts()
    assert set(config["root_packages"]) == set(PACKAGES)
    [layers] = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    listed = {name.strip() for layer in layers for name in layer.replace("|", ":").split(":")}
    core = {f"slimkit.{p.stem}" for p in (REPO / "slimkit").glob("*.py") if p.stem != "__init__"}
    assert core - listed == set(), "add the new slimkit module to a floor in pyproject.toml"
    top = {p.name for p in REPO.iterdir() if (p / "__init__.py").is_file()} - {"tests"}
    assert top <= set(PACKAGES), "a new top-level package needs a floor"


def test_no_function_is_longer_than_40_lines():
    long = []
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > 40:
                    long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({lines})")
    assert long == []


def module_level_imports(tree: ast.Module) -> set[str]:
    """Top-level names imported outside functions (``if TYPE_CHECKING`` blocks excepted)."""
    found: set[str] = set()
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue  # imported when called
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
        pending.extend(ast.iter_child_nodes(node))
    return found


def test_heavy_libraries_are_imported_inside_the_functions_that_use_them():
    misplaced = []
    for path in modules():
        imported = module_level_imports(ast.parse(path.read_text(encoding="utf-8")))
        allowed = FRAMEWORK if path.parts[-2] == "compress" else set()
        bad = imported & (OPTIONAL | FRAMEWORK) - allowed
        if bad:
            misplaced.append(f"{path.relative_to(REPO)}: {sorted(bad)}")
    assert misplaced == []


def test_the_import_scan_sees_a_module_level_import():
    tree = ast.parse("import onnxruntime\nclass A:\n    def f(self):\n        import nncf\n"
                     "    import optimum\nif True:\n    from torch import nn\n"
                     "def f():\n    import openvino\nif TYPE_CHECKING:\n    import tensorrt\n")
    assert module_level_imports(tree) == {"onnxruntime", "optimum", "torch"}
