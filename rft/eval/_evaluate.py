"""`evaluate()`: generate outputs for every row, grade them with the same graders used for training,
stream the results, and return a :class:`~rft.eval.Report`.

Before anything is generated, every row is checked against the prompt column and against every
item field the graders' templates read (:func:`rft.eval.check_rows`): a row that lacks one is a
:class:`~rft.DataError` naming the row index and the field, so a long run never dies (or silently
goes unscored) at row 900.

What an interruption costs: with ``out=``, every grade is appended to ``results.jsonl`` as soon as
its generation batch is graded, so Ctrl-C or a kill loses only the batch in flight: at most
``batch_size`` prompts (times ``samples_per_item``). The first batches are smaller (8, 16, 32, ...
prompts, doubling up to ``batch_size``), so a run stopped early keeps its first results.

>>> import rft
>>> rows = [{"prompt": "say yes", "answer": "YES"}, {"prompt": "say no", "answer": "NO"}]
>>> check = rft.StringCheck(name="match", reference="{{item.answer}}")
>>> report = rft.evaluate(lambda prompts: ["YES" for _ in prompts], rows, check, progress=False)
>>> report["match"].mean, report["match"].pass_rate
(0.5, 0.5)
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

from rft import __version__
from rft._data import load_rows
from rft._errors import ConfigError
from rft._grade import Grade
from rft.eval._checks import check_rows
from rft.eval._fingerprint import grader_fingerprint
from rft.eval._report import ItemResult, Report
from rft.eval._store import ResultStore
from rft.eval._targets import GenerationParams, Outputs, Target, as_target
from rft.graders._base import Grader
from rft.graders._registry import load_grader

__all__ = ["evaluate", "load_graders"]

#: Prompts in the first generation batch; later batches double up to ``batch_size``.
FIRST_BATCH = 8


def load_graders(graders: Any, *, trust_code: bool = False) -> list[Grader]:
    """Graders from one grader, a list (Grader objects, config dicts, files, catalogue names), or a
    ``{name: spec}`` mapping. Names must be unique: they key the results."""
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
        "graders": {g.name: grader_fingerprint(g) for g in graders},
        "target": {k: v for k, v in target.items() if k != "parameters"},
        **extra,
    }


def _batches(items: Sequence[int], batch_size: int, *, ramp: bool) -> Iterator[list[int]]:
    """``items`` in batches of ``batch_size``; with ``ramp`` the first ones are smaller (8, 16, ...)."""
    size = min(FIRST_BATCH, batch_size) if ramp else batch_size
    start = 0
    while start < len(items):
        yield list(items[start : start + size])
        start += size
        size = min(batch_size, size * 2)


class _Pair(NamedTuple):
    """One (item, sample) to grade: the text recorded, the value graded, generation metadata."""

    item: int
    sample: int
    output: str
    graded: Any
    gen: dict[str, Any]


class _Run:
    """One evaluation: what is done (records), what is left, and the phases that finish it."""

    def __init__(
        self,
        rows: list[dict[str, Any]],
        graders: list[Grader],
        target: Target,
        params: GenerationParams,
        *,
        ids: list[Any],
        counts: list[int],
        prompt_field: str,
        store: ResultStore | None,
    ):
        self.rows, self.graders, self.target, self.params = rows, graders, target, params
        self.ids, self.counts, self.prompt_field, self.store = ids, counts, prompt_field, store
        self.keys = [json.dumps(i) for i in ids]
        self.records: dict[tuple[str, int, str], dict[str, Any]] = dict(store.done) if store else {}
        self.resumed = len(self.records)
        self.gen_seconds = 0.0
        self.gen_tokens = 0
        self.generated = 0

    def _graded_value(self, i: int, j: int, output: str) -> Any:
        # Precomputed outputs are graded as given (chat messages, sample dicts with tools ...).
        return self.target.samples_for(i)[j] if isinstance(self.target, Outputs) else output

    def plan(self) -> tuple[dict[int, list[int]], list[_Pair]]:
        """What is left: samples with no record need an output; samples that some grader has not
        graded yet only need grading."""
        to_generate: dict[int, list[int]] = {}
        to_grade: list[_Pair] = []
        for i in range(len(self.rows)):
            for j in range(self.counts[i]):
                have = [self.records.get((self.keys[i], j, g.name)) for g in self.graders]
                if all(have):
                    continue
                done = next((r for r in have if r), None)
                if done is None:
                    to_generate.setdefault(i, []).append(j)
                else:
                    output = done["output"]
                    to_grade.append(_Pair(i, j, output, self._graded_value(i, j, output), done.get("gen") or {}))
        return to_generate, to_grade

    def grade_and_store(self, pairs: Sequence[_Pair]) -> None:
        new: list[dict[str, Any]] = []
        for g in self.graders:
            todo = [p for p in pairs if (self.keys[p.item], p.sample, g.name) not in self.records]
            if not todo:
                continue
            grades = g.grade_batch([p.graded for p in todo], [self.rows[p.item] for p in todo])
            for p, grade in zip(todo, grades):
                record = {
                    "key": [self.keys[p.item], p.sample, g.name],
                    "index": p.item,
                    "id": self.ids[p.item],
                    "sample": p.sample,
                    "grader": g.name,
                    "output": p.output,
                    "gen": p.gen,
                    "grade": grade.to_dict(),
                }
                self.records[(self.keys[p.item], p.sample, g.name)] = record
                new.append(record)
        # Records go out sample by sample so that a kill loses at most one partial line.
        new.sort(key=lambda r: (r["index"], r["sample"]))
        if self.store:
            self.store.append(new)

    def _outputs(self, chunk: list[int], wanted: dict[int, list[int]], n: int) -> list[_Pair]:
        tgt = self.target
        t0 = time.perf_counter()
        counted = None
        if isinstance(tgt, Outputs):
            outs = [[tgt.outputs_for(i)[j] for j in wanted[i]] for i in chunk]
        else:
            prompts = [self.rows[i][self.prompt_field] for i in chunk]
            outs, counted = tgt.generate_counted(prompts, n=n, params=self.params)
            if len(outs) != len(chunk) or any(len(o) != n for o in outs):
                raise ConfigError(
                    f"target returned the wrong number of outputs for {len(chunk)} prompts x {n}", "target"
                )
            self.generated += len(chunk) * n
        self.gen_seconds += time.perf_counter() - t0
        pairs = []
        for c, i in enumerate(chunk):
            for m, j in enumerate(wanted[i]):
                gen: dict[str, Any] = {}
                if counted is not None:
                    gen["tokens"] = counted[c][m]
                    self.gen_tokens += gen["tokens"]
                pairs.append(_Pair(i, j, outs[c][m], self._graded_value(i, j, outs[c][m]), gen))
        return pairs

    def generate(self, wanted: dict[int, list[int]], *, progress: bool) -> None:
        """Generate (or read) the missing outputs batch by batch, grading and storing each batch."""
        tgt = self.target
        # Similar prompt lengths batch together (less padding), longest first so memory peaks early.
        pending = sorted(wanted)
        if pending and not tgt.precomputed:
            lengths = tgt.prompt_lengths([self.rows[i][self.prompt_field] for i in pending])
            order = sorted(range(len(pending)), key=lambda k: -lengths[k])
            pending = [pending[k] for k in order]
        # Group by how many samples are missing (normally all items miss the same number).
        groups: dict[int, list[int]] = {}
        for i in pending:
            groups.setdefault(len(wanted[i]), []).append(i)
        bar = None
        if progress and wanted:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(wanted), desc="evaluate", unit="item")
        try:
            for n, items in groups.items():
                for chunk in _batches(items, self.params.batch_size, ramp=not tgt.precomputed):
                    self.grade_and_store(self._outputs(chunk, wanted, n))
                    if bar is not None:
                        bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()

    def report(self, meta: dict[str, Any]) -> Report:
        items = []
        for i, row in enumerate(self.rows):
            outputs: list[str] = []
            gens: list[dict[str, Any]] = []
            grades: dict[str, list[Grade]] = {g.name: [] for g in self.graders}
            for j in range(self.counts[i]):
                first = self.records[(self.keys[i], j, self.graders[0].name)]
                outputs.append(first["output"])
                gens.append(first.get("gen") or {})
                for g in self.graders:
                    grades[g.name].append(Grade.from_dict(self.records[(self.keys[i], j, g.name)]["grade"]))
            prompt = row.get(self.prompt_field) if not self.target.precomputed or self.prompt_field in row else None
            items.append(ItemResult(index=i, id=self.ids[i], prompt=prompt, outputs=outputs, grades=grades, gen=gens))
        return Report(items, [g.name for g in self.graders], meta)

    def interrupted(self) -> None:
        """Say what an interruption kept (stderr), so that the user knows to run again."""
        if self.store is None:
            return
        total = sum(self.counts) * len(self.graders)
        print(
            f"rft.evaluate: interrupted; {len(self.records)} of {total} grades are saved in "
            f"{self.store.results_path}; run the same evaluation again to resume (the batch in flight, at most "
            f"{self.params.batch_size} prompts, is redone)",
            file=sys.stderr,
        )


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
    YAML/JSON files, catalogue names). Python graders around any callable work (lambdas,
    closures, notebook functions): see :func:`rft.eval.grader_fingerprint`.

    With ``out=FOLDER`` every grade is appended to ``FOLDER/results.jsonl`` as soon as its batch
    is graded and the report is written atomically to ``FOLDER/report.json``; running the same
    call again skips what is done (``resume=False`` starts over). An interruption loses at most
    the generation batch in flight (``batch_size`` prompts; the first batches are smaller). A
    folder holding another run (other data, graders, grader code, target or sampling) is refused.
    Generation is batched (similar lengths together); ``temperature=0`` is greedy. Sampling
    settings and the seed are recorded in ``report.meta``.
    """
    if isinstance(samples_per_item, bool) or not isinstance(samples_per_item, int) or samples_per_item < 1:
        raise ConfigError(f"expected an integer >= 1, got {samples_per_item!r}", "samples_per_item")
    params = GenerationParams(
        max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed, batch_size=batch_size
    )
    source = os.fspath(data) if isinstance(data, (str, os.PathLike)) else None
    rows = load_rows(data)
    if limit is not None:
        rows = rows[:limit]
    grader_list = load_graders(graders, trust_code=trust_code)
    tgt = as_target(target)
    # Prompts are always checked (generation needs them); check_fields=False skips the graders' fields.
    check_rows(
        rows, grader_list if check_fields else (), prompt_field=None if tgt.precomputed else prompt_field, source=source
    )
    if isinstance(tgt, Outputs):
        tgt.bind(rows, rows_source=source or "rows")
    ids = _item_ids(rows, id_field)
    if isinstance(tgt, Outputs):
        counts = [len(tgt.outputs_for(i)) for i in range(len(rows))]
    else:
        counts = [samples_per_item] * len(rows)
    gen_params = {k: v for k, v in params.to_dict().items() if k != "batch_size"}
    fingerprint = _fingerprint(
        rows, grader_list, tgt.describe(), params=None if tgt.precomputed else gen_params,
        samples_per_item=None if tgt.precomputed else samples_per_item, prompt_field=prompt_field,
    )
    store = ResultStore(out, fingerprint=fingerprint, resume=resume) if out is not None else None
    run = _Run(rows, grader_list, tgt, params, ids=ids, counts=counts, prompt_field=prompt_field, store=store)
    return _execute(run, store, progress=progress, data=data, out=out, fingerprint=fingerprint)


def _execute(
    run: _Run, store: ResultStore | None, *, progress: bool, data: Any, out: Any, fingerprint: Mapping[str, Any]
) -> Report:
    """Grade what was generated but not graded, generate and grade the rest, and write the report;
    the store is closed at the end, also on an interruption (which keeps every finished batch)."""
    started = time.perf_counter()
    try:
        to_generate, to_grade = run.plan()
        try:
            run.grade_and_store(to_grade)
            run.generate(to_generate, progress=progress)
        except KeyboardInterrupt:
            run.interrupted()
            raise
        report = run.report(_meta(run, data, out, fingerprint, elapsed=time.perf_counter() - started))
        if store:
            store.write_report(report.to_json())
        return report
    finally:
        if store:
            store.close()


def _meta(run: _Run, data: Any, out: Any, fingerprint: Mapping[str, Any], *, elapsed: float) -> dict[str, Any]:
    tgt = run.target
    return {
        "rft_version": __version__,
        "target": tgt.describe(),
        "params": None if tgt.precomputed else run.params.to_dict(),
        "samples_per_item": max(run.counts, default=0),
        "prompt_field": run.prompt_field,
        "data": os.fspath(data) if isinstance(data, (str, os.PathLike)) else type(data).__name__,
        "n_items": len(run.rows),
        "graders": dict(fingerprint["graders"]),
        "out": os.fspath(out) if out is not None else None,
        "timing": {
            "elapsed_s": round(elapsed, 3),
            "generation_s": round(run.gen_seconds, 3),
            "generated_samples": run.generated,
            "output_tokens": run.gen_tokens,
            "tokens_per_s": (
                round(run.gen_tokens / run.gen_seconds, 2) if run.gen_seconds > 0 and run.gen_tokens else None
            ),
            "resumed_records": run.resumed,
        },
    }
