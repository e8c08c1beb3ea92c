"""What a demo agent decides to do: read the conversation, pick the tools, gather the facts.

The tools' results are a pure function of their arguments, so one request always gets the
same tool calls; only the phrasing (agents.py) varies between calls.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.demo.shop import CATALOG, INTENTS, Product, order_facts, shop_day, stable_number
from harness.records import Request

# --- reading the conversation --------------------------------------------------------

_ORDER_RE = re.compile(r"(?<!\d)(\d{6})(?!\d)")
_ADDRESS_RE = re.compile(
    r"\d{1,4} [A-Z][a-z]+(?: [A-Z][a-z]+)? (?:Street|Avenue|Road|Lane|Drive|Way), [A-Z][a-z]+(?: [A-Z][a-z]+)?"
)
_PRODUCT_RES = tuple((re.compile(rf"\b{p.key}\b"), p) for p in CATALOG)

_INTENT_WORDS = (
    ("cancel_order", ("cancel", "stop my order")),
    ("refund_request", ("refund", "money back", "return")),
    ("shipping_change", ("address", "send it to", "ship it to")),
    ("account_help", ("password", "log in", "login", "sign in", "account", "2fa")),
    ("order_status", ("where", "status", "track", "arrive", "shipped")),
)
_REASONS = (
    ("damaged", ("broken", "damaged", "cracked", "stopped working", "defective")),
    ("wrong_item", ("wrong",)),
    ("not_received", ("never arrived", "didn't arrive", "never got", "lost")),
    ("not_as_described", ("not as described", "too small", "too big", "doesn't fit")),
)
_TOPICS = (
    ("warranty", ("warranty", "guarantee")),
    ("size", ("size", "dimension", "how big", "measure")),
    ("compatibility", ("compatible", "work with")),
    ("care", ("clean", "wash", "care for")),
    ("stock", ("in stock", "available", "restock")),
)
_ACCOUNT_TOPICS = (
    ("two_factor", ("2fa", "two-factor", "authenticator")),
    ("delete_account", ("delete", "close my account")),
    ("payment", ("card", "payment method")),
    ("change_email", ("change my email", "update my email", "email address")),
    ("password", ("password", "log in", "login", "locked out", "sign in")),
)


@dataclass(frozen=True, slots=True)
class _Chat:
    """The conversation as the agent reads it: message texts, latest first."""

    user_id: str | None
    texts: tuple[str, ...]
    user_texts: tuple[str, ...]

    @classmethod
    def of(cls, request: Request) -> _Chat:
        messages = list(reversed(request.messages))
        texts = tuple(plain(m.get("content")) for m in messages)
        user_texts = tuple(plain(m.get("content")) for m in messages if m.get("role") == "user")
        return cls(request.user_id, texts, user_texts)

    @property
    def order_id(self) -> str | None:
        return _find(_ORDER_RE, self.texts)

    @property
    def product(self) -> Product | None:
        for text in self.texts:
            for pattern, product in _PRODUCT_RES:
                if pattern.search(text.lower()):
                    return product
        return None


def plain(content: Any) -> str:
    """A chat message's text: the string, or the text parts of a list of parts."""
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


def _find(pattern: re.Pattern[str], texts: tuple[str, ...]) -> str | None:
    for text in texts:
        if match := pattern.search(text):
            return match.group(match.lastindex or 0)
    return None


def _keyword(texts: tuple[str, ...], table: tuple[tuple[str, tuple[str, ...]], ...], default: str) -> str:
    """The first table entry any word of which occurs, searching the latest text first."""
    for text in texts:
        low = text.lower()
        for name, words in table:
            if any(word in low for word in words):
                return name
    return default


def intent(request: Request) -> str:
    """The request's intent: its metadata when valid, else keywords in the conversation."""
    given = request.metadata.get("intent")
    if given in INTENTS:
        return given
    chat = _Chat.of(request)
    fallback = "order_status" if chat.order_id else "product_question"
    return _keyword(chat.user_texts[:1], _INTENT_WORDS, fallback)


# --- deciding what to do: tools and the facts of the answer --------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    """What the agent decided: which kind of answer, with which facts, after which tool calls."""

    outcome: str
    facts: dict[str, Any]
    tool_calls: tuple[dict[str, Any], ...] = ()


def _call(name: str, arguments: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "arguments": arguments, "result": result}


def _lookup(order_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    facts = order_facts(order_id)
    return facts, _call("lookup_order", {"order_id": order_id}, facts)


def _order_status(chat: _Chat) -> Plan:
    if (order_id := chat.order_id) is None:
        return Plan("ask_order", {})
    facts, lookup = _lookup(order_id)
    return Plan(f"status_{facts['status']}", facts, (lookup,))


def _refund_request(chat: _Chat) -> Plan:
    if (order_id := chat.order_id) is None:
        return Plan("ask_order", {})
    facts, lookup = _lookup(order_id)
    reason = _keyword(chat.user_texts, _REASONS, "changed_mind")
    refund_id = f"rf-{stable_number('refund', order_id) % 16**8:08x}"
    refund = _call(
        "issue_refund",
        {"order_id": order_id, "amount": facts["total"], "reason": reason},
        {"refund_id": refund_id, "status": "approved", "amount": facts["total"]},
    )
    return Plan("refund_issued", facts | {"refund_id": refund_id}, (lookup, refund))


def _cancel_order(chat: _Chat) -> Plan:
    if (order_id := chat.order_id) is None:
        return Plan("ask_order", {})
    facts, lookup = _lookup(order_id)
    if facts["status"] != "processing":
        return Plan("cancel_too_late", facts, (lookup,))
    cancel = _call("cancel_order", {"order_id": order_id}, {"cancelled": True, "refund_amount": facts["total"]})
    return Plan("cancelled", facts, (lookup, cancel))


def _shipping_change(chat: _Chat) -> Plan:
    if (order_id := chat.order_id) is None:
        return Plan("ask_order", {})
    facts, lookup = _lookup(order_id)
    if facts["status"] != "processing":
        return Plan("address_too_late", facts, (lookup,))
    if (address := _find(_ADDRESS_RE, chat.user_texts)) is None:
        return Plan("ask_address", facts, (lookup,))
    update = _call("update_address", {"order_id": order_id, "address": address}, {"updated": True})
    return Plan("address_updated", facts | {"address": address}, (lookup, update))


_PRODUCT_KB = {
    "warranty": "The {p.name} comes with a {p.warranty_years}-year warranty that covers manufacturing defects.",
    "size": "Size of the {p.name}: {p.size}.",
    "compatibility": "The {p.name} works with {p.works_with}.",
    "care": "To look after the {p.name}, {p.care}.",
    "stock": "The {p.name} is in stock and ships within 1-2 business days.",
    "stock_out": "The {p.name} is out of stock right now; we expect new stock on {restock}.",
    "overview": "The {p.name} costs ${p.price:.2f}, ships within 1-2 business days and has a "
    "{p.warranty_years}-year warranty.",
}


def _product_question(chat: _Chat) -> Plan:
    product = chat.product
    if product is None and (order_id := chat.order_id):
        product = next(p for p in CATALOG if p.name == order_facts(order_id)["product"])
    if product is None:
        return Plan("ask_product", {})
    topic = _keyword(chat.user_texts, _TOPICS, "overview")
    h = stable_number("kb", product.name, topic)
    entry = "stock_out" if topic == "stock" and h % 4 == 0 else topic
    answer = _PRODUCT_KB[entry].format(p=product, restock=shop_day(4 + h % 10))
    article = {"id": f"kb-{h % 9000 + 1000}", "title": f"{product.name}: {topic}", "snippet": answer}
    search = _call("search_kb", {"query": f"{product.name} {topic}"}, {"articles": [article]})
    return Plan("product_info", {"answer": answer, "product": product.name}, (search,))


_ACCOUNT_KB = {
    "two_factor": "You can manage two-factor authentication under Account > Security. If you lost your phone, "
    "sign in with one of your backup codes or request a 2FA reset from the login page.",
    "delete_account": "You can delete your account under Account > Privacy > Delete account. Open orders must be "
    "completed first, and deletion becomes permanent after 14 days.",
    "payment": "To update your card, go to Account > Payment methods, add the new card and set it as the default.",
    "change_email": "You can change your email under Account > Settings > Email; we send a confirmation link "
    "to the new address before it takes effect.",
    "settings": "Most account settings live under Account > Settings: profile, email, password, addresses "
    "and notifications.",
}


def _account_help(chat: _Chat) -> Plan:
    topic = _keyword(chat.user_texts, _ACCOUNT_TOPICS, "settings")
    if topic == "password":
        reset = _call("reset_password", {"user_id": chat.user_id}, {"sent": True, "expires_minutes": 30})
        return Plan("password_reset", {}, (reset,))
    answer = _ACCOUNT_KB[topic]
    search = _call("search_kb", {"query": f"account {topic.replace('_', ' ')}"},
                   {"articles": [{"id": f"kb-{stable_number('kb', topic) % 9000 + 1000}", "snippet": answer}]})
    return Plan("account_info", {"answer": answer}, (search,))


_HANDLERS: dict[str, Callable[[_Chat], Plan]] = {
    "order_status": _order_status,
    "refund_request": _refund_request,
    "product_question": _product_question,
    "shipping_change": _shipping_change,
    "cancel_order": _cancel_order,
    "account_help": _account_help,
}


def plan_for(request: Request) -> Plan:
    """The tool calls and facts an agent of the shop gathers for this request."""
    return _HANDLERS[intent(request)](_Chat.of(request))


