"""From judge rows to scores and to diagnostics of the judge itself: pure functions on polars frames.

Pairwise judgments come in two orders (positions swapped); a win counts only when both
orders name the same winner, otherwise the pair is a tie. That cancels position bias at the
price of ties, and the diagnostics say how much the judge can be trusted: prod against
prod_repeat should be a coin flip, both orders should agree, longer answers should not simply
win, and, when humans labelled some requests, the judge should agree with them.
"""

from __future__ import annotations

import json
import math
import warnings
from typing import Any

import polars as pl
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import cohen_kappa_score, confusion_matrix

from harness.config import ScoringConfig
from harness.scoring.base import SCORE_SCHEMA

__all__ = ["DIAGNOSTIC_SCHEMA", "pair_outcomes", "judge_scores", "judge_diagnostics"]

DIAGNOSTIC_SCHEMA = {"metric": pl.String, "value": pl.Float64, "n": pl.Int64, "details": pl.String}

_JUDGMENT_KEY = ["request_id", "kind", "arm_a", "arm_b", "sample", "order"]
_PAIR_KEY = ["request_id", "arm_a", "arm_b", "sample"]
_PREFERENCES = ["prod", "candidate", "tie"]
_RATINGS = [1, 2, 3, 4, 5]


def _successful(judgments: pl.DataFrame) -> pl.DataFrame:
    """Judgments with a verdict, one per judgment key (a successful row wins over a failed one)."""
    ok = judgments.filter(pl.col("error_type").is_null() & pl.col("verdict").is_not_null())
    return ok.unique(_JUDGMENT_KEY, keep="first", maintain_order=True)


def pair_outcomes(judgments: pl.DataFrame) -> pl.DataFrame:
    """One row per pairwise comparison judged in both orders.

    Columns: request_id, arm_a, arm_b (as judged: prod first), sample, verdict_ab, verdict_ba
    (arm names or "tie"), consistent (both orders agree) and outcome (the agreed verdict, else "tie").
    """
    pairwise = _successful(judgments).filter(pl.col("kind") == "pairwise")
    ab = pairwise.filter(pl.col("order") == "ab").select(*_PAIR_KEY, verdict_ab="verdict")
    ba = pairwise.filter(pl.col("order") == "ba").select(*_PAIR_KEY, verdict_ba="verdict")
    consistent = pl.col("verdict_ab") == pl.col("verdict_ba")
    return (
        ab.join(ba, on=_PAIR_KEY, how="inner")
        .with_columns(consistent=consistent)
        .with_columns(outcome=pl.when(consistent).then(pl.col("verdict_ab")).otherwise(pl.lit("tie")))
        .sort(_PAIR_KEY)
    )


def judge_scores(judgments: pl.DataFrame) -> pl.DataFrame:
    """Per-request scores from the judgments (SCORE_SCHEMA), only from successful judgments.

    - "judge_quality" (arm_a = the arm, arm_b = ""): mean normalized pointwise score over samples.
    - "judge_pairwise" (arm_a = "candidate" or "prod_repeat", arm_b = "prod"): +1 when arm_a wins,
      -1 when prod wins, 0 for a tie, averaged over the samples judged in both orders.
    A request with no usable judgment for a scorer gets no row for it.
    """
    pointwise = _successful(judgments).filter(pl.col("kind") == "pointwise")
    quality = (
        pointwise.group_by("request_id", "arm_a")
        .agg(value=pl.col("score").mean(), n_samples=pl.len(), verdicts=pl.col("verdict").sort_by("sample"))
        .select(
            "request_id",
            scorer=pl.lit("judge_quality"),
            arm_a="arm_a",
            arm_b=pl.lit(""),
            value="value",
            details=pl.struct("n_samples", "verdicts").struct.json_encode(),
        )
    )
    pairs = pair_outcomes(judgments).with_columns(
        value=pl.when(pl.col("outcome") == pl.col("arm_b"))
        .then(1.0)
        .when(pl.col("outcome") == pl.col("arm_a"))
        .then(-1.0)
        .otherwise(0.0)
    )
    pairwise = (
        pairs.group_by("request_id", "arm_a", "arm_b")
        .agg(
            value=pl.col("value").mean(),
            n_samples=pl.len(),
            consistent=pl.col("consistent").all(),
            samples=pl.struct("sample", "verdict_ab", "verdict_ba", "consistent"),
        )
        .select(
            "request_id",
            scorer=pl.lit("judge_pairwise"),
            arm_a="arm_b",
            arm_b="arm_a",
            value="value",
            details=pl.struct("n_samples", "consistent", "samples").struct.json_encode(),
        )
    )
    scores = pl.concat([quality.cast(SCORE_SCHEMA), pairwise.cast(SCORE_SCHEMA)])
    return scores.sort("request_id", "scorer", "arm_a")


def judge_diagnostics(
    judgments: pl.DataFrame,
    requests: pl.DataFrame,
    responses: pl.DataFrame,
    scoring: ScoringConfig | None,
) -> pl.DataFrame:
    """How far the judge can be trusted (DIAGNOSTIC_SCHEMA); metrics without data are left out.

    prod_vs_repeat_win_rate (about 0.5 when healthy), swap_consistency, tie_rate,
    longer_answer_win_rate, longer_answer_scored_higher, judge_error_rate, and with human labels in the requests' metadata
    (keys from `scoring`) human_agreement_kappa and human_rating_kappa.
    `requests`: request_id, metadata (JSON text); `responses`: request_id, arm, sample, output.
    """
    pairs = pair_outcomes(judgments)
    rows = [
        _prod_vs_repeat(pairs),
        _swap_consistency(pairs),
        _tie_rate(pairs),
        _longer_answer_win_rate(pairs, responses),
        _longer_answer_scored_higher(judgments, responses),
        _error_rate(judgments),
    ]
    if scoring is not None and scoring.human_preference_key:
        rows.append(_human_agreement(judgments, requests, scoring.human_preference_key))
    if scoring is not None and scoring.human_rating_key:
        rows.append(_human_rating(judgments, requests, scoring.human_rating_key))
    return pl.DataFrame([row for row in rows if row is not None], schema=DIAGNOSTIC_SCHEMA, orient="row")


_Row = tuple[str, float | None, int, str] | None


def _row(metric: str, value: float | None, n: int, details: dict[str, Any]) -> _Row:
    return metric, value, n, json.dumps(details)


def _prod_vs_repeat(pairs: pl.DataFrame) -> _Row:
    """Share of prod wins over prod_repeat, ties counting half: a fair judge of two equals says 0.5."""
    repeat = pairs.filter(pl.col("arm_b") == "prod_repeat")
    if repeat.is_empty():
        return None
    wins = repeat.filter(pl.col("outcome") == "prod").height
    losses = repeat.filter(pl.col("outcome") == "prod_repeat").height
    ties = repeat.height - wins - losses
    details = {"prod_wins": wins, "prod_repeat_wins": losses, "ties": ties}
    return _row("prod_vs_repeat_win_rate", (wins + ties / 2) / repeat.height, repeat.height, details)


def _swap_consistency(pairs: pl.DataFrame) -> _Row:
    """Share of pairs where both orders name the same winner (or both a tie)."""
    if pairs.is_empty():
        return None
    shares = pairs.group_by("arm_a", "arm_b").agg(pl.col("consistent").mean()).sort("arm_b")
    by_pair = {f"{arm_a}_vs_{arm_b}": share for arm_a, arm_b, share in shares.iter_rows()}
    return _row("swap_consistency", _mean(pairs["consistent"]), pairs.height, by_pair)


def _tie_rate(pairs: pl.DataFrame) -> _Row:
    """Share of pairs ending in a tie, whether the judge said so or the two orders disagreed."""
    if pairs.is_empty():
        return None
    ties = pairs.filter(pl.col("outcome") == "tie")
    said_tie = ties.filter(pl.col("consistent")).height
    details = {"ties": ties.height, "said_tie": said_tie, "inconsistent": ties.height - said_tie}
    return _row("tie_rate", ties.height / pairs.height, pairs.height, details)


def _longer_answer_win_rate(pairs: pl.DataFrame, responses: pl.DataFrame) -> _Row:
    """Among decisive pairs whose answers differ in length, how often the longer one won.

    Well above 0.5 hints at verbosity bias (or at longer answers being better: read with care).
    """
    lengths = responses.select("request_id", "arm", "sample", length=pl.col("output").str.len_chars())
    decisive = pairs.filter(pl.col("outcome") != "tie")
    for side in ("a", "b"):
        decisive = decisive.join(
            lengths.rename({"arm": f"arm_{side}", "length": f"length_{side}"}),
            on=["request_id", f"arm_{side}", "sample"],
            how="inner",
        )
    winner_a = pl.col("outcome") == pl.col("arm_a")
    judged = decisive.filter(pl.col("length_a") != pl.col("length_b")).with_columns(
        longer_won=(pl.col("length_a") > pl.col("length_b")) == winner_a
    )
    if judged.is_empty():
        return None
    details = {"longer_won": int(judged["longer_won"].sum()), "same_length": decisive.height - judged.height}
    return _row("longer_answer_win_rate", _mean(judged["longer_won"]), judged.height, details)


def _longer_answer_scored_higher(judgments: pl.DataFrame, responses: pl.DataFrame) -> _Row:
    """Pointwise: among prod/candidate answers to the same request and sample that differ in
    both length and score, how often the longer one scored higher (well above 0.5: length bias)."""
    lengths = responses.select("request_id", "arm", "sample", length=pl.col("output").str.len_chars())
    scored = (_successful(judgments).filter(pl.col("kind") == "pointwise")
              .join(lengths.rename({"arm": "arm_a"}), on=["request_id", "arm_a", "sample"]))
    prod = scored.filter(pl.col("arm_a") == "prod").select("request_id", "sample", "score", "length")
    cand = scored.filter(pl.col("arm_a") == "candidate").select("request_id", "sample", "score", "length")
    pairs = prod.join(cand, on=["request_id", "sample"], suffix="_c").filter(
        (pl.col("score") != pl.col("score_c")) & (pl.col("length") != pl.col("length_c")))
    if pairs.is_empty():
        return None
    longer_higher = (pl.col("length") > pl.col("length_c")) == (pl.col("score") > pl.col("score_c"))
    share = float(pairs.select(longer_higher.mean()).item())
    return _row("longer_answer_scored_higher", share, pairs.height, {"pairs": pairs.height})


def _error_rate(judgments: pl.DataFrame) -> _Row:
    """Share of judgment rows that failed, with counts by error_type."""
    if judgments.is_empty():
        return None
    errors = judgments.filter(pl.col("error_type").is_not_null())
    by_type = dict(errors.group_by("error_type").len().sort("error_type").iter_rows())
    return _row("judge_error_rate", errors.height / judgments.height, judgments.height, by_type)


def _metadata_values(requests: pl.DataFrame, key: str) -> dict[str, Any]:
    """request_id -> metadata[key], for the requests whose metadata has the key."""
    values: dict[str, Any] = {}
    for request_id, metadata in requests.select("request_id", "metadata").iter_rows():
        data = json.loads(metadata) if metadata else None
        if isinstance(data, dict) and data.get(key) is not None:
            values[request_id] = data[key]
    return values


def _human_agreement(judgments: pl.DataFrame, requests: pl.DataFrame, key: str) -> _Row:
    """Cohen's kappa between the human's preferred arm and the judge's prod-vs-candidate outcome."""
    human = {
        request_id: str(value).strip().lower()
        for request_id, value in _metadata_values(requests, key).items()
        if str(value).strip().lower() in _PREFERENCES
    }
    scores = judge_scores(judgments).filter(
        (pl.col("scorer") == "judge_pairwise") & (pl.col("arm_a") == "candidate") & (pl.col("arm_b") == "prod")
    )
    judge = {
        request_id: "candidate" if value > 0 else "prod" if value < 0 else "tie"
        for request_id, value in scores.select("request_id", "value").iter_rows()
    }
    both = sorted(set(human) & set(judge))
    return _kappa(
        "human_agreement_kappa", [human[r] for r in both], [judge[r] for r in both], _PREFERENCES, None
    )


def _human_rating(judgments: pl.DataFrame, requests: pl.DataFrame, key: str) -> _Row:
    """Quadratic-weighted kappa between a human 1-5 rating of prod and the judge's prod score (1-10 -> 1-5)."""
    human = {
        request_id: rating
        for request_id, value in _metadata_values(requests, key).items()
        if (rating := _rating(value)) is not None
    }
    prod = _successful(judgments).filter((pl.col("kind") == "pointwise") & (pl.col("arm_a") == "prod"))
    means = prod.group_by("request_id").agg(pl.col("verdict").cast(pl.Float64).mean())
    judge = {request_id: math.ceil(math.floor(raw + 0.5) / 2) for request_id, raw in means.iter_rows()}
    both = sorted(set(human) & set(judge))
    return _kappa(
        "human_rating_kappa", [human[r] for r in both], [judge[r] for r in both], _RATINGS, "quadratic"
    )


def _rating(value: Any) -> int | None:
    """A 1-5 integer rating from a number or numeric text; anything else is None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() and 1 <= number <= 5 else None


def _kappa(metric: str, human: list[Any], judge: list[Any], labels: list[Any], weights: str | None) -> _Row:
    """Cohen's kappa with its confusion matrix (rows: human, columns: judge); None when undefined."""
    if not human:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        kappa = float(cohen_kappa_score(human, judge, labels=labels, weights=weights))
    matrix = confusion_matrix(human, judge, labels=labels).tolist()
    details = {"labels": labels, "confusion_matrix": matrix, "rows": "human", "columns": "judge", "n": len(human)}
    return _row(metric, None if math.isnan(kappa) else kappa, len(human), details)


def _mean(values: pl.Series) -> float:
    """A series' mean as a float (NaN when it has none)."""
    mean = values.cast(pl.Float64).mean()
    return float(mean) if isinstance(mean, float) else math.nan
