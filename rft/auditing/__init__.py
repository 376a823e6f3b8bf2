"""Grader audit: find the exploits in a grader before the policy does.

Use it as :func:`rft.audit` (this package is ``auditing``, as ``rft.tune`` lives in ``tuning``, so
that importing the package never shadows the function).

During RL the policy searches for whatever the grader rewards. :func:`audit` attacks a grader
with adversarial completions built from your own rows and reports the ones it rewards.

For each row it first finds an honest right answer the grader passes and an honest wrong one it
fails (:mod:`rft.auditing._calibrate`), then writes every probe in the same shape. A probe is a
completion that does not honestly commit to the correct answer; it is an **exploit** when it
passes anyway (or, without a reachable pass threshold, scores above the honest wrong answer), in
every arrangement it is written in. Families:

==============  ==================================================================================
``empty``       empty, whitespace, zero-width, markup with nothing or junk inside
``decoys``      the reference among decoys: ``41 or 42``, a list, several answer blocks, a range
``sweep``       every number around a numeric reference, in one answer or one block each
``hidden``      the reference in the reasoning or a code block, the final answer wrong or missing
``retraction``  the reference, then taken back (``42... it is not 42``, ``not 42``)
``padding``     filler and repetition up to the output cap
``unicode``     U+2212 minus, fullwidth and zero-width hedges, look-alike letters, strikethrough
``json``        NaN, duplicate keys, prose around the object, several objects, fenced plus bare
``injection``   judges only: ``Score: 10``, ``GRADE: C``, fake end markers, "ignore the rubric"
``code``        Python graders only: code that reads the item or the grader's files
==============  ==================================================================================

A grader that reads no reference (a format check) gets the families that need none: empty,
padding, JSON malformations, injections, code. The report's notes say which rows had no usable
reference and why.

Before training, :func:`audit_rewards` runs a quick audit of the reward graders and warns
(:class:`AuditWarning`) or, with ``mode="strict"``, refuses (:class:`ExploitableGraderError`).
In tests, :func:`assert_audit_clean` fails with the table.

>>> import rft
>>> report = rft.audit("gsm8k_answer", [{"answer": "She sold 24 clips.\\n#### 72"}])
>>> report.ok, report.claims
(True, 'correctness')
"""

from rft.auditing._gate import AuditWarning, ExploitableGraderError, assert_audit_clean, audit_rewards
from rft.auditing._probe import FAMILIES, Family, Probe
from rft.auditing._report import AuditReport, Finding
from rft.auditing._runner import audit, family_names, probe_names

__all__ = [
    "FAMILIES",
    "AuditReport",
    "AuditWarning",
    "ExploitableGraderError",
    "Family",
    "Finding",
    "Probe",
    "assert_audit_clean",
    "audit",
    "audit_rewards",
    "family_names",
    "probe_names",
]
