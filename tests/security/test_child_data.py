"""What a grading child leaves is read as untrusted plain data: every surprise is a reason, never a crash or a hang."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest

from tito.child_data import Budget, ChildDataError, read_observations, read_records


def _observation(folder: Path, number: int, value: bytes, meta: object = None) -> None:
    cell = folder / "observations" / "0"
    cell.mkdir(parents=True, exist_ok=True)
    (cell / f"{number}.npy").write_bytes(value)
    (cell / f"{number}.json").write_text(json.dumps(meta or {"label": "x", "rtol": 0.0, "atol": 0.0}))


def _npy(value: np.ndarray, allow_pickle: bool = False) -> bytes:
    stream = io.BytesIO()
    np.save(stream, value, allow_pickle=allow_pickle)
    return stream.getvalue()


def test_plain_arrays_are_read_in_order(tmp_path: Path) -> None:
    _observation(tmp_path, 0, _npy(np.arange(3, dtype=np.float32)))
    _observation(tmp_path, 1, _npy(np.array(["ShapeError"])), {"label": "y", "rtol": 1e-5, "atol": 0})
    found = read_observations(tmp_path, 0, Budget())
    assert [o.label for o in found] == ["x", "y"]
    assert found[0].value.dtype == np.float32 and found[1].value[0] == "ShapeError"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (_npy(np.array([object()], dtype=object), allow_pickle=True), "not a plain .npy array"),
        (b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (10000000000,), }" + b" " * 53 + b"\n",
         "not a plain .npy array"),
        (b"not numpy at all", "not a plain .npy array"),
        (_npy(np.zeros(2, dtype=[("a", "<f4")])), "not a plain .npy array"),
    ],
    ids=["pickled-object", "header-claims-80-GB", "garbage", "structured"],
)
def test_anything_but_a_plain_array_is_refused(tmp_path: Path, value: bytes, words: str) -> None:
    _observation(tmp_path, 0, value)
    with pytest.raises(ChildDataError, match=words):
        read_observations(tmp_path, 0, Budget())


def test_a_gap_a_link_or_a_bad_label_is_refused(tmp_path: Path) -> None:
    _observation(tmp_path, 1, _npy(np.zeros(1)))
    with pytest.raises(ChildDataError, match="not the ones observe"):
        read_observations(tmp_path, 0, Budget())
    other = tmp_path / "other"
    _observation(other, 0, _npy(np.zeros(1)), {"label": ["not", "text"], "rtol": 0, "atol": 0})
    with pytest.raises(ChildDataError, match="no label"):
        read_observations(other, 0, Budget())
    linked = tmp_path / "linked"
    (linked / "observations").mkdir(parents=True)
    os.symlink("/etc", linked / "observations" / "0")
    with pytest.raises(ChildDataError, match="not a folder"):
        read_observations(linked, 0, Budget())


def test_the_budget_caps_what_one_run_may_make_tito_read(tmp_path: Path) -> None:
    _observation(tmp_path, 0, _npy(np.zeros(1000)))
    with pytest.raises(ChildDataError, match="bytes in all"):
        read_observations(tmp_path, 0, Budget(bytes_left=100))


def test_results_of_any_kind_are_read_without_blocking(tmp_path: Path) -> None:
    good = {"index": 0, "output": "", "error": None, "tampered": []}
    (tmp_path / "ok.jsonl").write_text(json.dumps(good) + "\n" + "[" * 100_000 + "]" * 100_000 + "\n")
    records, why = read_records(tmp_path, "ok.jsonl")
    assert len(records) == 1 and "line 2 is not JSON" in why
    (tmp_path / "bytes.jsonl").write_bytes(b"\xff\xfe\x00\n")
    assert "not JSON" in read_records(tmp_path, "bytes.jsonl")[1]
    os.mkfifo(tmp_path / "fifo.jsonl")  # opening it for reading would block; it is never opened
    assert read_records(tmp_path, "fifo.jsonl") == ([], "fifo.jsonl is not a regular file")
    (tmp_path / "folder.jsonl").mkdir()
    assert "folder.jsonl" in read_records(tmp_path, "folder.jsonl")[1]
    os.symlink("/etc/passwd", tmp_path / "link.jsonl")
    assert "cannot be opened" in read_records(tmp_path, "link.jsonl")[1]
    assert read_records(tmp_path, "missing.jsonl") == ([], "")
