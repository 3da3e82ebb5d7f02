"""Imports flow one way: errors, dates <- config <- formats <- lake <-
datasets <- graph <- runs <- cli. These tests read the source, so a wrong
import fails here before it tangles the package."""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "etl_targets"

#: module -> layer; a module may import etl_targets modules of its layer or below.
LAYERS = {
    "errors": 0, "dates": 0,
    "config": 1,
    "formats": 2,
    "lake": 3,
    "datasets": 4,
    "graph": 5,
    "runs": 6,
    "cli": 7, "__main__": 7, "__init__": 7,
}
#: modules that must never import luigi or pandas (they are below the graph).
LUIGI_FREE = ("errors", "dates", "formats", "lake.storage", "lake.layout", "lake.context",
              "datasets", "runs.records")


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        yield ".".join(parts), parts[0], path


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            if node.module == "etl_targets":
                yield from (f"etl_targets.{alias.name}" for alias in node.names)


@pytest.mark.parametrize("name,top,path", list(_modules()), ids=lambda v: str(v))
def test_module_imports_only_its_layer_or_below(name, top, path):
    own = LAYERS[top]
    for imported in _imports(path):
        parts = imported.split(".")
        if parts[0] != "etl_targets" or len(parts) < 2 or parts[1] == top:
            continue
        assert LAYERS[parts[1]] <= own, f"{name} imports {imported} from a higher layer"


def _luigi_free(name):
    return any(name == free or name.startswith(free + ".") for free in LUIGI_FREE)


@pytest.mark.parametrize("name,top,path", [m for m in _modules() if _luigi_free(m[0])],
                         ids=lambda v: str(v))
def test_lower_layers_never_import_luigi_or_pandas(name, top, path):
    for imported in _imports(path):
        assert imported.split(".")[0] not in ("luigi", "pandas"), f"{name} imports {imported}"


@pytest.mark.parametrize("path", sorted((PACKAGE / "datasets" / "samples").glob("*.py")),
                         ids=lambda p: p.name)
def test_sample_generators_import_only_each_other_from_the_package(path):
    for imported in _imports(path):
        if imported.startswith("etl_targets"):
            assert imported.startswith("etl_targets.datasets.samples"), f"{path.name}: {imported}"
