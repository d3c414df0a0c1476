"""What users read carries no provenance tags, and every source a comment cites is in the repository."""

from __future__ import annotations

import ast
import io
import pathlib
import re
import tokenize

import cn_embeddings
from tests.conftest import parse_python

ROOT = pathlib.Path(cn_embeddings.__file__).parent.parent
PACKAGES = ("cn_embeddings", "langchain_cn_embeddings", "llama_index_cn_embeddings")
TAG = re.compile(r"\[(?:SEED|INF|DOC|SDK|3P)\b[^\]]*\]")  # "[INF]", also "[INF: why]" and "[INF from ...]"
CITED = re.compile(r"docs/wire-reference\.md((?:,? §[\d.]*\d)*)")


def _sources():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield path, path.read_text(encoding="utf-8")


def _comments(source):
    return [t for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.COMMENT]


def test_no_string_a_user_can_see_carries_a_provenance_tag():
    """Messages, option help and docstrings (help() shows them); comments may carry tags."""
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path, source in _sources()
        for node in ast.walk(parse_python(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and TAG.search(node.value)
    ]
    assert found == []
    assert any(TAG.search(c.string) for _, source in _sources() for c in _comments(source))  # the tags stay in comments


def test_every_cited_section_of_the_wire_reference_exists():
    headings = (ROOT / "docs" / "wire-reference.md").read_text(encoding="utf-8")
    sections = set(re.findall(r"^#+ (\d[\d.]*\d|\d)\b", headings, flags=re.M))
    cited = {
        (path.relative_to(ROOT), number)
        for path, source in _sources()
        for match in CITED.finditer(source)
        for number in re.findall(r"§([\d.]*\d)", match.group(1))
    }
    assert cited, "the code cites the wire reference"
    assert {c for c in cited if c[1] not in sections} == set()


def test_no_comment_or_docstring_cites_a_file_outside_the_repository():
    outside = re.compile(r"VENDORS\.md|STYLE\.md|\.\./shared|seeds/")
    found = [f"{path.relative_to(ROOT)}" for path, source in _sources() if outside.search(source)]
    assert found == []


def test_every_exception_lives_in_the_exceptions_module_and_is_drawn_in_its_tree():
    import importlib
    import inspect
    import pkgutil

    from cn_embeddings import _exceptions

    defined = set()
    for package in PACKAGES:
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, package + "."):
            if info.name.endswith("__main__"):
                continue
            module = importlib.import_module(info.name)
            defined |= {
                (module.__name__, name)
                for name, obj in vars(module).items()
                if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == module.__name__
            }
    assert defined and {module for module, _ in defined} == {"cn_embeddings._exceptions"}
    drawn: dict[str, str] = {}  # name -> the parent it is drawn under
    stack: list[tuple[int, str]] = []
    for line in _exceptions.__doc__.split("::", 1)[1].splitlines():
        match = re.match(r"^(\s*(?:[│ ]*[├└]─ )?)([A-Z]\w+)(?:\s{2,}|$)", line)
        if not match:
            continue
        depth, name = len(match.group(1)), match.group(2)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        drawn[name] = stack[-1][1] if stack else "Exception"
        stack.append((depth, name))
    assert set(drawn) == {name for _, name in defined}
    for name, parent in drawn.items():  # and drawn where it sits
        assert getattr(_exceptions, name).__mro__[1].__name__ == parent, name
