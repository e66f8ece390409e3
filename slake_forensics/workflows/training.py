"""Training exercises: check a trainee's answers against the answer keys of the lake in use.

This is the one module outside the tests that reads answer keys (``<lake>/answers/<story>.json``,
format in ``slake_forensics/sample/ANSWER_KEY.md``).  Analysis code never does.

Trainee::

    ex = Exercise(lake_root)                  # a generated lake folder (or a LocalLake)
    ex.questions                              # id, stage, story, text, how it is compared
    ex.check("s3_leaked_key", "AKIA…")        # a printable Result; never raises for a wrong answer
    ex.progress()                             # the latest result of every question checked

Instructor: ``python -m slake_forensics training-lakes --out DIR --trainees N --seed S`` writes
one lake per trainee (:func:`make_training_lakes`), each from its own seed, and prints a roster.

Every question is answered by computing with the toolkit; the feedback of a wrong answer says
what is off (how many values, earlier or later, too high or too low) and where to look, never
the expected value.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from slake_forensics.core.errors import SlakeError

TIME_TOLERANCE = pd.Timedelta(minutes=5)
DURATION_TOLERANCE = pd.Timedelta(minutes=10)
NUMBER_TOLERANCE = 0.05
ROSTER_NAME = "roster.csv"
RULES = ("set", "subset", "superset", "time", "duration", "number")
_COMPARE = {
    "set": "the same set of values (order, case and blanks ignored)",
    "subset": "one or more values, every one of them right",
    "superset": "every right value, with at most {tol} extra",
    "time": "a UTC time within ±{tol} of the right one",
    "duration": "a duration within ±{tol} of the right one (a number counts as hours)",
    "number": "a number within ±{tol:.0%} of the right one",
}


class TrainingError(SlakeError, FileNotFoundError):
    """The lake has no answer keys (it was not made by the sample generator)."""


@dataclass(frozen=True)
class Question:
    """One exercise question (an entry of :data:`QUESTIONS`).

    Attributes
    ----------
    id, text
        The question's id and wording.
    stage
        A NIST stage (one of :data:`slake_forensics.analysis.hunts.STAGES`).
    story
        The answer key it is checked against (``"*"``: every story's, united; None: the lake's
        ``generation.json``).
    field
        The expected value (see :func:`expected_value`).
    rule
        How an answer is compared: one of :data:`RULES`.
    kind
        How values are normalized before comparing (``access_key``, ``ip``, ``domain``,
        ``bucket``, ``instance``, ``account``, ``identity``).
    tolerance
        A Timedelta (times, durations), a fraction (numbers) or the number of extra values
        allowed (superset).
    tip
        Where to look, shown after a wrong answer.

    Examples
    --------
    >>> from slake_forensics.workflows.training import QUESTIONS
    >>> q = QUESTIONS[0]
    >>> q.id, q.stage, q.rule
    ('lake_accounts', 'preparation', 'set')
    """

    id: str
    stage: str
    story: str | None
    text: str
    field: str
    rule: str
    kind: str = ""
    tolerance: Any = None
    tip: str = ""

    @property
    def compare(self) -> str:
        """How an answer is compared, in words.

        Returns
        -------
        str
            The rule with its tolerance.

        Examples
        --------
        >>> from slake_forensics.workflows.training import QUESTIONS
        >>> {q.id: q for q in QUESTIONS}["s3_first_malicious"].compare
        'a UTC time within ±5 min of the right one'
        """
        tol = self.tolerance
        if isinstance(tol, pd.Timedelta):
            tol = _words(tol)
        return _COMPARE[self.rule].format(tol=tol)


QUESTIONS: tuple[Question, ...] = (
    Question("lake_accounts", "preparation", None,
             "Which AWS accounts does this lake hold logs for? (Know your scope before you hunt.)",
             "accounts", "set", "account",
             tip="lake.sources() lists the accounts per source; take the union of the AWS account ids "
                 "(12 digits: a custom source's 'external' is not an account)."),
    Question("s3_leaked_key", "detection_analysis", "s3_data_access",
             "S3 data-access incident: which access key was leaked and used by the attacker?",
             "leaked_keys", "set", "access_key",
             tip="Start from the high-severity findings (hunt findings_high_severity), then look at the "
                 "CloudTrail calls around them: actor.user.credential_uid names the key used."),
    Question("s3_attacker_ips", "detection_analysis", "s3_data_access",
             "S3 data-access incident: which source IP addresses did the attacker use?",
             "ips", "set", "ip",
             tip="Pivot on the leaked key (lake.pivot(access_key=…)) and collect src_ip; compare with "
                 "lake.new_for_principal for the key's owner."),
    Question("s3_first_malicious", "detection_analysis", "s3_data_access",
             "S3 data-access incident: when did the first malicious event happen (UTC)?",
             "first_malicious", "time", tolerance=TIME_TOLERANCE,
             tip="The earliest event by the attacker in any source, often before the first finding: look "
                 "back from the finding along the key and the attacker IPs."),
    Question("s3_detection", "detection_analysis", "s3_data_access",
             "S3 data-access incident: when did the first finding about it arrive (UTC)?",
             "detection", "time", tolerance=TIME_TOLERANCE,
             tip="Security Hub findings (sh_findings) that name the key, the bucket or the attacker IPs; "
                 "take the earliest time_dt."),
    Question("s3_bucket", "detection_analysis", "s3_data_access",
             "S3 data-access incident: which bucket(s) did the attacker read from?",
             "buckets", "set", "bucket",
             tip="S3 data events (s3_data) by the leaked key: the bucket is the part of target before '/'."),
    Question("s3_bytes_exfiltrated", "detection_analysis", "s3_data_access",
             "S3 data-access incident: how many bytes did the attacker download?",
             "metrics.bytes_exfiltrated", "number", tolerance=NUMBER_TOLERANCE,
             tip="Sum bytes transferred out (unmapped additionalEventData.bytesTransferredOut) of the "
                 "attacker's successful GetObject calls; the s3_bulk_download hunt sums per hour."),
    Question("mining_instance", "detection_analysis", "ec2_cryptomining",
             "Cryptomining incident: which EC2 instance(s) were compromised?",
             "instances", "subset", "instance",
             tip="Route 53 queries to mining pools (hunt dns_mining_pools) carry the asking instance in "
                 "src_endpoint.instance_uid; VPC flow shows its traffic."),
    Question("mining_domains", "detection_analysis", "ec2_cryptomining",
             "Cryptomining incident: which malicious domains (mining pools, the miner's download site) did the "
             "instance resolve?",
             "domains", "superset", "domain", tolerance=2,
             tip="Route 53 queries from the compromised instance; the hunt dns_mining_pools lists known "
                 "pool names, but look for names that are new for that instance too."),
    Question("mining_stolen_key", "detection_analysis", "ec2_cryptomining",
             "Cryptomining incident: which access key (the instance role's session key) was stolen and used "
             "outside AWS?",
             "leaked_keys", "set", "access_key",
             tip="GuardDuty's InstanceCredentialExfiltration finding, and the hunt "
                 "instance_credentials_outside_aws: actor.user.credential_uid of calls from a non-AWS address."),
    Question("mining_first_malicious", "detection_analysis", "ec2_cryptomining",
             "Cryptomining incident: when did the first malicious event happen (UTC)?",
             "first_malicious", "time", tolerance=TIME_TOLERANCE,
             tip="How did the attacker get in? Look before the first pool query: API calls, new "
                 "instances or security-group changes around the instance."),
    Question("s3_containment", "containment_eradication_recovery", "s3_data_access",
             "S3 data-access incident: when was the first containment action taken (UTC)?",
             "containment", "time", tolerance=TIME_TOLERANCE,
             tip="The hunt containment_actions lists deactivated keys, deny policies and the like."),
    Question("mining_containment", "containment_eradication_recovery", "ec2_cryptomining",
             "Cryptomining incident: when was the first containment action taken (UTC)?",
             "containment", "time", tolerance=TIME_TOLERANCE,
             tip="The hunt containment_actions: instance stopped, isolated, or its role removed."),
    Question("persistence", "containment_eradication_recovery", "*",
             "Which persistence did the attackers create (IAM users, access keys, login profiles)? "
             "Name each by its user name or key id.",
             "persistence", "set", "identity",
             tip="Hunt iam_persistence_created, then persistence_not_removed to see what is still there."),
    Question("s3_dwell_time", "post_incident", "s3_data_access",
             "S3 data-access incident: what was the dwell time (detection − first malicious event)?",
             "dwell_time", "duration", tolerance=DURATION_TOLERANCE,
             tip="Bookmark the first malicious event (tag 'malicious') and the detecting finding (tag "
                 "'detection') in your case; report.incident_metrics(case) computes it."),
    Question("mining_time_to_contain", "post_incident", "ec2_cryptomining",
             "Cryptomining incident: how long did containment take after detection?",
             "time_to_contain", "duration", tolerance=DURATION_TOLERANCE,
             tip="Bookmark the containment action (tag 'containment') and the detection; "
                 "report.incident_metrics(case) computes time_to_contain."),
)


@dataclass(frozen=True)
class Result:
    """The outcome of one :meth:`Exercise.check`; printing it gives one readable paragraph.

    Attributes
    ----------
    question_id
        The question checked.
    ok
        Whether the answer is right (also the Result's truth value).
    message
        What was found (never the expected value).
    hint
        Where to look, after a wrong answer.

    Examples
    --------
    >>> from slake_forensics.workflows.training import Result
    >>> print(Result("s3_bucket", False, "1 of your 2 value(s) are right.", "Look at s3_data."))
    ❌ not yet [s3_bucket] 1 of your 2 value(s) are right.
       hint: Look at s3_data.
    """

    question_id: str
    ok: bool
    message: str
    hint: str = ""

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        mark = "✅ correct" if self.ok else "❌ not yet"
        text = f"{mark} [{self.question_id}] {self.message}"
        return text + (f"\n   hint: {self.hint}" if self.hint and not self.ok else "")

    __repr__ = __str__


# ---- expected values ---------------------------------------------------------------------------


def _time(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _persistence_values(key: Mapping[str, Any]) -> list[str]:
    return [str(p["value"]) if isinstance(p, Mapping) else str(p) for p in key.get("persistence") or []]


def expected_value(question: Question, keys: Mapping[str, Mapping[str, Any]], generation: Mapping[str, Any]) -> Any:
    """The expected answer of ``question`` from the answer keys and the lake's ``generation.json``.

    ``field`` is an answer-key field, ``metrics.<name>``, or a derived value: ``leaked_keys``
    (access keys not created as persistence; all of them when every key is), ``persistence``,
    ``dwell_time`` (detection − first_malicious), ``time_to_contain`` (containment −
    detection), ``accounts`` (of ``generation.json``).  Stories ``"*"`` unite list fields across
    every key.

    Parameters
    ----------
    question
        The question.
    keys
        The answer keys, ``{story: key}``.
    generation
        The lake's ``generation.json``.

    Returns
    -------
    object
        The value (a list, Timestamp, Timedelta or number), or None when this lake does not
        provide it.

    Examples
    --------
    >>> from slake_forensics.workflows.training import QUESTIONS, expected_value
    >>> q = {q.id: q for q in QUESTIONS}["s3_dwell_time"]
    >>> key = {"first_malicious": "2026-03-04T02:13:27Z", "detection": "2026-03-04T09:41:05Z"}
    >>> str(expected_value(q, {"s3_data_access": key}, {}))
    '0 days 07:27:38'
    >>> expected_value(q, {}, {}) is None
    True
    """
    if question.story is None:
        return generation.get(question.field) or None
    stories = list(keys.values()) if question.story == "*" else [keys[question.story]] if question.story in keys else []
    if not stories:
        return None
    if question.story == "*":
        return sorted({v for key in stories for v in _field(key, question.field) or []}) or None
    return _field(stories[0], question.field)


def _field(key: Mapping[str, Any], name: str) -> Any:
    """One derived or stored value of one answer key (``None`` when absent)."""
    try:
        if name == "leaked_keys":
            created = {v.upper() for v in _persistence_values(key)}
            keys = list(key.get("access_keys") or [])
            return [k for k in keys if k.upper() not in created] or keys or None
        if name == "persistence":
            return _persistence_values(key) or None
        if name == "dwell_time":
            return _time(key["detection"]) - _time(key["first_malicious"])
        if name == "time_to_contain":
            return _time(key["containment"]) - _time(key["detection"])
        if name.startswith("metrics."):
            return (key.get("metrics") or {}).get(name.split(".", 1)[1])
        value = key.get(name)
        return _time(value) if name in ("first_malicious", "last_malicious", "detection", "containment") and value else value or None
    except (KeyError, TypeError, ValueError):
        return None


# ---- normalizing answers -----------------------------------------------------------------------


def _norm(kind: str, value: Any) -> str:
    """One value in the form it is compared in (see :class:`Question` ``kind``)."""
    v = str(value).strip()
    if kind == "ip":
        try:
            return str(ipaddress.ip_address(v))
        except ValueError:
            return v.lower()
    if kind == "domain":
        return v.lower().rstrip(".")
    if kind == "bucket":
        return v.removeprefix("s3://").removeprefix("arn:aws:s3:::").rstrip("/").lower()
    if kind == "identity" and v.lower().startswith("arn:"):
        return v.rsplit("/", 1)[-1].lower()
    return v.lower()


def _values(kind: str, answer: Any) -> set[str]:
    """A set answer as normalized values: text is split on commas, semicolons and blanks; lists,
    sets, arrays, Series and Index give their items.  Raises ``TypeError`` for anything else."""
    if isinstance(answer, str):
        items: Iterable[Any] = re.split(r"[\s,;]+", answer)
    elif isinstance(answer, pd.DataFrame):
        raise TypeError("give the values as a list or a column (a Series), not a whole DataFrame")
    elif isinstance(answer, list | tuple | set | frozenset | np.ndarray | pd.Series | pd.Index):
        items = list(answer)
    else:
        raise TypeError(f"give a list of values or comma-separated text, not {type(answer).__name__}")
    return {_norm(kind, v) for v in items if v is not None and not (isinstance(v, float) and np.isnan(v)) and str(v).strip()}


def _scalar(answer: Any) -> Any:
    """A one-item list, array or Series unwrapped to its item."""
    if isinstance(answer, list | tuple | np.ndarray | pd.Series | pd.Index) and len(answer) == 1:
        return answer[0] if not isinstance(answer, pd.Series) else answer.iloc[0]
    return answer


def _as_time(answer: Any) -> pd.Timestamp:
    answer = _scalar(answer)
    if not isinstance(answer, str | dt.datetime | dt.date | pd.Timestamp | np.datetime64):
        raise TypeError(f"give a time (ISO-8601 text or a Timestamp), not {type(answer).__name__}")
    ts = pd.Timestamp(answer)
    if ts is pd.NaT:
        raise ValueError("the time is empty (NaT)")
    return _time(ts)


def _as_duration(answer: Any) -> pd.Timedelta:
    answer = _scalar(answer)
    if isinstance(answer, bool):
        raise TypeError("give a duration, not True/False")
    if isinstance(answer, int | float | np.integer | np.floating):
        return pd.Timedelta(hours=float(answer))
    if not isinstance(answer, str | dt.timedelta | pd.Timedelta | np.timedelta64):
        raise TypeError(f"give a duration ('3h 20min', a Timedelta, or hours as a number), not {type(answer).__name__}")
    td = pd.Timedelta(answer)
    if td is pd.NaT:
        raise ValueError("the duration is empty (NaT)")
    return td


def _as_number(answer: Any) -> float:
    answer = _scalar(answer)
    if isinstance(answer, bool) or not isinstance(answer, int | float | str | np.integer | np.floating):
        raise TypeError(f"give a number, not {type(answer).__name__}")
    value = float(str(answer).replace(",", "").replace("_", "")) if isinstance(answer, str) else float(answer)
    if not np.isfinite(value):
        raise ValueError("the number is not finite")
    return value


def _words(td: pd.Timedelta) -> str:
    minutes = int(td.total_seconds() // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes / 60:g} h"


# ---- comparing ---------------------------------------------------------------------------------


def _compare(q: Question, expected: Any, answer: Any) -> tuple[bool, str]:
    """``(ok, message)`` for one answer; the message never contains the expected value."""
    if q.rule in ("set", "subset", "superset"):
        want = {_norm(q.kind, v) for v in (expected if isinstance(expected, list | tuple | set) else [expected])}
        got = _values(q.kind, answer)
        if not got:
            return False, "your answer holds no values."
        right, wrong, missing = got & want, got - want, want - got
        if q.rule == "subset":
            if not wrong:
                return True, f"all {len(got)} value(s) are right."
            return False, f"{len(wrong)} of your {len(got)} value(s) are not right; give only values you can show."
        if q.rule == "superset":
            if not missing and len(wrong) <= q.tolerance:
                return True, f"every right value is there ({len(wrong)} extra)."
            parts = [f"{len(missing)} right value(s) are missing"] if missing else []
            parts += [f"{len(wrong)} extra value(s) is more than the {q.tolerance} allowed"] if len(wrong) > q.tolerance else []
            return False, "; ".join(parts) + "."
        if not wrong and not missing:
            return True, f"all {len(want)} value(s) match."
        parts = [f"{len(right)} of your {len(got)} value(s) are right"]
        parts += [f"{len(wrong)} are not"] if wrong else []
        parts += [f"{len(missing)} more are missing"] if missing else []
        return False, ", ".join(parts) + "."
    if q.rule == "time":
        delta = _as_time(answer) - expected
        if abs(delta) <= q.tolerance:
            return True, f"within {_words(q.tolerance)}."
        side = "earlier" if delta < pd.Timedelta(0) else "later"
        return False, f"your time is {side} than the right one by more than {_words(q.tolerance)}."
    if q.rule == "duration":
        delta = _as_duration(answer) - expected
        if abs(delta) <= q.tolerance:
            return True, f"within {_words(q.tolerance)}."
        side = "short" if delta < pd.Timedelta(0) else "long"
        return False, f"your duration is too {side} by more than {_words(q.tolerance)}."
    value, want_n = _as_number(answer), float(expected)
    if abs(value - want_n) <= q.tolerance * abs(want_n):
        return True, f"within {q.tolerance:.0%}."
    side = "low" if value < want_n else "high"
    return False, f"your number is too {side} by more than {q.tolerance:.0%}."


# ---- the exercise ------------------------------------------------------------------------------


def _root(lake_root: Any) -> Path:
    """The lake folder of a path or a local lake (``LocalLake.root``)."""
    root = lake_root if isinstance(lake_root, str | os.PathLike) else getattr(lake_root, "root", None)
    if not isinstance(root, str | os.PathLike):
        raise TypeError(f"Exercise needs a lake folder (path or Lake.local/Lake.sample), not {type(lake_root).__name__}.")
    return Path(root).expanduser()


class Exercise:
    """The exercise over one generated lake: its questions and a checker for answers.

    Parameters
    ----------
    lake_root
        The lake's folder (``str``/``Path``) or a local lake (``Lake.local(…)``,
        ``Lake.sample()``); its ``answers/*.json`` are read once.

    Raises
    ------
    TrainingError
        When the folder has no answer keys.
    TypeError
        When ``lake_root`` is neither a path nor a local lake.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> from slake_forensics.workflows.training import Exercise
    >>> ex = Exercise(sf.Lake.sample())
    >>> len(ex.questions), bool(ex.questions["available"].all())
    (16, True)
    """

    def __init__(self, lake_root: str | os.PathLike[str] | Any) -> None:
        self.root = _root(lake_root)
        folder = self.root / "answers"
        files = sorted(folder.glob("*.json")) if folder.is_dir() else []
        if not files:
            raise TrainingError(f"{self.root} has no answer keys ({folder}/*.json): exercises need a lake made by "
                                "`python -m slake_forensics sample` or `training-lakes`.")
        self._keys = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in files}
        gen = self.root / "generation.json"
        self._generation = json.loads(gen.read_text(encoding="utf-8")) if gen.exists() else {}
        self._by_id = {q.id: q for q in QUESTIONS}
        self._results: dict[str, Result] = {}

    def __repr__(self) -> str:
        return f"Exercise({str(self.root)!r}, {len(self._by_id)} questions, stories {sorted(self._keys)})"

    @property
    def questions(self) -> pd.DataFrame:
        """The exercise's questions, for the trainee.

        Returns
        -------
        pandas.DataFrame
            One row per question: ``id, stage, story, text, compare`` (how it is compared, in words)
            and ``available`` (False when this lake's answer keys do not cover the question).

        Examples
        --------
        >>> import slake_forensics as sf
        >>> from slake_forensics.workflows.training import Exercise
        >>> Exercise(sf.Lake.sample()).questions[["id", "stage", "available"]].head(2)
                      id               stage  available
        0  lake_accounts         preparation       True
        1  s3_leaked_key  detection_analysis       True
        """
        rows = [{"id": q.id, "stage": q.stage, "story": q.story, "text": q.text, "compare": q.compare,
                 "available": self._expected(q) is not None} for q in QUESTIONS]
        return pd.DataFrame(rows, columns=["id", "stage", "story", "text", "compare", "available"])

    def question(self, question_id: str) -> Question:
        """One question by id.

        Parameters
        ----------
        question_id
            The question's id (see :attr:`questions`).

        Returns
        -------
        Question
            The question.

        Raises
        ------
        KeyError
            When there is no such question; the message lists the ids.

        Examples
        --------
        >>> import slake_forensics as sf
        >>> from slake_forensics.workflows.training import Exercise
        >>> Exercise(sf.Lake.sample()).question("s3_bucket").compare
        'the same set of values (order, case and blanks ignored)'
        """
        try:
            return self._by_id[question_id]
        except KeyError:
            raise KeyError(f"No question {question_id!r}; questions: {', '.join(self._by_id)}.") from None

    def _expected(self, q: Question) -> Any:
        return expected_value(q, self._keys, self._generation)

    def check(self, question_id: str, answer: Any) -> Result:
        """Check an answer to one question.

        Never raises for the answer itself: a missing (None), unreadable or wrong answer gives
        ``ok=False`` with a message and a hint.  The latest result per question is kept for
        :meth:`progress`.

        Parameters
        ----------
        question_id
            The question's id.
        answer
            The trainee's answer: values as a list, a column or comma-separated text; a time as
            ISO-8601 text or a Timestamp; a duration as text, a Timedelta or hours; a number.

        Returns
        -------
        Result
            ``ok``, ``message`` and, after a wrong answer, ``hint``.

        Raises
        ------
        KeyError
            When ``question_id`` is unknown.

        Examples
        --------
        >>> import slake_forensics as sf
        >>> from slake_forensics.workflows.training import Exercise
        >>> lake = sf.Lake.sample()
        >>> ex = Exercise(lake)
        >>> print(ex.check("lake_accounts", ["946492358841"]))
        ❌ not yet [lake_accounts] 1 of your 1 value(s) are right, 4 more are missing.
           hint: lake.sources() lists the accounts per source; take the union of the AWS account ids (12 digits: a custom source's 'external' is not an account).
        >>> accounts = sorted({a for accts in lake.sources()["accounts"] for a in accts if a.isdigit()})
        >>> bool(ex.check("lake_accounts", accounts))
        True
        """
        q = self.question(question_id)
        expected = self._expected(q)
        if expected is None:
            result = Result(q.id, False, "this lake's answer keys do not cover this question; ask your instructor.")
        elif answer is None:
            result = Result(q.id, False, "no answer yet: compute it in the cell above.", q.tip)
        else:
            try:
                ok, message = _compare(q, expected, answer)
            except (TypeError, ValueError, OverflowError) as exc:
                ok, message = False, f"could not read your answer: {exc}. Expected: {q.compare}."
            result = Result(q.id, ok, message, "" if ok else q.tip)
        self._results[q.id] = result
        return result

    def progress(self) -> pd.DataFrame:
        """The latest result of every question, in question order.

        Returns
        -------
        pandas.DataFrame
            ``id, stage, checked, ok, message``.

        Examples
        --------
        >>> import slake_forensics as sf
        >>> from slake_forensics.workflows.training import Exercise
        >>> ex = Exercise(sf.Lake.sample())
        >>> _ = ex.check("s3_bucket", "not-a-bucket")
        >>> ex.progress().loc[5, ["id", "checked", "ok"]].to_dict()
        {'id': 's3_bucket', 'checked': True, 'ok': False}
        """
        rows = []
        for q in QUESTIONS:
            r = self._results.get(q.id)
            rows.append({"id": q.id, "stage": q.stage, "checked": r is not None, "ok": bool(r and r.ok),
                         "message": "" if r is None else r.message})
        return pd.DataFrame(rows, columns=["id", "stage", "checked", "ok", "message"])


# ---- instructor: one lake per trainee --------------------------------------------------------------


def trainee_seeds(seed: int, trainees: int) -> list[int]:
    """Distinct seeds drawn deterministically from one seed, one per trainee.

    Parameters
    ----------
    seed
        The instructor's seed.
    trainees
        How many seeds (at least 1).

    Returns
    -------
    list of int
        ``trainees`` distinct seeds in ``1 … 2**31 − 2``.

    Raises
    ------
    ValueError
        When ``trainees`` is below 1.

    Examples
    --------
    >>> from slake_forensics.workflows.training import trainee_seeds
    >>> trainee_seeds(7, 3)
    [695425565, 2035525363, 323946140]
    """
    if trainees < 1:
        raise ValueError("trainees must be at least 1")
    return random.Random(seed).sample(range(1, 2**31 - 1), trainees)


def make_training_lakes(
    out: str | os.PathLike[str],
    trainees: int,
    seed: int,
    *,
    days: int = 14,
    scale: float = 1.0,
    progress: bool = False,
) -> pd.DataFrame:
    """Generate one sample lake per trainee, each from its own seed, and write the roster.

    Lakes go to ``out/trainee-01``, ``out/trainee-02`` … (seeds from :func:`trainee_seeds`);
    the roster to ``out/roster.csv``.

    Parameters
    ----------
    out
        The folder to write to.
    trainees
        How many lakes.
    seed
        The instructor's seed.
    days, scale
        Length (at least 3 days) and volume of each lake (see
        :func:`slake_forensics.sample.generate.generate`).
    progress
        Show progress bars.

    Returns
    -------
    pandas.DataFrame
        The roster: ``trainee`` (1…N), ``folder`` (path) and ``seed``; it holds no answers.

    Raises
    ------
    FileExistsError
        When a trainee folder already holds a lake.

    Examples
    --------
    >>> import tempfile
    >>> from slake_forensics.workflows.training import Exercise, make_training_lakes
    >>> out = tempfile.TemporaryDirectory()  # removed with the object
    >>> roster = make_training_lakes(out.name, 1, seed=7, days=3, scale=0.02)
    >>> roster[["trainee", "seed"]].to_dict("records")
    [{'trainee': 1, 'seed': 695425565}]
    >>> len(Exercise(roster["folder"].iloc[0]).questions)
    16
    """
    from slake_forensics.sample.generate import generate

    base = Path(out).expanduser()
    seeds = trainee_seeds(seed, trainees)
    width = max(2, len(str(trainees)))
    rows = []
    for n, s in enumerate(seeds, start=1):
        folder = base / f"trainee-{n:0{width}d}"
        generate(folder, s, days, scale=scale, progress=progress)
        rows.append({"trainee": n, "folder": str(folder), "seed": s})
    roster = pd.DataFrame(rows, columns=["trainee", "folder", "seed"])
    roster.to_csv(base / ROSTER_NAME, index=False)
    return roster
