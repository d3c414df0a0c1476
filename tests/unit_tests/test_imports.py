"""The package layout promises: the core imports no framework, and each adapter only its own."""

from __future__ import annotations

import subprocess
import sys

import cn_embeddings


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
