"""JSONL reading/writing, row loading, output alignment, and the example datasets in data/."""

from __future__ import annotations

import importlib.util
import json
import math
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rft import DataError
from rft._catalogue import list_catalogue
from rft._data import align_outputs, data_dir, load_rows, read_jsonl, read_jsonl_values, write_jsonl

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"


def _file(tmp_path: Path, content: bytes | str, name: str = "rows.jsonl") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


# ---------------------------------------------------------------------------------------------
# read_jsonl

GOOD = [
    pytest.param('{"a": 1}\n{"a": 2}\n', [{"a": 1}, {"a": 2}], id="plain"),
    pytest.param('{"a": 1}\n\n   \n{"a": 2}', [{"a": 1}, {"a": 2}], id="blank-lines-skipped-no-final-newline"),
    pytest.param('\ufeff{"a": 1}\n', [{"a": 1}], id="utf8-bom-ignored"),
    pytest.param('{"q": "caf\u00e9 \u00d7 \u2713"}\r\n', [{"q": "caf\u00e9 \u00d7 \u2713"}], id="non-ascii-and-crlf"),
    pytest.param("", [], id="empty-file"),
]


@pytest.mark.parametrize("content, rows", GOOD)
def test_read_jsonl_accepts(tmp_path, content, rows):
    assert read_jsonl(_file(tmp_path, content)) == rows


BAD = [
    # (content, line number the error must name, words it must contain, why)
    pytest.param('{"a": 1}\n{"a": 2\n{"a": 3}\n', 2, "not valid JSON", id="truncated-object-line-2"),
    pytest.param('{"a": 1}\n\n[1, 2]\n', 3, "expected a JSON object", id="array-line-3-counting-blank"),
    pytest.param('"just a string"\n', 1, "expected a JSON object", id="string-line"),
    pytest.param('{"a": 1}\n42\n', 2, "expected a JSON object", id="number-line"),
    pytest.param(b'{"a": 1}\n{"a": "\xff"}\n', 2, "not UTF-8", id="invalid-utf8"),
    pytest.param("{'a': 1}\n", 1, "not valid JSON", id="python-dict-quotes"),
]


@pytest.mark.parametrize("content, line, words", BAD)
def test_read_jsonl_names_file_and_line(tmp_path, content, line, words):
    path = _file(tmp_path, content)
    with pytest.raises(DataError) as info:
        read_jsonl(path)
    message = str(info.value)
    assert f"{path}:{line}:" in message
    assert words in message


TORN = [
    # (content, tolerate, expected rows or None for DataError, why)
    pytest.param('{"a": 1}\n{"a": 2}', True, [{"a": 1}, {"a": 2}], id="last-line-complete-without-newline"),
    pytest.param('{"a": 1}\n{"a": ', True, [{"a": 1}], id="torn-tail-dropped-when-tolerated"),
    pytest.param('{"a": 1}\n{"a": ', False, None, id="torn-tail-is-an-error-by-default"),
    pytest.param('{"a": 1}\n{"a": \n', True, None, id="broken-line-with-newline-is-corruption-not-tearing"),
    pytest.param('{"a": \n{"a": 1}', True, None, id="broken-middle-line-never-tolerated"),
    pytest.param(b'{"a": 1}\n{"a": "\xe2\x9c', True, [{"a": 1}], id="torn-inside-a-utf8-character"),
]


@pytest.mark.parametrize("content, tolerate, rows", TORN)
def test_torn_tail(tmp_path, content, tolerate, rows):
    path = _file(tmp_path, content)
    if rows is None:
        with pytest.raises(DataError):
            read_jsonl(path, tolerate_torn_tail=tolerate)
    else:
        assert read_jsonl(path, tolerate_torn_tail=tolerate) == rows


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_jsonl(tmp_path / "absent.jsonl")


def test_read_jsonl_values_accepts_strings(tmp_path):
    path = _file(tmp_path, '"<answer>4</answer>"\n{"output": "4"}\n')
    assert read_jsonl_values(path) == ["<answer>4</answer>", {"output": "4"}]


# ---------------------------------------------------------------------------------------------
# write_jsonl


def test_write_then_read_round_trips_and_keeps_unicode(tmp_path):
    rows = [{"q": "2 \u00d7 3?", "prompt": [{"role": "user", "content": "hi"}]}, {"n": None, "x": 1.5}]
    path = tmp_path / "sub" / "dir" / "out.jsonl"  # parents are created
    write_jsonl(path, rows)
    assert read_jsonl(path) == rows
    assert "\u00d7" in path.read_text(encoding="utf-8")  # not \u-escaped


def test_write_append(tmp_path):
    path = tmp_path / "out.jsonl"
    write_jsonl(path, [{"a": 1}])
    write_jsonl(path, [{"a": 2}], append=True)
    assert read_jsonl(path) == [{"a": 1}, {"a": 2}]


@pytest.mark.parametrize(
    "bad, words",
    [
        pytest.param(math.nan, "row 1", id="nan-has-no-json-spelling"),
        pytest.param(math.inf, "row 1", id="inf-has-no-json-spelling"),
        pytest.param(object(), "convert it to plain types", id="unserialisable-object"),
    ],
)
def test_write_refuses_what_json_cannot_hold(tmp_path, bad, words):
    path = tmp_path / "out.jsonl"
    with pytest.raises(DataError, match=words):
        write_jsonl(path, [{"ok": 1}, {"score": bad}])
    assert not path.exists()  # nothing half-written


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.dictionaries(st.text(), _json_values, max_size=5), max_size=5))
def test_property_write_read_round_trip(rows):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rows.jsonl"
        write_jsonl(path, rows)
        assert read_jsonl(path) == rows


# ---------------------------------------------------------------------------------------------
# load_rows


def test_load_rows_from_jsonl_and_json_paths(tmp_path):
    rows = [{"answer": "4"}, {"answer": "5"}]
    write_jsonl(tmp_path / "r.jsonl", rows)
    (tmp_path / "r.json").write_text(json.dumps(rows), encoding="utf-8")
    assert load_rows(tmp_path / "r.jsonl") == rows
    assert load_rows(str(tmp_path / "r.json")) == rows


@pytest.mark.parametrize(
    "data, words",
    [
        pytest.param([{"a": 1}, ["not", "a", "row"]], "row 1 is list", id="non-mapping-row-named"),
        pytest.param({"a": 1}, "single mapping", id="one-dict-instead-of-rows"),
        pytest.param(42, "cannot read rows from int", id="unsupported-type"),
    ],
)
def test_load_rows_rejects(data, words):
    with pytest.raises(DataError, match=words):
        load_rows(data)


def test_load_rows_json_file_must_hold_a_list(tmp_path):
    path = tmp_path / "r.json"
    path.write_text('{"a": 1}', encoding="utf-8")
    with pytest.raises(DataError, match="list of objects"):
        load_rows(path)


def test_load_rows_from_a_datasets_dataset_and_dict():
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_list([{"question": "2+2?", "answer": "4"}, {"question": "3+3?", "answer": "6"}])
    assert load_rows(ds) == [{"question": "2+2?", "answer": "4"}, {"question": "3+3?", "answer": "6"}]
    with pytest.raises(DataError, match=r"pass one split, e.g. data\['train'\]"):
        load_rows(datasets.DatasetDict({"train": ds}))


def test_load_rows_from_a_dataframe():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"answer": ["4", "6"]})
    assert load_rows(frame) == [{"answer": "4"}, {"answer": "6"}]


# ---------------------------------------------------------------------------------------------
# align_outputs

ROWS = [{"id": "a", "answer": "1"}, {"id": "b", "answer": "2"}]


def test_align_by_id_allows_several_outputs_per_row_in_any_order():
    outputs = [{"id": "b", "output": "x"}, {"id": "a", "output": "y"}, {"id": "b", "output": "z"}]
    samples, items, ids = align_outputs(ROWS, outputs)
    assert samples == ["x", "y", "z"]
    assert [item["answer"] for item in items] == ["2", "1", "2"]
    assert ids == ["b", "a", "b"]


def test_align_by_line_when_outputs_are_strings():
    samples, items, ids = align_outputs(ROWS, ["x", "y"])
    assert samples == ["x", "y"] and items == ROWS and ids == ["a", "b"]


def test_align_by_line_when_rows_have_no_ids():
    rows = [{"answer": "1"}, {"answer": "2"}]
    _, items, ids = align_outputs(rows, [{"output": "x"}, {"output": "y"}])
    assert items == rows and ids == [0, 1]


def test_align_passes_structured_outputs_through():
    chat = [{"role": "assistant", "content": "<answer>1</answer>"}]
    samples, _, _ = align_outputs(ROWS[:1], [{"id": "a", "completion": chat}], field="completion")
    assert samples == [chat]


@pytest.mark.parametrize(
    "rows, outputs, words",
    [
        pytest.param(ROWS, [{"id": "c", "output": "x"}], "output 0 has id 'c', which no dataset row has",
                     id="unknown-id"),
        pytest.param(ROWS + [{"id": "a", "answer": "9"}], [{"id": "a", "output": "x"}], "share id 'a'",
                     id="duplicate-row-ids"),
        pytest.param(ROWS, ["only one"], "1 outputs for 2 dataset rows", id="count-mismatch-by-line"),
        pytest.param(ROWS, [{"id": "a", "text": "x"}], "no field 'output' (fields: id, text); pass --output-field",
                     id="missing-output-field"),
        pytest.param(ROWS, [42, 43], "output 0 is int", id="output-neither-string-nor-object"),
    ],
)
def test_align_errors(rows, outputs, words):
    with pytest.raises(DataError) as info:
        align_outputs(rows, outputs)
    assert words in str(info.value)


def test_one_output_without_an_id_is_an_error_naming_its_line(tmp_path):
    """Issue 8 item 6: reversed outputs with one id deleted were paired line by line (mean 0.0, not 0.6)."""
    rows = [{"id": f"r{i}", "answer": str(i)} for i in range(5)]
    outputs = [{"id": f"r{i}", "output": str(i)} for i in reversed(range(5))]
    del outputs[2]["id"]
    path = tmp_path / "outputs.jsonl"
    lines = [json.dumps(o) for o in outputs]
    path.write_text("\n".join(lines[:2]) + "\n\n" + "\n".join(lines[2:]) + "\n")
    with pytest.raises(DataError) as info:
        align_outputs(rows, read_jsonl_values(path), source=str(path))
    message = str(info.value)
    assert f"{path}:4:" in message  # the blank line counts: the id-less output is on line 4
    assert "no 'id'" in message and "4 of 5 outputs have one" in message


@pytest.mark.parametrize(
    "rows, outputs, words",
    [
        pytest.param(ROWS, [{"id": "a", "output": "x"}, "y"], "output 1 has no 'id'",
                     id="a-plain-string-among-outputs-with-ids"),
        pytest.param([{"id": "a"}, {"answer": "2"}], [{"id": "a", "output": "x"}, {"id": "b", "output": "y"}],
                     "row 1 has no 'id'", id="a-row-without-id-when-outputs-join-by-id"),
        pytest.param([{"answer": "1"}, {"answer": "2"}], [{"id": "a", "output": "x"}, {"id": "b", "output": "y"}],
                     "the rows have none", id="outputs-with-ids-rows-without"),
        pytest.param(ROWS + [{"id": "c", "answer": "3"}], [{"id": "a", "output": "x"}, {"id": "b", "output": "y"}],
                     "row 2 (id 'c') has no output in outputs (1 of 3 dataset rows have none)",
                     id="a-row-without-output-by-id"),
        pytest.param([], ["x"], "no dataset rows", id="no-rows"),
    ],
)
def test_align_refuses_to_guess(rows, outputs, words):
    with pytest.raises(DataError) as info:
        align_outputs(rows, outputs)
    assert words in str(info.value)


def test_read_jsonl_remembers_line_numbers(tmp_path):
    path = _file(tmp_path, '{"a": 1}\n\n{"a": 2}\n')
    assert read_jsonl(path).line_numbers == [1, 3]
    assert read_jsonl_values(path).line_numbers == [1, 3]


# ---------------------------------------------------------------------------------------------
# The example datasets

DATASETS = ["arithmetic", "json_extraction", "format_following"]


def test_data_dir_finds_the_repository_data(monkeypatch):
    monkeypatch.delenv("RFT_DATA_PATH", raising=False)
    assert data_dir() == DATA
    monkeypatch.setenv("RFT_DATA_PATH", "/somewhere/else")
    assert data_dir() == Path("/somewhere/else")


@pytest.mark.parametrize("name", DATASETS)
def test_dataset_ids_unique_and_sample_outputs_cover_every_row(name):
    rows = read_jsonl(DATA / f"{name}.jsonl")
    outputs = read_jsonl(DATA / "sample_outputs" / f"{name}.jsonl")
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids))
    assert sorted(o["id"] for o in outputs) == sorted(ids)
    assert all(isinstance(o["output"], str) and isinstance(o["kind"], str) for o in outputs)
    for row in rows:
        prompt = row["prompt"]
        assert isinstance(prompt, list) and prompt[-1]["role"] == "user" and prompt[-1]["content"]


def test_arithmetic_answers_are_right_and_splits_sized():
    rows = read_jsonl(DATA / "arithmetic.jsonl")
    assert sum(r["split"] == "train" for r in rows) >= 64
    assert sum(r["split"] == "eval" for r in rows) >= 32
    for row in rows:
        m = re.fullmatch(r"What is (\d+) ([+\-\u00d7]) (\d+)\?", row["question"])
        assert m, row["question"]
        a, op, b = int(m.group(1)), m.group(2), int(m.group(3))
        value = a + b if op == "+" else a - b if op == "-" else a * b
        assert row["answer"] == str(value), row
        assert row["question"] in row["prompt"][0]["content"] and "<answer>" in row["prompt"][0]["content"]
    train = {r["question"] for r in rows if r["split"] == "train"}
    assert not train & {r["question"] for r in rows if r["split"] == "eval"}  # held out means held out


def test_json_extraction_expected_objects_satisfy_their_schema_and_text():
    jsonschema = pytest.importorskip("jsonschema")
    for row in read_jsonl(DATA / "json_extraction.jsonl"):
        jsonschema.validate(row["expected"], row["schema"], format_checker=jsonschema.FormatChecker())
        assert row["name"] in row["text"] and row["email"] in row["text"]
        assert row["expected"]["name"] == row["name"] and row["expected"]["email"] == row["email"]


def test_format_following_names_catalogue_graders():
    catalogue = set(list_catalogue())
    for row in read_jsonl(DATA / "format_following.jsonl"):
        assert row["grader"] in catalogue
        assert row["instruction"] in row["prompt"][0]["content"]


def test_build_data_reproduces_the_committed_files(tmp_path):
    spec = importlib.util.spec_from_file_location("build_data", DATA / "build_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    made = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.jsonl"))
    names = {str(p) for p in made}
    assert {f"{d}.jsonl" for d in DATASETS} | {f"sample_outputs/{d}.jsonl" for d in DATASETS} <= names
    demo = {"tune_contacts_train.jsonl", "tune_orders_eval.jsonl", "guard_knowledge_replay.jsonl"}
    assert demo <= names
    for rel in made:
        same = (tmp_path / rel).read_bytes() == (DATA / rel).read_bytes()
        assert same, f"data/{rel} differs: rerun data/build_data.py"
