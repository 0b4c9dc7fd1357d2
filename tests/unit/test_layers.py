"""The top-level modules sit below every package (STYLE.md, rule 1). import-linter checks the packages
(pyproject.toml); it reads packages only, so this checks the modules beside them."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = {"identity", "codes", "storefront", "loyalty", "insight"}
WIRING = {"app", "ops", "demo"}  # on top of everything: they may import anything
BOTTOM = [
    "boundary",
    "db",
    "pgfast",
    "errors",
    "jobs",
    "settings",
    "schemas",
    "pagination",
    "security",
    "locale_format",
]


def imported_roots(path: pathlib.Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("module", [m for m in BOTTOM if (ROOT / f"{m}.py").exists()])
def test_top_level_module_imports_no_package_and_no_wiring(module):
    found = imported_roots(ROOT / f"{module}.py") & (PACKAGES | WIRING)
    assert not found, f"{module}.py imports {sorted(found)}: the top-level modules sit below every package"


def test_every_top_level_module_is_placed_in_a_layer():
    modules = {p.stem for p in ROOT.glob("*.py")} - {"gunicorn.conf"}
    assert modules <= set(BOTTOM) | WIRING, f"place {sorted(modules - set(BOTTOM) - WIRING)} in a layer"


def test_the_checker_sees_an_upward_import(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import os\nfrom codes.models import Batch\nimport app\n")
    assert imported_roots(probe) >= {"codes", "app"}
