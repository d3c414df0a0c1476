"""The package layout promises: the core imports no framework, and each adapter only its own."""

from __future__ import annotations

import subprocess
import sys

import cn_embeddings
from tests.conftest import parse_python


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return {m.split(".")[0] for m in out.split()}


def test_core_imports_no_framework():
    loaded = _modules_after("import cn_embeddings, cn_embeddings.testing")
    assert "httpx" in loaded
    assert not loaded & {"langchain_core", "llama_index", "pydantic"}


def test_all_is_sorted_and_complete():
    assert cn_embeddings.__all__ == sorted(cn_embeddings.__all__)
    for name in cn_embeddings.__all__:
        assert hasattr(cn_embeddings, name)


def test_each_adapter_imports_only_its_own_framework():
    langchain = _modules_after("import langchain_cn_embeddings")
    llama = _modules_after("import llama_index_cn_embeddings")
    assert "langchain_core" in langchain and "llama_index" not in langchain
    assert "llama_index" in llama and "langchain_core" not in llama


def test_the_cli_imports_no_framework_until_the_demo_runs():
    loaded = _modules_after("import cn_embeddings.cli, cn_embeddings.ray")
    assert not loaded & {"langchain_core", "llama_index", "pydantic", "pyarrow", "limits", "ray"}


def test_public_names_are_pinned():
    import langchain_cn_embeddings
    import llama_index_cn_embeddings

    assert langchain_cn_embeddings.__all__ == [
        "ArkEmbeddings",
        "QianfanEmbeddings",
        "QianfanRerank",
        "TencentCloudEmbeddings",
        "TencentCloudRerank",
        "TokenHubEmbeddings",
        "VolcengineRerank",
        "init_embeddings",
    ]
    assert llama_index_cn_embeddings.__all__ == [
        "ArkEmbedding",
        "QianfanEmbedding",
        "QianfanRerank",
        "QuotaRateLimiter",
        "TencentCloudEmbedding",
        "TencentCloudRerank",
        "TokenHubEmbedding",
        "VolcengineRerank",
        "init_embeddings",
    ]
    assert "settings" not in dir(cn_embeddings) and not hasattr(cn_embeddings, "clients_from_settings")


def _import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports, at module level or inside functions alike (a lazy
    import is still a dependency); imports for type checkers only are left out."""
    import ast
    import pathlib

    root = pathlib.Path(cn_embeddings.__file__).parent.parent
    files = {}
    for package in ("cn_embeddings", "langchain_cn_embeddings", "llama_index_cn_embeddings"):
        for path in (root / package).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            is_package = parts[-1] == "__init__"
            files[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    graph: dict[str, set[str]] = {}
    for name, (path, is_package) in files.items():
        deps: set[str] = set()
        here = name.split(".") if is_package else name.split(".")[:-1]

        def visit(node, deps=deps, here=here):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                    continue
                if isinstance(child, ast.Import):
                    deps.update(a.name for a in child.names if a.name in files)
                elif isinstance(child, ast.ImportFrom):
                    base = here[: len(here) - child.level + 1] if child.level else []
                    module = ".".join(base + ([child.module] if child.module else []))
                    for alias in child.names:
                        target = f"{module}.{alias.name}"
                        deps.add(target if target in files else module)
                visit(child)

        visit(parse_python(path.read_text(encoding="utf-8")))
        graph[name] = {d for d in deps if d in files and d != name}
    return graph


def test_the_import_graph_has_no_cycle():
    graph = _import_graph()
    assert graph["langchain_cn_embeddings.embeddings"] and graph["cn_embeddings.clients"]  # the walk sees imports
    done: set[str] = set()

    def walk(module, path):
        if module in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(module) :], module]))
        if module not in done:
            for dep in sorted(graph[module]):
                walk(dep, [*path, module])
            done.add(module)

    for module in sorted(graph):
        walk(module, [])
