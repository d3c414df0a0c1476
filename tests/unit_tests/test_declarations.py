"""The option declarations are the one source of truth; everything written out for type checkers
equals them: both frameworks' fields, the core clients' keywords and the CLI flags."""

from __future__ import annotations

import argparse
import inspect
import os
import re
import subprocess
import sys
import textwrap
import typing

import pytest
from pydantic import SecretStr

import langchain_cn_embeddings as lc
import llama_index_cn_embeddings as li
from cn_embeddings import _keywords
from cn_embeddings.cli import add_option_flags, build_parser, cli_options
from cn_embeddings.clients import CLIENTS, credentials_of, options_of
from cn_embeddings.rerankers import RERANK_CLIENTS, RERANKERS, rerank_options_of

EMBEDDINGS = {
    "tencent": (lc.TencentCloudEmbeddings, li.TencentCloudEmbedding),
    "qianfan": (lc.QianfanEmbeddings, li.QianfanEmbedding),
    "ark": (lc.ArkEmbeddings, li.ArkEmbedding),
    "tokenhub": (lc.TokenHubEmbeddings, li.TokenHubEmbedding),
}
RERANK = {
    "qianfan": (lc.QianfanRerank, li.QianfanRerank),
    "tencent": (lc.TencentCloudRerank, li.TencentCloudRerank),
    "volcengine": (lc.VolcengineRerank, li.VolcengineRerank),
}
KEYWORDS = {
    CLIENTS["tencent"]: _keywords.TencentKeywords,
    CLIENTS["qianfan"]: _keywords.QianfanKeywords,
    CLIENTS["ark"]: _keywords.ArkKeywords,
    CLIENTS["tokenhub"]: _keywords.TokenHubKeywords,
    RERANK_CLIENTS["qianfan"]: _keywords.QianfanRerankKeywords,
    RERANK_CLIENTS["tencent"]: _keywords.TencentRerankKeywords,
    RERANK_CLIENTS["volcengine"]: _keywords.VolcengineRerankKeywords,
}


def _cases():
    for vendor, classes in EMBEDDINGS.items():
        for cls in classes:
            yield pytest.param(cls, options_of(vendor), credentials_of(vendor), id=cls.__module__ + "." + cls.__name__)
    for vendor, classes in RERANK.items():
        for cls in classes:
            yield pytest.param(
                cls, rerank_options_of(vendor), RERANKERS[vendor].credentials, id=cls.__module__ + "." + cls.__name__
            )


def _words(text):
    return " ".join(text.split())


def test_the_typed_spellings_are_what_the_declarations_give():
    """The keywords, the framework fields and the typed __init__s are generated (scripts/spellings.py)."""
    from scripts.spellings import rendered

    stale = [path.name for path, text in rendered().items() if path.read_text(encoding="utf-8") != text]
    assert stale == [], "run python scripts/spellings.py"


@pytest.mark.parametrize(("cls", "specs", "credentials"), list(_cases()))
def test_every_framework_field_equals_its_declaration(cls, specs, credentials):
    """What pydantic made of the generated fields: types, defaults, help and aliases."""
    model_field = "model_name" if cls.__module__.startswith("llama_index") else "model"
    fields = cls.model_fields
    for spec in specs:
        name = model_field if spec.name == "model" else spec.name
        field = fields[name]
        assert field.annotation == spec.type, name
        assert field.get_default(call_default_factory=True) == spec.default, name
        assert _words(field.description or "") == _words(spec.help), name
        names = set(dict.fromkeys((name, spec.name, *spec.aliases)))
        choices = set(field.validation_alias.choices) if field.validation_alias else {name}
        assert choices == names, name
    for cred in credentials:
        field = fields[cred.name]
        assert field.annotation == SecretStr | None and field.exclude and not field.repr, cred.name


@pytest.mark.parametrize(("cls", "specs", "credentials"), list(_cases()))
def test_credentials_come_from_their_aliases_and_environment(cls, specs, credentials, monkeypatch):
    for cred in credentials:
        monkeypatch.setenv(cred.env, f"env-{cred.name}")
    obj = cls()
    for cred in credentials:
        assert getattr(obj, cred.name).get_secret_value() == f"env-{cred.name}"
        for alias in cred.aliases:
            assert getattr(cls(**{alias: "given"}), cred.name).get_secret_value() == "given"


@pytest.mark.parametrize(("client", "keywords"), list(KEYWORDS.items()), ids=lambda v: getattr(v, "__name__", ""))
def test_core_client_signatures_equal_the_declarations(client, keywords):
    """What help() shows at run time, and the keywords a type checker sees."""
    vendor = client.vendor
    if client in RERANK_CLIENTS.values():
        specs, credentials = rerank_options_of(vendor), RERANKERS[vendor].credentials
    else:
        specs, credentials = options_of(vendor), credentials_of(vendor)
    hints = typing.get_type_hints(keywords)
    assert set(hints) == {s.name for s in specs if s.name != "model"} | {c.name for c in credentials}
    signature = inspect.signature(client)
    assert {name: p.default for name, p in signature.parameters.items() if name in hints} == {
        **{c.name: None for c in credentials},
        **{s.name: s.default for s in specs if s.name != "model"},
    }


@pytest.mark.parametrize("kind", ["embeddings", "rerank"])
def test_every_cli_flag_equals_its_declaration(kind):
    flags = add_option_flags(argparse.ArgumentParser(), kind)
    specs = cli_options(kind)
    assert set(flags) == set(specs)
    for name, spec in specs.items():
        flag = flags[name]
        assert flag.option_strings[0] == "--" + name.replace("_", "-")
        assert flag.default is None  # 'not given': the declared default applies
        assert flag.help == f"{spec.help} (default: {spec.default!r})"
    command = "rerank" if kind == "rerank" else "embed"
    args = vars(build_parser().parse_args(_minimal(command)))  # the command's parser has them all
    assert {name: args[name] for name in specs} == dict.fromkeys(specs)


def _minimal(command):
    return [command, "--provider", "qianfan", "--input", "x.txt"] + (
        ["--query", "q"] if command == "rerank" else ["--output", "y.jsonl"]
    )


@pytest.mark.slow  # mypy in a subprocess: about 40 s
def test_a_type_checker_flags_exactly_the_misspelled_and_mistyped_lines(tmp_path):
    """What a user's mypy run sees, from outside the repository (so through py.typed)."""
    user = tmp_path / "user_code.py"
    user.write_text(
        textwrap.dedent("""\
        from cn_embeddings import ArkClient, QianfanRerankClient
        from langchain_cn_embeddings import ArkEmbeddings, VolcengineRerank
        from llama_index_cn_embeddings import QianfanEmbedding

        ArkClient(api_key="k", dimensions=1024, long_inputs="split")
        ArkClient(dimensoins=1024)
        ArkEmbeddings(modle="x")
        QianfanEmbedding(timeout="slow")
        ArkEmbeddings(dimensions=1024, long_inputs="cut")
        QianfanRerankClient(top=3)
        VolcengineRerank(region="cn-beijing", instruction="be brief")
        dims: int | None = ArkEmbeddings(dimensions=1024).dimensions
        """)
    )
    env = {k: v for k, v in os.environ.items() if k != "MYPYPATH"}
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--strict", "--no-error-summary", str(user)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    flagged = sorted({int(line.split(":")[1]) for line in run.stdout.splitlines() if ": error:" in line})
    assert flagged == [6, 7, 8, 9, 10], run.stdout


@pytest.mark.parametrize("command", [None, "demo", "embed", "rerank", "check", "emulator"])
def test_every_command_line_flag_has_help_text(command, capsys):
    """Read off ``--help`` as a user sees it: every option line carries text, on its line or the next."""
    from cn_embeddings.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args([*([command] if command else []), "--help"])
    lines = capsys.readouterr().out.splitlines()
    option = re.compile(r"^  (-\S.*?)(?:\s{2,}(\S.*))?$")
    missing = []
    for i, line in enumerate(lines):
        found = option.match(line)
        if not found or found.group(1).startswith("-h, --help"):
            continue
        follows = lines[i + 1] if i + 1 < len(lines) else ""
        has_text_below = follows.startswith(" " * 8) and not follows.strip().startswith("-")
        if not found.group(2) and not has_text_below:
            missing.append(found.group(1))
    assert missing == [], f"flags without help in {command or 'cn-embeddings'}: {missing}"
