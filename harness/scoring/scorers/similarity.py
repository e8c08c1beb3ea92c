"""Embedding similarity between arms and against the reference answer.

Per request: candidate vs prod, prod_repeat vs prod (the noise floor) and each arm vs the
reference when there is one. With K samples per arm, a pair of arms scores the mean cosine
over all K x K sample pairs, and prod vs prod (the mean over its K(K-1)/2 distinct sample
pairs) is added as a second noise estimate. Vectors come from the cached embedder.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import polars as pl

from harness.metrics.definitions import CheckSpec, Metric
from harness.records import ARMS
from harness.scoring.base import ScoringContext

if TYPE_CHECKING:  # numpy is imported where vectors are used: the config's check list needs none
    import numpy as np

__all__ = ["SCORER", "similarity_pairs", "similarity_scores"]

_PAIRS = (("candidate", "prod"), ("prod_repeat", "prod"))
_KEY = ["request_id", "arm_a", "arm_b"]


def similarity_pairs(responses: pl.DataFrame, requests: pl.DataFrame) -> pl.DataFrame:
    """Every (request_id, arm_a, arm_b) similarity a run can have, from its successful outputs."""
    ok = responses.filter(pl.col("error_type").is_null() & pl.col("output").is_not_null())
    per_arm = ok.group_by("request_id", "arm").agg(pl.len().alias("k"))
    arms = per_arm.pivot(on="arm", index="request_id", values="k")
    rows: list[pl.DataFrame] = []
    for a, b in _PAIRS:
        if a in arms.columns and b in arms.columns:
            both = arms.filter(pl.col(a).is_not_null() & pl.col(b).is_not_null())
            rows.append(both.select("request_id", pl.lit(a).alias("arm_a"), pl.lit(b).alias("arm_b")))
    if "prod" in arms.columns:
        several = arms.filter(pl.col("prod") >= 2)
        rows.append(several.select("request_id", pl.lit("prod").alias("arm_a"), pl.lit("prod").alias("arm_b")))
    with_ref = requests.filter(pl.col("reference_output").is_not_null()).select("request_id")
    rows.append(per_arm.join(with_ref, on="request_id").select(
        "request_id", pl.col("arm").alias("arm_a"), pl.lit("reference").alias("arm_b")))
    return pl.concat(rows) if rows else pl.DataFrame(schema={k: pl.String for k in _KEY})


def similarity_scores(
    wanted: pl.DataFrame, responses: pl.DataFrame, requests: pl.DataFrame, index: dict[str, int], vectors: np.ndarray,
    *, max_chars: int | None = None,
) -> pl.DataFrame:
    """Score rows (scorer 'similarity') for the wanted (request_id, arm_a, arm_b) triples.

    Details hold the number of sample pairs and, when a text was longer than `max_chars` (and so
    embedded cut), `"truncated"`: the arms whose text was cut.
    """
    import numpy as np

    ok = responses.filter(pl.col("error_type").is_null() & pl.col("output").is_not_null())
    texts = pl.concat([
        ok.select("request_id", "arm", "sample", pl.col("output").alias("text")),
        requests.filter(pl.col("reference_output").is_not_null()).select(
            "request_id", pl.lit("reference").alias("arm"), pl.lit(0, dtype=ok["sample"].dtype).alias("sample"),
            pl.col("reference_output").alias("text")),
    ])  # fmt: skip
    cut = pl.col("text").str.len_chars() > max_chars if max_chars is not None else pl.lit(False)
    texts = texts.with_columns(
        pl.col("text").replace_strict(index, default=None, return_dtype=pl.Int64).alias("row"), cut.alias("cut")
    ).drop_nulls("row")
    left = wanted.join(texts.rename({"arm": "arm_a", "sample": "sample_a", "row": "row_a", "cut": "cut_a"}).drop("text"),
                       on=["request_id", "arm_a"])
    pairs = left.join(texts.rename({"arm": "arm_b", "sample": "sample_b", "row": "row_b", "cut": "cut_b"}).drop("text"),
                      on=["request_id", "arm_b"])
    # Within one arm only distinct samples pair up, each pair once.
    pairs = pairs.filter((pl.col("arm_a") != pl.col("arm_b")) | (pl.col("sample_a") < pl.col("sample_b")))
    a = vectors[pairs["row_a"].to_numpy()]
    b = vectors[pairs["row_b"].to_numpy()]
    pairs = pairs.with_columns(pl.Series("cosine", np.einsum("ij,ij->i", a, b), dtype=pl.Float64))
    scored = pairs.group_by("request_id", "arm_a", "arm_b").agg(
        pl.col("cosine").mean().alias("value"), pl.len().alias("pairs"), pl.col("cut_a").any(), pl.col("cut_b").any())
    return scored.select(
        "request_id", pl.lit("similarity").alias("scorer"), "arm_a", "arm_b", pl.col("value").clip(-1.0, 1.0),
        pl.struct("pairs", "arm_a", "arm_b", "cut_a", "cut_b").map_elements(_details, return_dtype=pl.String)
        .alias("details"),
    )


def _details(row: dict[str, object]) -> str:
    details: dict[str, object] = {"pairs": row["pairs"]}
    cut = [arm for arm, flag in ((row["arm_a"], row["cut_a"]), (row["arm_b"], row["cut_b"])) if flag]
    if cut:
        details["truncated"] = sorted({str(arm) for arm in cut})
    return json.dumps(details)


def _texts_for(wanted: pl.DataFrame, responses: pl.DataFrame, requests: pl.DataFrame) -> list[str]:
    """Distinct texts behind the wanted pairs: the outputs of both arms and the references."""
    ids = wanted.select("request_id").unique()
    arms = pl.concat([wanted.select(pl.col("arm_a").alias("arm")), wanted.select(pl.col("arm_b").alias("arm"))]).unique()
    outputs = responses.join(ids, on="request_id").join(arms, on="arm").filter(
        pl.col("error_type").is_null() & pl.col("output").is_not_null())["output"]
    references = requests.join(ids, on="request_id")["reference_output"].drop_nulls()
    return pl.concat([outputs, references]).unique(maintain_order=True).to_list()


class SimilarityScorer:
    name = "similarity"
    produces = ("similarity",)
    order = 10
    metrics = (
        Metric("similarity", "similarity to prod", "score", "lower", ("noise_gap",), ("candidate", "prod_repeat"),
               score="similarity", against="prod", stands_in_for="quality",
               phrase="{who}'s similarity to prod minus prod's similarity to itself {value}"),
        Metric("reference_similarity", "similarity to the reference answer", "score", "lower", ("mean", "diff"),
               ARMS, score="similarity", against="reference", evidence_label="reference answer text"),
    )
    checks = (
        CheckSpec("similarity_vs_noise", "similarity", "noise_gap", -0.05, "min", "warning",
                  "candidate as close to prod as prod is to itself, within 0.05"),
    )

    def score(self, ctx: ScoringContext) -> pl.DataFrame | None:
        from harness.scoring.embeddings import embed_texts
        from harness.scoring.executors import make_executor

        pairs = similarity_pairs(ctx.responses, ctx.requests).with_columns(pl.lit("similarity").alias("scorer"))
        wanted = pairs.select("request_id", "scorer", "arm_a", "arm_b").join(
            ctx.have, on=["request_id", "scorer", "arm_a", "arm_b"], how="anti")
        if not wanted.height or ctx.embedder is None:
            return None
        needed = _texts_for(wanted, ctx.responses, ctx.requests)
        max_chars = ctx.scoring.max_text_chars
        embedded = embed_texts(ctx.store, ctx.embedder, needed, executor=make_executor(ctx.scoring, ctx.embedder),
                               max_chars=max_chars, progress=ctx.progress)
        ctx.figures["texts_encoded"] = ctx.figures.get("texts_encoded", 0) + embedded.encoded
        ctx.figures["texts_cached"] = ctx.figures.get("texts_cached", 0) + embedded.cached
        return similarity_scores(wanted.drop("scorer"), ctx.responses, ctx.requests, embedded.row_of,
                                 embedded.vectors, max_chars=max_chars)


SCORER = SimilarityScorer()
