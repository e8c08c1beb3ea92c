"""Embedding similarity between arms and against the reference answer.

Per request: candidate vs prod, prod_repeat vs prod (the noise floor) and each arm vs the
reference when there is one. With K samples per arm, a pair of arms scores the mean cosine
over all K x K sample pairs, and prod vs prod (the mean over its K(K-1)/2 distinct sample
pairs) is added as a second noise estimate.
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl

__all__ = ["similarity_pairs", "similarity_scores"]

_PAIRS = (("candidate", "prod"), ("prod_repeat", "prod"))


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
    return pl.concat(rows) if rows else pl.DataFrame(schema={"request_id": pl.String, "arm_a": pl.String, "arm_b": pl.String})


def similarity_scores(
    wanted: pl.DataFrame, responses: pl.DataFrame, requests: pl.DataFrame, index: dict[str, int], vectors: np.ndarray,
    *, max_chars: int | None = None,
) -> pl.DataFrame:
    """Score rows (scorer 'similarity') for the wanted (request_id, arm_a, arm_b) triples.

    Details hold the number of sample pairs and, when a text was longer than `max_chars` (and so
    embedded cut), `"truncated"`: the arms whose text was cut.
    """
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
        details["truncated"] = sorted(set(cut))
    return json.dumps(details)
