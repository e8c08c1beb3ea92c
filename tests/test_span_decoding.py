"""Span attribute decoding at its edges: the fast paths of the span readers (OTLP attributes read
inline, Phoenix attributes flattened without a call per value, indexed keys found in one pass)
give exactly what the plain definitions give, odd shapes included."""

from __future__ import annotations

from harness.capture.dict_spans import dict_span
from harness.capture.otlp import attribute_dict
from harness.capture.span_values import indexed


def test_phoenix_attributes_flatten_to_dotted_keys_metadata_whole_later_keys_winning() -> None:
    attributes = {"a": {"b": 1, "c": [{"d": 2}, {"e": None}]}, "metadata": {"x": {"y": 1}}, "": 5,
                  "l": [1, {"z": 1}], "empty": [], "dup.x": 1, "dup": {"x": 2}, "o": {},
                  "deep": [{"k": [{"m": "n"}]}], "meta": {"metadata": {"q": 1}}}
    span = dict_span({"context": {"trace_id": "t", "span_id": "s"}, "attributes": attributes,
                      "resource": {"attributes": [{"a": 1}, {"b": {"c": 2}}]},
                      "events": [{"name": "e", "attributes": {"x": {"y": [True]}}}]}, "f", 1)
    assert list(span.attributes.items()) == [
        ("a.b", 1), ("a.c.0.d", 2), ("a.c.1.e", None), ("metadata", {"x": {"y": 1}}), ("l", [1, {"z": 1}]),
        ("empty", []), ("dup.x", 2), ("deep.0.k.0.m", "n"), ("meta.metadata.q", 1)]
    assert span.resource == {".0.a": 1, ".1.b.c": 2}
    assert span.events == [("e", {"x.y": [True]})]


def test_otlp_attributes_skip_what_is_not_a_keyed_item_and_keep_the_last_of_a_key_in_its_first_place() -> None:
    items = [{"key": "a", "value": {"stringValue": "x"}}, {"key": "n", "value": {"intValue": "12"}},
             {"key": 3, "value": {"stringValue": "skip"}}, "junk", {"key": "m"}, {"key": "a", "value": {"boolValue": True}},
             {"key": "s", "value": {"stringValue": 5}}, {"key": "v", "value": "plain"},
             {"key": "k", "value": {"kvlistValue": {"values": [{"key": "i", "value": {"doubleValue": "1.5"}}]}}}]
    assert list(attribute_dict(items).items()) == [("a", True), ("n", 12), ("m", None), ("s", 5), ("v", "plain"),
                                                   ("k", {"i": 1.5})]
    assert attribute_dict({"not": "a list"}) == {}


def test_indexed_items_in_index_order_with_keys_relative_to_the_item() -> None:
    attributes = {"p.1.x": 1, "p.0.y": 2, "p.10.z": 3, "p.a.b": 4, "p.2": 5, "q.0.x": 6, "p.1.w.v": 7, "p": 8,
                  "p.": 9, "p.01.u": 10}
    assert indexed(attributes, "p") == [{"y": 2}, {"x": 1, "w.v": 7, "u": 10}, {"z": 3}]
    assert indexed(attributes, "none") == []
