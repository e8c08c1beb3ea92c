"""A deterministic captured production log of the demo shop's support agent.

Users (tier, locale, feature-flag cohort) open sessions that follow a daily traffic
rhythm; a session asks one to a few things, and follow-ups in chat channels arrive in
OpenAI chat form with the history. `captured` is what prod answered: `prod_v1`'s logic
driven by the seeded generator, so the log agrees with a replay of prod in meaning.
About 1.5% of captured calls failed, and ~30% of requests carry a reviewed reference.
The same arguments always give byte-identical output.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from harness.demo.agents import CATALOG, Product, golden_answer, order_facts, simulate_prod
from harness.records import Request

__all__ = ["generate_records", "write_log"]

_START = datetime(2026, 11, 16)  # a Monday
_HOURLY = (2, 1, 1, 1, 1, 2, 3, 5, 7, 9, 10, 10, 9, 9, 9, 8, 8, 9, 10, 11, 10, 8, 5, 3)  # UTC traffic by hour

_INTENTS = (("order_status", 30), ("product_question", 20), ("refund_request", 15),
            ("account_help", 14), ("shipping_change", 11), ("cancel_order", 10))
_TIERS = (("free", 70), ("pro", 22), ("enterprise", 8))
_PRIORITY_SUPPORT_SHARE = {"free": 0.05, "pro": 0.2, "enterprise": 0.5}
_LOCALES = (("en-US", 50), ("en-GB", 18), ("en-CA", 8), ("en-AU", 7), ("de-DE", 9), ("fr-FR", 5), ("es-ES", 3))
_CHANNELS = (("web_chat", 52), ("mobile_app", 30), ("email", 12), ("whatsapp", 6))
_CHAT_CHANNELS = ("web_chat", "mobile_app", "whatsapp")

#: Order statuses that make each intent's message plausible.
_FITTING_STATUS = {
    "refund_request": ({"delivered", "delayed"}, {"delivered", "delayed"}),
    "cancel_order": ({"processing"}, {"shipped", "out_for_delivery"}),
    "shipping_change": ({"processing"}, {"shipped"}),
}
_ORDER_INTENTS = ("order_status", "refund_request", "cancel_order", "shipping_change")

_FIRST = {
    "order_status": (
        "Where is my order {order}?",
        "Hi, I ordered the {product} last week and it still hasn't arrived. Order {order}",
        "can you check the status of order {order} please",
        "Any update on {order}? The tracking hasn't changed in days.",
        "Hello, when will my {product} arrive? Order number is {order}.",
        "I'm still waiting for order {order}, has it shipped yet?",
        "whats the status of my order {order}",
        "Order {order} - where is it? I need it by the weekend.",
        "Hi there! Just checking on my order {order} for the {product}. Thanks!",
        "Could you tell me when order {order} will be delivered?",
        "I need to know where my package is. order {order}",
    ),
    "refund_request": (
        "I want a refund for order {order}, the {product} arrived damaged.",
        "The {product} I received is broken. Can I get my money back? Order {order}",
        "Please refund order {order}. You sent me the wrong item.",
        "hi, order {order} never arrived and i'd like a refund",
        "I changed my mind about the {product}, how do I get a refund? order {order}",
        "Requesting a refund for {order} - the {product} stopped working after two days.",
        "Can I return the {product} and get refunded? Order {order}. It's too small.",
        "refund please, order {order}, item was damaged in shipping",
        "Hello, I'd like my money back for order {order}. The {product} is not as described.",
        "The {product} from order {order} has a cracked case. I want a refund, not a replacement.",
    ),
    "product_question": (
        "Does the {product} come with a warranty?",
        "What's the warranty on the {product}?",
        "how long is the guarantee for the {product}",
        "What size is the {product}?",
        "What are the dimensions of the {product}?",
        "how big is the {product} exactly",
        "What is the {product} compatible with?",
        "Before I buy: what does the {product} work with?",
        "How do I clean the {product}?",
        "Can I wash the {product}?",
        "I just got the {product}, what's the best way to care for it?",
        "Is the {product} in stock?",
        "When will the {product} be available again?",
        "do you have the {product} in stock right now",
        "Tell me about the {product}, is it any good?",
    ),
    "shipping_change": (
        "Can I change the delivery address for order {order}? New address: {address}",
        "I moved! Please ship order {order} to {address} instead.",
        "need to update shipping address on {order} to {address}",
        "Hi, could you send my {product} (order {order}) to {address}? I won't be home.",
        "Please change the address for order {order} to {address}, thanks",
        "Wrong address on order {order}, it should go to {address}",
    ),
    "cancel_order": (
        "Please cancel order {order}",
        "I want to cancel my order {order}, I ordered the wrong size",
        "cancel {order} please, found it cheaper elsewhere",
        "Is it too late to cancel order {order}?",
        "Hi, I'd like to cancel the {product} I just ordered (order {order}).",
        "can you cancel order {order}? don't need it anymore",
        "I ordered the {product} by mistake, please cancel order {order}",
    ),
    "account_help": (
        "I forgot my password",
        "I can't log in to my account",
        "locked out of my account, help",
        "How do I reset my password?",
        "my password doesn't work anymore and I can't sign in",
        "The login keeps saying wrong password even though I'm sure it's right.",
        "How do I change my email address on my account?",
        "I need to update my email to a new one, how?",
        "Please delete my account and all my data.",
        "how do I close my account?",
        "I lost my phone and can't get my 2FA code",
        "How do I turn on two-factor authentication?",
        "How do I update the card on my account?",
        "I want to change my payment method",
        "Where do I change my notification settings?",
    ),
}
_NO_ORDER = {
    "order_status": ("Where is my package?? It's been a week.", "hi, my order hasn't arrived yet, can you check?",
                     "When will my {product} be delivered?"),
    "refund_request": ("I want a refund, the {product} you sent me is broken", "how do i get my money back?"),
    "cancel_order": ("I need to cancel my order asap", "Can I still cancel my order for the {product}?"),
    "shipping_change": ("I need to change my delivery address to {address}",),
}
_ADDRESS_ONLY = {"shipping_change": ("Can I change the shipping address on order {order}?",
                                     "I need to change where order {order} is going.")}
_GIVE_ORDER = ("It's {order}", "order number is {order}", "sorry, it's {order}", "{order}",
               "The order number is {order}, thanks")
_GIVE_ADDRESS = ("The new address is {address}", "{address} please", "Please send it to {address}")
#: Follow-ups that move the conversation on, by (previous intent, next intent).
_FOLLOW = {
    ("order_status", "cancel_order"): ("Ok, can you cancel it then?", "In that case please cancel the order.",
                                        "I don't want to wait that long, cancel it please"),
    ("order_status", "shipping_change"): ("Can you send it to {address} instead?",
                                          "Could you change the delivery address to {address}?"),
    ("order_status", "refund_request"): ("This is taking way too long. I just want a refund.",
                                         "Can I get my money back instead?"),
    ("order_status", "product_question"): ("Also, does it come with a warranty?",
                                           "And how do I clean it once it arrives?",
                                           "By the way, what are the dimensions?"),
    ("cancel_order", "refund_request"): ("Ok then I'll send it back when it arrives. Can you refund me?",
                                         "fine, then I want a refund"),
    ("product_question", "product_question"): ("And is it in stock?", "What about the warranty?", "How do I clean it?",
                                               "what size is it?", "Does it work with other brands?",
                                               "What about the {product}?"),
}
_NEXT = {
    "order_status": (("cancel_order", 3), ("shipping_change", 2), ("refund_request", 2), ("product_question", 2)),
    "cancel_order": (("refund_request", 1),),
    "product_question": (("product_question", 1),),
    "account_help": (("account_help", 1),),
}

_STREETS = ("Maple", "Oak", "Cedar", "Elm", "Hillside", "Lake View", "Mill", "Station", "Church", "Park")
_STREET_KINDS = ("Street", "Avenue", "Road", "Lane", "Drive", "Way")
_CITIES = ("Portland", "Austin", "Leeds", "Bristol", "Toronto", "Denver", "Melbourne", "San Diego", "Dublin", "Seattle")
_NAMES = ("Anna", "Ben", "Chloe", "David", "Emma", "Felix", "Grace", "Hugo", "Ines", "Jamal", "Kira", "Liam")
_MISSPELLINGS = {"the": "teh", "receive": "recieve", "received": "recieved", "please": "pls", "order": "oder",
                 "arrived": "arived", "because": "becuase", "address": "adress", "want": "wnat",
                 "package": "pakage", "thanks": "thx", "you": "u", "really": "realy", "would": "woud"}


@dataclass(frozen=True, slots=True)
class _User:
    user_id: str
    tier: str
    locale: str
    channel: str  # the channel this user mostly writes from
    flags: dict[str, bool]
    activity: float  # relative chance of opening a session


@dataclass(slots=True)
class _Topic:
    """What a session is about; follow-ups may refer to it without repeating it."""

    order: str
    product: Product
    address: str
    order_given: bool = False
    address_given: bool = False
    asked: set[str] = field(default_factory=set)  # templates already used, so nobody repeats themselves


def _pick(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([name for name, _ in table], [weight for _, weight in table])[0]


def _users(rng: random.Random, n_users: int) -> list[_User]:
    users = []
    for i in range(n_users):
        tier = _pick(rng, _TIERS)
        flags = {"new-checkout": rng.random() < 0.35, "priority-support": rng.random() < _PRIORITY_SUPPORT_SHARE[tier]}
        users.append(_User(f"u-{i + 1:04d}", tier, _pick(rng, _LOCALES), _pick(rng, _CHANNELS), flags,
                           rng.lognormvariate(0, 0.8)))
    return users


def _order_for(rng: random.Random, intent: str) -> str:
    """An order number whose status fits the intent (a refund is asked for a delivered order)."""
    fitting = _FITTING_STATUS.get(intent)
    wanted = None if fitting is None else fitting[0] if rng.random() < 0.7 else fitting[1]
    while True:
        order = str(rng.randint(100000, 999999))
        if wanted is None or order_facts(order)["status"] in wanted:
            return order


def _topic(rng: random.Random, intent: str) -> _Topic:
    order = _order_for(rng, intent)
    product = next(p for p in CATALOG if p.name == order_facts(order)["product"])
    if intent in ("product_question", "account_help"):
        product = rng.choice(CATALOG)
    address = f"{rng.randint(1, 2400)} {rng.choice(_STREETS)} {rng.choice(_STREET_KINDS)}, {rng.choice(_CITIES)}"
    return _Topic(order, product, address)


def _roughen(rng: random.Random, template: str) -> str:
    """Now and then, write like a hurried customer: a misspelling or no capitals and full stop."""
    roll = rng.random()
    if roll < 0.07:
        words = [w for w in _MISSPELLINGS if re.search(rf"(?<![{{\w]){w}(?![}}\w])", template, re.IGNORECASE)]
        if words:
            word = rng.choice(words)
            return re.sub(rf"(?<![{{\w]){word}(?![}}\w])", _MISSPELLINGS[word], template, flags=re.IGNORECASE)
    elif roll < 0.12:
        return template.lower().rstrip(".!?")  # placeholders are lower case already
    return template


def _fill(rng: random.Random, template: str, topic: _Topic) -> str:
    topic.asked.add(template)
    product = rng.choice((topic.product.name, topic.product.short, topic.product.short.lower()))
    order = rng.choice((topic.order, topic.order, f"#{topic.order}"))
    return _roughen(rng, template).format(order=order, product=product, address=topic.address)


def _first_message(rng: random.Random, intent: str, topic: _Topic) -> str:
    roll = rng.random()
    if intent in _NO_ORDER and roll < 0.06:
        template = rng.choice(_NO_ORDER[intent])
    elif intent in _ADDRESS_ONLY and roll < 0.25:
        template = rng.choice(_ADDRESS_ONLY[intent])
    else:
        template = rng.choice(_FIRST[intent])
    topic.order_given = "{order}" in template
    topic.address_given = "{address}" in template
    return _fill(rng, template, topic)


def _follow_up(rng: random.Random, intent: str, topic: _Topic) -> tuple[str, str] | None:
    """The next (intent, message) of the session, or None when the customer is done."""
    if intent in _ORDER_INTENTS and not topic.order_given:
        if rng.random() < 0.85:
            topic.order_given = True
            return intent, _fill(rng, rng.choice(_GIVE_ORDER), topic)
        return None
    processing = order_facts(topic.order)["status"] == "processing"
    if intent == "shipping_change" and processing and not topic.address_given:
        if rng.random() < 0.85:
            topic.address_given = True
            return intent, _fill(rng, rng.choice(_GIVE_ADDRESS), topic)
        return None
    if intent not in _NEXT or rng.random() > 0.3:
        return None
    after = _pick(rng, _NEXT[intent])
    options = _FIRST[after] if after == "account_help" else _FOLLOW[intent, after]
    fresh = [t for t in options if t not in topic.asked]
    if not fresh:
        return None
    template = rng.choice(fresh)
    if "{product}" in template and intent == "product_question":
        topic.product = rng.choice([p for p in CATALOG if p != topic.product])
    topic.address_given = topic.address_given or "{address}" in template
    return after, _fill(rng, template, topic)


def _session_start(rng: random.Random, days: int) -> datetime:
    hour = rng.choices(range(24), _HOURLY)[0]
    offset = timedelta(days=rng.randrange(days), hours=hour, seconds=rng.uniform(0, 3600))
    return _START + offset


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds") + "Z"


def _cost(usage: dict[str, int]) -> float:
    """gpt-4.1 list price: $2 / $8 / $0.5 per 1M input / output / cached input tokens."""
    cached = usage["cached_input_tokens"]
    fresh = usage["input_tokens"] - cached
    return round((fresh * 2.0 + usage["output_tokens"] * 8.0 + cached * 0.5) / 1e6, 8)


def _failure(rng: random.Random) -> dict[str, Any]:
    """A captured call that failed, in each of the forms logs use for `error`."""
    roll = rng.random()
    if roll < 0.55:
        return {"latency_ms": 30000.0,
                "error": {"type": "upstream_timeout", "message": "tool lookup_order timed out after 30 s"}}
    if roll < 0.8:
        return {"latency_ms": round(rng.uniform(80, 300), 1),
                "error": {"type": "rate_limited", "message": "429 Too Many Requests from the model provider"}}
    return {"latency_ms": round(rng.uniform(200, 900), 1), "error": "internal error: tool schema validation failed"}


def _record(rng: random.Random, user: _User, session_id: str, moment: datetime, channel: str, intent: str,
            input_: str | dict[str, Any]) -> dict[str, Any]:
    metadata = {"intent": intent, "tier": user.tier, "channel": channel, "locale": user.locale,
                "flags": dict(user.flags)}
    request = Request(f"req-{rng.getrandbits(64):016x}", input_, user.user_id, session_id, metadata=metadata)
    reply, latency_s = simulate_prod(request, rng)
    captured: dict[str, Any] = {"variant": "prod", "output": reply["output"], "model": reply["model"],
                                "tool_calls": reply["tool_calls"], "usage": reply["usage"],
                                "cost_usd": _cost(reply["usage"]), "latency_ms": round(latency_s * 1000, 1),
                                "error": None}
    if rng.random() < 0.015:
        captured |= {"output": None, "tool_calls": [], "usage": None, "cost_usd": None, **_failure(rng)}
    record: dict[str, Any] = {"request_id": request.request_id, "timestamp": _iso(moment),
                              "user_id": user.user_id, "session_id": session_id, "input": input_,
                              "metadata": metadata}
    if rng.random() < 0.3:
        golden = golden_answer(request)
        record["reference"] = golden["output"] if rng.random() < 0.5 else golden
    record["captured"] = captured
    return record


def _session(rng: random.Random, user: _User, start: datetime) -> list[dict[str, Any]]:
    """One customer conversation: a first message, then follow-ups while they have more to ask."""
    channel = user.channel if rng.random() < 0.8 else _pick(rng, _CHANNELS)
    session_id = f"s-{rng.getrandbits(48):012x}"
    intent = _pick(rng, _INTENTS)
    topic = _topic(rng, intent)
    text = _first_message(rng, intent, topic)
    history: list[dict[str, str]] = []
    moment = start
    records = []
    while True:
        if channel == "email":
            greeting = "" if text.lower().startswith(("hi", "hello")) else "Hello,\n\n"
            input_: str | dict[str, Any] = f"{greeting}{text}\n\nThanks,\n{rng.choice(_NAMES)}"
        elif history or (channel == "mobile_app" and rng.random() < 0.25):
            input_ = {"messages": [*history[-4:], {"role": "user", "content": text}]}
        else:
            input_ = text
        record = _record(rng, user, session_id, moment, channel, intent, input_)
        records.append(record)
        captured = record["captured"]
        step = _follow_up(rng, intent, topic)
        if captured["error"] is not None or channel not in _CHAT_CHANNELS or step is None:
            return records
        history += [{"role": "user", "content": text}, {"role": "assistant", "content": captured["output"]}]
        moment += timedelta(milliseconds=captured["latency_ms"], seconds=rng.uniform(15, 180))
        intent, text = step


def generate_records(n_requests: int = 1200, n_users: int = 300, days: int = 5, seed: int = 7) -> list[dict[str, Any]]:
    """`n_requests` canonical records from `n_users` users over `days` days, sorted by timestamp."""
    rng = random.Random(seed)
    users = _users(rng, n_users)
    weights = [u.activity for u in users]
    records: list[dict[str, Any]] = []
    while len(records) < n_requests:
        user = rng.choices(users, weights)[0]
        records += _session(rng, user, _session_start(rng, days))
    return sorted(records[:n_requests], key=lambda r: (r["timestamp"], r["request_id"]))


def write_log(path: str | Path, **kwargs: Any) -> Path:
    """Write `generate_records(**kwargs)` as JSON Lines to `path`; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for record in generate_records(**kwargs):
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m harness.demo.generator", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="the JSON Lines file to write")
    parser.add_argument("--requests", type=int, default=1200, help="number of requests (default 1200)")
    parser.add_argument("--users", type=int, default=300, help="number of users (default 300)")
    parser.add_argument("--days", type=int, default=5, help="days of traffic (default 5)")
    parser.add_argument("--seed", type=int, default=7, help="random seed; same seed, same bytes (default 7)")
    args = parser.parse_args(argv)
    path = write_log(args.out, n_requests=args.requests, n_users=args.users, days=args.days, seed=args.seed)
    print(f"wrote {args.requests} requests to {path}")


if __name__ == "__main__":
    main()
