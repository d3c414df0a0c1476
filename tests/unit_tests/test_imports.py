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

    assert langchain_cn_embeddings.__all__ == ["ArkEmbeddings", "QianfanEmbeddings", "QianfanRerank",
                                               "TencentCloudEmbeddings", "TencentCloudRerank", "TokenHubEmbeddings",
                                               "VolcengineRerank", "init_embeddings"]
    assert llama_index_cn_embeddings.__all__ == ["ArkEmbedding", "QianfanEmbedding", "QianfanRerank",
                                                 "TencentCloudEmbedding", "TencentCloudRerank", "TokenHubEmbedding",
                                                 "VolcengineRerank", "init_embeddings"]
    assert "settings" not in dir(cn_embeddings) and not hasattr(cn_embeddings, "clients_from_settings")
