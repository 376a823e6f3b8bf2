"""`evaluate()`: generate outputs for every row, grade them with the same graders used for training,
stream the results, and return a :class:`~rft.eval.Report`.

Before anything is generated, every row is checked against the prompt column and against every
item field the graders' templates read: a row that lacks one is a :class:`~rft.DataError` naming
the row index and the field, so a long run never dies (or silently goes unscored) at row 900.

>>> import rft
>>> rows = [{"prompt": "say yes", "answer": "YES"}, {"prompt": "say no", "answer": "NO"}]
>>> check = rft.StringCheck(name="match", reference="{{item.answer}}")
>>> report = rft.evaluate(lambda prompts: ["YES" for _ in prompts], rows, check, progress=False)
>>> report["match"].mean, report["match"].pass_rate
(0.5, 0.5)
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from rft._errors import ConfigError, DataError
from rft._grade import Grade
from rft._template import Template
from rft.eval._report import ItemResult, Report
from rft.eval._store import ResultStore
from rft.eval._targets import GenerationParams, Outputs, as_target
from rft.graders._base import Grader

__all__ = ["check_rows", "evaluate", "grader_item_fields", "load_graders"]


def load_graders(graders: Any, *, trust_code: bool = False) -> list[Grader]:
    """Graders from one grader, a list (Grader objects, config dicts, files, catalogue names), or a
    ``{name: spec}`` mapping. Names must be unique: they key the results."""
    from rft.graders._registry import load_grader

    if isinstance(graders, (Grader, str, os.PathLike)):
        specs: list[tuple[str | None, Any]] = [(None, graders)]
    elif isinstance(graders, Mapping) and "type" in graders:
        specs = [(None, graders)]
    elif isinstance(graders, Mapping):
        specs = list(graders.items())
    elif isinstance(graders, Sequence):
        specs = [(None, g) for g in graders]
    else:
        raise ConfigError(f"graders must be a grader, a list or a mapping, got {type(graders).__name__}", "graders")
    out: list[Grader] = []
    for i, (name, spec) in enumerate(specs):
        where = f"graders.{name}" if name is not None else f"graders[{i}]"
        try:
            grader = load_grader(spec, trust_code=trust_code)
        except ConfigError as exc:
            raise exc.at(where) from None
        if name is not None and grader.name != name:
            import copy

            grader = copy.copy(grader)
            grader.name = name
        out.append(grader)
    if not out:
        raise ConfigError("no graders given; pass at least one", "graders")
    names = [g.name for g in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"grader names must be unique, {', '.join(map(repr, dupes))} repeats; set name=", "graders")
    return out


def grader_item_fields(grader: Grader) -> list[tuple[str, ...]]:
    """The ``item`` paths a grader's templates read (``("answer",)``, ``("meta", "level")``).

    Found by walking the grader's attributes for compiled :class:`~rft.Template` objects and
    sub-graders; a grader type may instead define ``required_item_fields() -> list[str]``
    (dotted paths without ``item.``).
    """
    found: list[tuple[str, ...]] = []
    seen: set[int] = set()

    def add(path: tuple[str, ...]) -> None:
        if path and path not in found:
            found.append(path)

    def visit(obj: Any, depth: int) -> None:
        if depth > 8 or id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, Template):
            for f in obj.fields:
                if f.startswith("item."):
                    add(tuple(f.split(".")[1:]))
        elif isinstance(obj, Grader):
            hook = getattr(obj, "required_item_fields", None)
            if callable(hook):
                for f in hook():
                    add(tuple(str(f).removeprefix("item.").split(".")))
                return
            for value in vars(obj).values():
                visit(value, depth + 1)
        elif isinstance(obj, Mapping):
            for value in obj.values():
                visit(value, depth + 1)
        elif isinstance(obj, (list, tuple)):
            for value in obj:
                visit(value, depth + 1)

    visit(grader, 0)
    return found


def _check_prompt(value: Any) -> str | None:
    if isinstance(value, str):
        return None
    if isinstance(value, list) and value:
        for k, m in enumerate(value):
            if not isinstance(m, Mapping) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
                return f"message {k} is not {{'role': str, 'content': str}}: {str(m)[:60]}"
        return None
    return f"is {type(value).__name__} {str(value)[:60]!r}; expected a string or a list of chat messages"


def check_rows(
    rows: Sequence[Mapping[str, Any]], graders: Sequence[Grader], *, prompt_field: str | None = "prompt"
) -> None:
    """Raise :class:`~rft.DataError` if any row lacks the prompt or a field a grader reads.

    The message names the row index and the field of the first problems (up to five) and how
    many rows are affected in all.

    >>> import rft
    >>> g = rft.StringCheck(name="m", reference="{{item.answer}}")
    >>> check_rows([{"prompt": "hi", "answer": "x"}, {"prompt": "hi"}], [g])
    Traceback (most recent call last):
    ...
    rft._errors.DataError: row 1: no field 'answer' (grader 'm' reads {{item.answer}}); 1 of 2 rows have problems
    """
    needs = [(g.name, path) for g in graders for path in grader_item_fields(g)]
    problems: list[str] = []
    bad_rows = 0
    for i, row in enumerate(rows):
        row_problems = []
        if not isinstance(row, Mapping):
            row_problems.append(f"row {i}: is {type(row).__name__}, expected a mapping")
        else:
            if prompt_field is not None:
                if prompt_field not in row:
                    row_problems.append(f"row {i}: no prompt field {prompt_field!r} (fields: {', '.join(map(str, row)) or 'none'})")
                else:
                    why = _check_prompt(row[prompt_field])
                    if why:
                        row_problems.append(f"row {i}: field {prompt_field!r} {why}")
            for name, path in needs:
                value: Any = row
                for depth, key in enumerate(path):
                    if isinstance(value, Mapping):
                        if key not in value:
                            where = "no field" if depth == 0 else f"field {'.'.join(path[:depth])!r} has no key"
                            row_problems.append(
                                f"row {i}: {where} {key!r} (grader {name!r} reads {{{{item.{'.'.join(path)}}}}})"
                            )
                            break
                        value = value[key]
                    elif isinstance(value, list) and key.lstrip("-").isdigit() and -len(value) <= int(key) < len(value):
                        value = value[int(key)]
                    else:
                        row_problems.append(
                            f"row {i}: field {'.'.join(path[:depth])!r} is {type(value).__name__}, but grader {name!r} "
                            f"reads {{{{item.{'.'.join(path)}}}}} from it"
                        )
                        break
        if row_problems:
            bad_rows += 1
            problems.extend(row_problems)
    if problems:
        shown = problems[:5]
        more = f" (+{len(problems) - 5} more problems)" if len(problems) > 5 else ""
        raise DataError("; ".join(shown) + more + f"; {bad_rows} of {len(rows)} rows have problems")


def _item_ids(rows: Sequence[Mapping[str, Any]], id_field: str) -> list[Any]:
    ids = [row.get(id_field) for row in rows]
    if ids and all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in ids) and len(set(ids)) == len(ids):
        return ids
    return list(range(len(rows)))


def _fingerprint(
    rows: Sequence[Mapping[str, Any]], graders: Sequence[Grader], target: Mapping[str, Any], **extra: Any
) -> dict[str, Any]:
    digest = hashlib.sha256(json.dumps(list(rows), sort_keys=True, default=repr).encode()).hexdigest()
    return {
        "data_sha256": digest,
        "n_items": len(rows),
        "graders": {g.name: g.to_config() for g in graders},
        "target": {k: v for k, v in target.items() if k != "parameters"},
        **extra,
    }


def evaluate(
    target: Any,
    data: Any,
    graders: Any,
    *,
    samples_per_item: int = 1,
    prompt_field: str = "prompt",
    id_field: str = "id",
    max_new_tokens: int = 128,
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: int | None = 0,
    batch_size: int = 64,
    limit: int | None = None,
    out: str | os.PathLike[str] | None = None,
    resume: bool = True,
    check_fields: bool = True,
    progress: bool = True,
    trust_code: bool = False,
) -> Report:
    """Evaluate ``target`` on ``data`` with ``graders``; return a :class:`~rft.eval.Report`.

    ``target``: a model object, ``(model, tokenizer)``, a local model folder, ``"default"`` (the
    embedded model), ``"openai:MODEL@URL"``, a callable ``prompts -> outputs``, or
    :class:`~rft.eval.Outputs` (precomputed; also a ``.jsonl`` path). ``data``: a JSONL path, a
    list of dicts or a ``datasets.Dataset``; ``prompt_field`` holds a string or chat messages.
    ``graders``: one grader, a list, or ``{name: spec}`` (specs: Grader objects, config dicts,
    YAML/JSON files, catalogue names).

    With ``out=FOLDER`` every grade is appended to ``FOLDER/results.jsonl`` as soon as it exists and
    the report is written atomically to ``FOLDER/report.json``; running the same call again skips
    what is done (``resume=False`` starts over). Generation is batched (``batch_size`` prompts,
    similar lengths together); ``temperature=0`` is greedy. Sampling settings and the seed are
    recorded in ``report.meta``.
    """
    from rft._data import load_rows

    if isinstance(samples_per_item, bool) or not isinstance(samples_per_item, int) or samples_per_item < 1:
        raise ConfigError(f"expected an integer >= 1, got {samples_per_item!r}", "samples_per_item")
    params = GenerationParams(
        max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed, batch_size=batch_size
    )
    rows = load_rows(data)
    if limit is not None:
        rows = rows[:limit]
    grader_list = load_graders(graders, trust_code=trust_code)
    tgt = as_target(target)
    if isinstance(tgt, Outputs):
        tgt.bind(rows)
    if check_fields:
        check_rows(rows, grader_list, prompt_field=None if tgt.precomputed else prompt_field)
    ids = _item_ids(rows, id_field)
    keys = [json.dumps(i) for i in ids]
    counts = [len(tgt.outputs_for(i)) for i in range(len(rows))] if isinstance(tgt, Outputs) else [samples_per_item] * len(rows)
    gen_params = {k: v for k, v in params.to_dict().items() if k != "batch_size"}
    described = tgt.describe()
    fingerprint = _fingerprint(
        rows, grader_list, described, params=None if tgt.precomputed else gen_params,
        samples_per_item=None if tgt.precomputed else samples_per_item, prompt_field=prompt_field,
    )
    store = ResultStore(out, fingerprint=fingerprint, resume=resume) if out is not None else None
    records: dict[tuple[str, int, str], dict[str, Any]] = dict(store.done) if store else {}
    resumed = len(records)
    started = time.perf_counter()
    gen_seconds = 0.0
    gen_tokens = 0
    generated = 0
    try:
        # What is left: (item, sample) pairs with no record at all need an output; pairs whose
        # output exists but that some grader has not graded only need grading.
        to_generate: dict[int, list[int]] = {}
        to_grade: list[tuple[int, int, str, dict[str, Any]]] = []
        for i in range(len(rows)):
            for j in range(counts[i]):
                have = [records.get((keys[i], j, g.name)) for g in grader_list]
                if all(have):
                    continue
                done = next((r for r in have if r), None)
                if done is None:
                    to_generate.setdefault(i, []).append(j)
                else:
                    to_grade.append((i, j, done["output"], done.get("gen") or {}))

        def grade_and_store(pairs: list[tuple[int, int, str, dict[str, Any]]]) -> None:
            if not pairs:
                return
            new: list[dict[str, Any]] = []
            for g in grader_list:
                todo = [p for p in pairs if (keys[p[0]], p[1], g.name) not in records]
                if not todo:
                    continue
                grades = g.grade_batch([p[2] for p in todo], [rows[p[0]] for p in todo])
                for (i, j, output, gen), grade in zip(todo, grades):
                    record = {
                        "key": [keys[i], j, g.name],
                        "index": i,
                        "id": ids[i],
                        "sample": j,
                        "grader": g.name,
                        "output": output,
                        "gen": gen,
                        "grade": grade.to_dict(),
                    }
                    records[(keys[i], j, g.name)] = record
                    new.append(record)
            # Records go out sample by sample so that a kill loses at most one partial line.
            new.sort(key=lambda r: (r["index"], r["sample"]))
            if store:
                store.append(new)

        grade_and_store(to_grade)
        bar = None
        if progress and to_generate:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(to_generate), desc="evaluate", unit="item")
        try:
            # Similar prompt lengths batch together (less padding), longest first so memory peaks early.
            pending = sorted(to_generate)
            if pending and not tgt.precomputed:
                lengths = tgt.prompt_lengths([rows[i][prompt_field] for i in pending])
                order = sorted(range(len(pending)), key=lambda k: -lengths[k])
                pending = [pending[k] for k in order]
            # Group by how many samples are missing (normally all items miss the same number).
            groups: dict[int, list[int]] = {}
            for i in pending:
                groups.setdefault(len(to_generate[i]), []).append(i)
            for n, items in groups.items():
                for start in range(0, len(items), params.batch_size):
                    chunk = items[start : start + params.batch_size]
                    t0 = time.perf_counter()
                    counted = None
                    if isinstance(tgt, Outputs):
                        outs = [[tgt.outputs_for(i)[j] for j in to_generate[i]] for i in chunk]
                    else:
                        outs, counted = tgt.generate_counted([rows[i][prompt_field] for i in chunk], n=n, params=params)
                        if len(outs) != len(chunk) or any(len(o) != n for o in outs):
                            raise ConfigError(f"target returned the wrong number of outputs for {len(chunk)} prompts x {n}", "target")
                    gen_seconds += time.perf_counter() - t0
                    flat = [o for per in outs for o in per]
                    tokens = [t for per in counted for t in per] if counted is not None else None
                    pairs = []
                    for c, i in enumerate(chunk):
                        for m, j in enumerate(to_generate[i]):
                            gen: dict[str, Any] = {}
                            if tokens is not None:
                                gen["tokens"] = tokens[c * n + m]
                                gen_tokens += gen["tokens"]
                            pairs.append((i, j, outs[c][m], gen))
                    generated += len(flat) if not tgt.precomputed else 0
                    grade_and_store(pairs)
                    if bar is not None:
                        bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
        elapsed = time.perf_counter() - started
        items = []
        for i, row in enumerate(rows):
            outputs: list[str] = []
            gens: list[dict[str, Any]] = []
            grades: dict[str, list[Grade]] = {g.name: [] for g in grader_list}
            for j in range(counts[i]):
                first = records[(keys[i], j, grader_list[0].name)]
                outputs.append(first["output"])
                gens.append(first.get("gen") or {})
                for g in grader_list:
                    grades[g.name].append(Grade.from_dict(records[(keys[i], j, g.name)]["grade"]))
            prompt = row.get(prompt_field) if not tgt.precomputed or prompt_field in row else None
            items.append(ItemResult(index=i, id=ids[i], prompt=prompt, outputs=outputs, grades=grades, gen=gens))
        from rft import __version__

        meta = {
            "rft_version": __version__,
            "target": tgt.describe(),
            "params": None if tgt.precomputed else params.to_dict(),
            "samples_per_item": max(counts, default=0),
            "prompt_field": prompt_field,
            "data": os.fspath(data) if isinstance(data, (str, os.PathLike)) else type(data).__name__,
            "n_items": len(rows),
            "graders": {g.name: g.to_config() for g in grader_list},
            "out": os.fspath(out) if out is not None else None,
            "timing": {
                "elapsed_s": round(elapsed, 3),
                "generation_s": round(gen_seconds, 3),
                "generated_samples": generated,
                "output_tokens": gen_tokens,
                "tokens_per_s": round(gen_tokens / gen_seconds, 2) if gen_seconds > 0 and gen_tokens else None,
                "resumed_records": resumed,
            },
        }
        report = Report(items, [g.name for g in grader_list], meta)
        if store:
            store.write_report(report.to_json())
        return report
    finally:
        if store:
            store.close()
