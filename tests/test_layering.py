"""The folders are the architecture: each part loads only what it needs, every import
points down the layers, and no module imports itself by a circle."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("img2vid", "web", "worker")

# Lower layers first; a module may import from its own layer (inside its own part) or
# from a lower one, never from a higher one or a neighbour at its own level.
LAYERS: list[tuple[str, ...]] = [
    ("img2vid", "img2vid.errors"),
    ("img2vid.apitokens", "img2vid.logs", "img2vid.webhook_url"),
    ("img2vid.engine",),
    ("img2vid.job",),
    # The HTTP client for scripts and the CLI: below everything that runs the service,
    # so it can never reach the store, the storage or the settings.
    ("img2vid.client",),
    ("img2vid.settings",),
    ("img2vid.storage",),
    ("img2vid.store",),
    ("img2vid.cli", "web", "worker"),
    ("img2vid.__main__", "img2vid.testing"),
]


def loaded_after(statement: str, tmp_path) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sys.modules))"
    env = {**os.environ, "IMG2VID_DATA_DIR": str(tmp_path)}  # create_app() makes its folders there
    run = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env, cwd=ROOT)
    return set(run.stdout.split())


# --- what each part loads ------------------------------------------------------------


def test_the_engine_loads_no_celery_redis_or_flask(tmp_path):
    mods = loaded_after("import img2vid.engine; from img2vid.engine import encode", tmp_path)
    assert "cv2" in mods and "av" in mods
    assert not {"flask", "celery", "redis", "kombu"} & mods


def test_the_engines_inputs_load_no_opencv(tmp_path):
    # the web side validates with them
    mods = loaded_after(
        "import img2vid.engine.codecs, img2vid.engine.options, img2vid.engine.images, "
        "img2vid.engine.discovery, img2vid.job",
        tmp_path,
    )
    assert not {"cv2", "numpy", "av", "flask", "celery", "redis"} & mods


def test_web_loads_no_opencv_numpy_or_pyav(tmp_path):
    mods = loaded_after("import web; web.create_app()", tmp_path)
    assert "flask" in mods
    assert not {"cv2", "numpy", "av"} & mods


def test_the_worker_loads_no_flask(tmp_path):
    mods = loaded_after("import worker; worker.app; import worker.tasks", tmp_path)
    assert "celery" in mods and "cv2" in mods
    assert "flask" not in mods


def test_the_client_loads_only_the_core(tmp_path):
    # scripts install the core alone: no web, worker, Redis or OpenCV under the client
    mods = loaded_after(
        "import img2vid.client; from img2vid.client import Client; Client('http://127.0.0.1:1')", tmp_path
    )
    assert "httpx" in mods
    assert not {"flask", "celery", "kombu", "redis", "cv2", "av", "numpy", "boto3"} & mods


def test_the_command_line_loads_neither_side(tmp_path):
    mods = loaded_after("import img2vid.cli", tmp_path)
    assert not {"cv2", "numpy", "flask", "celery"} & mods


# --- the import graph ------------------------------------------------------------------


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            found[_module_name(path)] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every module of ours that ``name`` imports, at its top or inside a function:
    ``from a import b`` names module ``a.b`` when there is one, else ``a``."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t in known and t != name)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, set(modules)) for name, path in modules.items()}


def _layer(module: str) -> tuple[int, str]:
    """(layer number, the part it belongs to) for a module: its longest listed prefix."""
    best = None
    for number, parts in enumerate(LAYERS):
        for part in parts:
            if (module == part or module.startswith(part + ".")) and (best is None or len(part) > len(best[1])):
                best = (number, part)
    assert best is not None, f"{module} is in no layer; add it to LAYERS"
    return best


def test_every_import_points_down():
    wrong = []
    for module, imports in _graph().items():
        here, part = _layer(module)
        for target in imports:
            there, other = _layer(target)
            if there > here or (there == here and other != part):
                wrong.append(f"{module} ({part}) imports {target} ({other})")
    assert not wrong, "\n".join(sorted(wrong))


def test_there_is_no_import_circle():
    graph = _graph()
    circles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                circles.append(" -> ".join(path[path.index(target) :] + [target]))
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not circles, "\n".join(circles)


def test_the_import_reader_sees_every_kind_of_import(tmp_path):
    # given two modules that import each other, one of them inside a function
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from . import a\n")
    (pkg / "a.py").write_text("from pkg import b\n")
    (pkg / "b.py").write_text("def f():\n    from .a import x\n")
    names = {"pkg", "pkg.a", "pkg.b"}
    # then the reader finds each edge, relative ones and the one inside a function too
    assert _imports("pkg", pkg / "__init__.py", names) == {"pkg.a"}
    assert _imports("pkg.a", pkg / "a.py", names) == {"pkg.b"}
    assert _imports("pkg.b", pkg / "b.py", names) == {"pkg.a"}
