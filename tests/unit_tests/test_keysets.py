"""The bulk job's compact id sets agree with a dict and a Counter, across many sorted runs."""

from __future__ import annotations

import random

import pytest

from cn_embeddings.bulk import keysets
from cn_embeddings.bulk.keysets import InputIds, OutputIds, prefix


@pytest.fixture(autouse=True)
def small_runs(monkeypatch):
    monkeypatch.setattr(keysets, "RUN", 97)  # many runs to merge, as at a million rows


def _key(rng: random.Random) -> int:
    return rng.randrange(-(1 << 63), 1 << 63)


def test_output_ids_find_every_id_and_tell_its_content_and_columns():
    rng = random.Random(7)
    written = {_key(rng): (_key(rng), rng.choice([0, _key(rng) | 1])) for _ in range(5000)}
    ids = OutputIds((key, digest, columns) for key, (digest, columns) in written.items())
    assert len(ids) == 5000 and ids.nbytes == 16 * 5000
    assert OutputIds(((k, d, c) for k, (d, c) in written.items()), columns=False).nbytes == 12 * 5000
    for key, (digest, columns) in written.items():
        assert key in ids and not ids.holds_other_content(key, digest)
        assert ids.holds_other_content(key, digest ^ 1)
    for _ in range(2000):
        absent = _key(rng)
        assert (absent in ids) == (absent in written) and not ids.holds_other_content(absent, 0)


def test_output_ids_compare_an_update_and_name_the_rows_no_input_named():
    rng = random.Random(9)
    written = {_key(rng): (_key(rng), _key(rng) | 1) for _ in range(3000)}
    ids = OutputIds((key, digest, columns) for key, (digest, columns) in written.items())
    keys = list(written)
    expected = {}
    for key in keys[:2500]:  # the last 500 are never compared: the rows an input no longer names
        digest, columns = written[key]
        case = rng.choice(["same", "content", "columns"])
        if case == "content":
            digest ^= 1 << 40  # a difference in the kept 32 bits
            digest ^= 1
        elif case == "columns":
            columns ^= 2
        expected[key] = case
        assert ids.compare(key, digest, columns) == case
    assert ids.compare(_key(rng), 0, 1) == "new"
    assert ids.unseen() == set(keys[2500:])
    legacy = OutputIds([(5, 6, 0)])  # columns not recorded (an earlier version's row): rewritten
    assert legacy.compare(5, 6, 123) == "columns"


def test_input_ids_group_every_id_with_its_count_and_flags():
    rng = random.Random(11)
    pool = [_key(rng) for _ in range(3000)]
    records = [(rng.choice(pool), rng.random() < 0.1, rng.random() < 0.5) for _ in range(4000)]
    records += [(-(1 << 63), False, False), ((1 << 63) - 1, True, False), ((1 << 63) - 1, False, True)]
    ids = InputIds()
    expected: dict[int, list] = {}
    for key, given, written in records:
        ids.add(key, given, written)
        entry = expected.setdefault(prefix(key), [0, False, False])
        entry[0] += 1
        entry[1] |= given
        entry[2] |= written
    groups = list(ids.groups())
    assert [g[0] for g in groups] == sorted(expected)  # one group per id, in order
    assert {g[0]: [g[1], g[2], g[3]] for g in groups} == expected
