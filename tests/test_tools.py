"""Tool classes and argument normalization: the rules the action scorers and the sandbox share."""

from __future__ import annotations

import pytest

from harness.config import parse_config
from harness.errors import ConfigError
from harness.tools import ArgumentNormalizer, ToolClassifier, normalized_calls


@pytest.mark.parametrize(("name", "expected"), [
    ("get_user_details", "read"), ("search_direct_flight", "read"), ("lookup_order", "read"),
    ("list_all_airports", "read"), ("findOrder", "read"), ("check_status", "read"), ("calculate", "read"),
    ("book_reservation", "write"), ("cancel_reservation", "write"), ("issue_refund", "write"),
    ("update_reservation_flights", "write"), ("send_certificate", "write"), ("transfer_to_human_agents", "write"),
    ("IssueRefund", "write"), ("frobnicate", "write"), ("", "write"),
])  # fmt: skip
def test_default_heuristic_and_unknown_tools_count_as_write(name: str, expected: str) -> None:
    assert ToolClassifier().classify(name)[0] == expected


def test_explicit_lists_and_globs_win_and_write_beats_read() -> None:
    classifier = ToolClassifier(read=("frobnicate", "audit_*", "get_*"), write=("get_and_reserve", "audit_fix*"))
    assert classifier.classify("frobnicate") == ("read", "read list: frobnicate")
    assert classifier.classify("audit_log") == ("read", "read list: audit_*")
    assert classifier.classify("audit_fix_all")[0] == "write"  # both patterns match: the safe side
    assert classifier.classify("get_and_reserve") == ("write", "write list: get_and_reserve")
    assert classifier.classify("zap")[1].startswith("unknown")


def test_normalization_rules() -> None:
    n = ArgumentNormalizer.from_lists(ignore=["request_ts", "issue_refund.note"], unordered=["items"])
    a = n.key("issue_refund", {"order_id": " 1234 ", "amount": "49.0", "items": ["b", "a"], "request_ts": 1,
                               "note": "sorry", "reason": "Damaged  Item"})
    b = n.key("issue_refund", {"reason": "damaged item", "items": ["a", "b"], "amount": 49, "order_id": 1234})
    assert a == b  # key order, whitespace, case, "3" == 3 == 3.0, unordered lists, ignored arguments
    assert n.key("other", {"note": "x"}) != n.key("other", {})  # `issue_refund.note` is ignored for that tool only
    assert n.key("t", {"seats": [1, 2]}) != n.key("t", {"seats": [2, 1]})  # lists keep their order by default
    strict = ArgumentNormalizer.from_lists(case_sensitive=True, numbers_from_strings=False)
    assert strict.key("t", {"x": "A"}) != strict.key("t", {"x": "a"})
    assert strict.key("t", {"x": "3"}) != strict.key("t", {"x": 3})
    assert n.key("t", {"x": True}) != n.key("t", {"x": 1})  # a boolean is not a number


def test_hostile_arguments_are_compared_without_crashing() -> None:
    deep: object = "leaf"
    for _ in range(5000):
        deep = {"a": deep}
    n = ArgumentNormalizer()
    assert "nested deeper than" in n.key("t", deep)
    assert n.key("t", {"x": float("nan")}) == n.key("t", {"x": float("nan")})
    assert normalized_calls("not json", n) == []
    assert normalized_calls('[{"name": 3}, "x", {"name": "ok", "arguments": {"a": 1}}]', n) == [("ok", '{"a": 1}')]


def test_tools_config_validates_and_builds_the_rules() -> None:
    config = parse_config({"tools": {"read": ["think"], "write": ["x_*"],
                                     "arguments": {"ignore": ["ts"], "unordered": ["seats"]}}})
    assert config.tools.classifier().classify("think")[0] == "read"
    assert config.tools.normalizer().key("t", {"ts": 1, "seats": [2, 1]}) == '{"seats": [1, 2]}'
    with pytest.raises(ConfigError, match=r"tools.arguments.ignored: unknown key"):
        parse_config({"tools": {"arguments": {"ignored": ["ts"]}}})
    with pytest.raises(ConfigError, match=r"tools.read"):
        parse_config({"tools": {"read": "think"}})
