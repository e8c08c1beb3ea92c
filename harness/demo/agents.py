"""Two simulated support agents of the demo shop: `prod_v1` (production) and `candidate_v2`.

Both act like an LLM agent with tools: route on `metadata["intent"]` (keywords in the text
when it is missing), find the order number, product and address anywhere in the
conversation, call the shop's tools (their results are a pure function of the arguments,
so one request always gets the same tool calls) and phrase the answer with fresh
randomness on every call, so prod differs a little from itself: the noise floor.

Planted differences, the findings a release review of candidate_v2 must make:

- cost: it runs on gpt-4.1-mini (5x cheaper per token) with a shorter prompt and terser
  answers: ~$0.00034 per request against prod's ~$0.0020, about 83% cheaper.
- quality on ONE intent: on `refund_request` it skips every tool (so no `issue_refund`)
  in 85% of calls and deflects to "contact our support team", far in meaning from prod's
  "refund issued" (MiniLM similarity to prod ~0.45, where prod to itself is ~0.8). On the
  other intents it makes prod's tool calls and is as close to prod as prod is to itself.
- latency tail: 6% of its calls take 1.5-3.5 s. Prod is lognormal (median ~230 ms,
  p95 ~0.7 s, p99 ~1.1 s); the candidate's p50 is a little better (~200 ms) but its
  p95 (~1.7-2.3 s) and p99 (~3.2 s) are far worse. 3,600 calls at concurrency 64 take ~20 s.
- errors: it raises RuntimeError("upstream tool timeout") on 1% of calls, prod on 0.3%.

Latency is simulated with `asyncio.sleep`, multiplied by the environment variable
`HARNESS_DEMO_LATENCY_SCALE` (default 1.0, read on every call; tests set 0).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from harness.records import Request

__all__ = [
    "prod_v1",
    "candidate_v2",
    "simulate_prod",
    "golden_answer",
    "order_facts",
    "Product",
    "CATALOG",
    "INTENTS",
]

INTENTS = ("order_status", "refund_request", "product_question", "shipping_change", "cancel_order", "account_help")


@dataclass(frozen=True, slots=True)
class Product:
    """One catalog item and what the knowledge base says about it."""

    name: str
    short: str  # what customers call it
    price: float
    warranty_years: int
    size: str
    works_with: str
    care: str

    @property
    def key(self) -> str:
        return self.name.split()[0].lower()


CATALOG = (
    Product("Aurora Desk Lamp", "Aurora lamp", 49.0, 2, "45 cm tall with a 15 cm base",
            "any E27 LED bulb up to 10 W", "wipe it with a dry, soft cloth"),
    Product("Nimbus Wireless Headset", "Nimbus headset", 89.0, 1, "18 cm across and 240 g",
            "iPhone and Android phones over Bluetooth 5.3", "wipe the ear cushions with a slightly damp cloth"),
    Product("Terra Hiking Backpack", "Terra backpack", 129.0, 5, "30 litres, 55 x 30 x 22 cm",
            "most 3-litre hydration bladders", "hand wash it in cold water and let it air dry"),
    Product("Breeze Standing Fan", "Breeze fan", 79.0, 2, "110 cm tall with a 40 cm head",
            "the Breeze remote and the ShopHome app", "wipe the blades with a damp cloth once a month"),
    Product("Pixel Mechanical Keyboard", "Pixel keyboard", 119.0, 2, "44 x 13 cm, 3.5 cm high",
            "Windows, macOS and Linux over USB-C or Bluetooth", "use compressed air between the keys"),
    Product("Cascade Water Bottle", "Cascade bottle", 24.0, 10, "750 ml and 26 cm tall",
            "standard car cup holders and the Cascade sport lid", "put it in the dishwasher, top rack only"),
    Product("Orbit Smart Watch", "Orbit watch", 199.0, 1, "a 42 mm case with a 20 mm strap",
            "iPhone and Android phones with the Orbit app", "rinse it with fresh water after swimming"),
    Product("Summit Rain Jacket", "Summit jacket", 149.0, 2, "XS to XXL, true to size",
            "the Summit zip-in fleece", "machine wash it cold without fabric softener"),
    Product("Ember Cast Iron Skillet", "Ember skillet", 59.0, 10, "26 cm across and 2.2 kg",
            "gas, electric and induction hobs and ovens up to 260 C",
            "hand wash it, dry it at once and oil it lightly"),
    Product("Lumen Yoga Mat", "Lumen mat", 39.0, 1, "183 x 61 cm and 6 mm thick",
            "the Lumen carry strap", "wipe it with mild soap and water"),
    Product("Drift Office Chair", "Drift chair", 289.0, 5, "seat height 42 to 52 cm",
            "desks from 68 to 80 cm high", "vacuum the fabric and spot clean it with mild soap"),
    Product("Echo Bluetooth Speaker", "Echo speaker", 69.0, 1, "18 x 7 cm and 540 g",
            "any Bluetooth device, and a second Echo for stereo", "wipe it with a dry cloth"),
)

_START = date(2026, 11, 16)
_CARRIERS = ("UPS", "DHL", "FedEx", "USPS")
_STATUSES = (("processing", 25), ("shipped", 30), ("out_for_delivery", 8), ("delivered", 30), ("delayed", 7))


def _stable(*parts: str) -> int:
    """A hash that is the same in every process (unlike `hash`), for the shop's facts."""
    return int.from_bytes(hashlib.sha256("|".join(parts).encode()).digest()[:8], "big")


def _day(offset: int) -> str:
    day = _START + timedelta(days=offset)
    return f"{day:%B} {day.day}"


def order_facts(order_id: str) -> dict[str, Any]:
    """What the order system knows about an order: a pure function of its number."""
    h = _stable("order", order_id)
    pick = h // 97 % 100
    for status, weight in _STATUSES:
        if pick < weight:
            break
        pick -= weight
    product = CATALOG[h % len(CATALOG)]
    facts: dict[str, Any] = {"order_id": order_id, "status": status, "product": product.name, "total": product.price}
    if status != "processing":
        carrier = _CARRIERS[h // 7 % len(_CARRIERS)]
        facts |= {"carrier": carrier, "tracking": f"{carrier[:2].upper()}{h % 10**10:010d}"}
    if status == "delivered":
        facts["delivered_on"] = _day(-1 - h // 13 % 5)
    elif status != "processing":
        facts["eta"] = _day(5 + h // 13 % 5)
    return facts


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
        texts = tuple(_plain(m.get("content")) for m in messages)
        user_texts = tuple(_plain(m.get("content")) for m in messages if m.get("role") == "user")
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


def _plain(content: Any) -> str:
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


def _intent(request: Request) -> str:
    intent = request.metadata.get("intent")
    if intent in INTENTS:
        return intent
    chat = _Chat.of(request)
    fallback = "order_status" if chat.order_id else "product_question"
    return _keyword(chat.user_texts[:1], _INTENT_WORDS, fallback)


# --- deciding what to do: tools and the facts of the answer --------------------------


@dataclass(frozen=True, slots=True)
class _Plan:
    """What the agent decided: which kind of answer, with which facts, after which tool calls."""

    outcome: str
    facts: dict[str, Any]
    tool_calls: tuple[dict[str, Any], ...] = ()


def _call(name: str, arguments: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "arguments": arguments, "result": result}


def _lookup(order_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    facts = order_facts(order_id)
    return facts, _call("lookup_order", {"order_id": order_id}, facts)


def _order_status(chat: _Chat) -> _Plan:
    if (order_id := chat.order_id) is None:
        return _Plan("ask_order", {})
    facts, lookup = _lookup(order_id)
    return _Plan(f"status_{facts['status']}", facts, (lookup,))


def _refund_request(chat: _Chat) -> _Plan:
    if (order_id := chat.order_id) is None:
        return _Plan("ask_order", {})
    facts, lookup = _lookup(order_id)
    reason = _keyword(chat.user_texts, _REASONS, "changed_mind")
    refund_id = f"rf-{_stable('refund', order_id) % 16**8:08x}"
    refund = _call(
        "issue_refund",
        {"order_id": order_id, "amount": facts["total"], "reason": reason},
        {"refund_id": refund_id, "status": "approved", "amount": facts["total"]},
    )
    return _Plan("refund_issued", facts | {"refund_id": refund_id}, (lookup, refund))


def _cancel_order(chat: _Chat) -> _Plan:
    if (order_id := chat.order_id) is None:
        return _Plan("ask_order", {})
    facts, lookup = _lookup(order_id)
    if facts["status"] != "processing":
        return _Plan("cancel_too_late", facts, (lookup,))
    cancel = _call("cancel_order", {"order_id": order_id}, {"cancelled": True, "refund_amount": facts["total"]})
    return _Plan("cancelled", facts, (lookup, cancel))


def _shipping_change(chat: _Chat) -> _Plan:
    if (order_id := chat.order_id) is None:
        return _Plan("ask_order", {})
    facts, lookup = _lookup(order_id)
    if facts["status"] != "processing":
        return _Plan("address_too_late", facts, (lookup,))
    if (address := _find(_ADDRESS_RE, chat.user_texts)) is None:
        return _Plan("ask_address", facts, (lookup,))
    update = _call("update_address", {"order_id": order_id, "address": address}, {"updated": True})
    return _Plan("address_updated", facts | {"address": address}, (lookup, update))


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


def _product_question(chat: _Chat) -> _Plan:
    product = chat.product
    if product is None and (order_id := chat.order_id):
        product = next(p for p in CATALOG if p.name == order_facts(order_id)["product"])
    if product is None:
        return _Plan("ask_product", {})
    topic = _keyword(chat.user_texts, _TOPICS, "overview")
    h = _stable("kb", product.name, topic)
    entry = "stock_out" if topic == "stock" and h % 4 == 0 else topic
    answer = _PRODUCT_KB[entry].format(p=product, restock=_day(4 + h % 10))
    article = {"id": f"kb-{h % 9000 + 1000}", "title": f"{product.name}: {topic}", "snippet": answer}
    search = _call("search_kb", {"query": f"{product.name} {topic}"}, {"articles": [article]})
    return _Plan("product_info", {"answer": answer, "product": product.name}, (search,))


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


def _account_help(chat: _Chat) -> _Plan:
    topic = _keyword(chat.user_texts, _ACCOUNT_TOPICS, "settings")
    if topic == "password":
        reset = _call("reset_password", {"user_id": chat.user_id}, {"sent": True, "expires_minutes": 30})
        return _Plan("password_reset", {}, (reset,))
    answer = _ACCOUNT_KB[topic]
    search = _call("search_kb", {"query": f"account {topic.replace('_', ' ')}"},
                   {"articles": [{"id": f"kb-{_stable('kb', topic) % 9000 + 1000}", "snippet": answer}]})
    return _Plan("account_info", {"answer": answer}, (search,))


_HANDLERS: dict[str, Callable[[_Chat], _Plan]] = {
    "order_status": _order_status,
    "refund_request": _refund_request,
    "product_question": _product_question,
    "shipping_change": _shipping_change,
    "cancel_order": _cancel_order,
    "account_help": _account_help,
}


def _plan(request: Request) -> _Plan:
    return _HANDLERS[_intent(request)](_Chat.of(request))


# --- saying it: the phrasing varies, the meaning does not ----------------------------

_BODIES = {
    "ask_order": (
        "Could you share your order number? It's the 6-digit number in your confirmation email, "
        "and I'll look into it right away.",
        "I'd be glad to check. What's your order number? You'll find the 6 digits in your order confirmation email.",
        "To look into this I need your order number - it's the 6-digit number in your confirmation email.",
    ),
    "ask_product": (
        "Which product are you asking about? Send me its name and I'll check the details.",
        "Could you tell me which product you mean? Then I can look up the details for you.",
    ),
    "status_processing": (
        "Order {order_id} ({product}) is being prepared in our warehouse and should ship within 1-2 business days.",
        "Your {product} (order {order_id}) is still being packed in our warehouse; it should ship within "
        "1-2 business days.",
        "Order {order_id} hasn't shipped yet: the {product} is being prepared and should leave our warehouse "
        "in 1-2 business days.",
    ),
    "status_shipped": (
        "Order {order_id} ({product}) has shipped with {carrier}, tracking number {tracking}. "
        "It should arrive by {eta}.",
        "Good news: your {product} is on its way with {carrier} (tracking {tracking}) and should arrive by {eta}.",
        "Your order {order_id} shipped via {carrier}; the tracking number is {tracking} and the estimated "
        "delivery is {eta}.",
    ),
    "status_out_for_delivery": (
        "Order {order_id} ({product}) is out for delivery with {carrier} today (tracking {tracking}).",
        "Your {product} is out for delivery with {carrier} and should reach you today. Tracking: {tracking}.",
        "Order {order_id} is on the {carrier} van for delivery today; the tracking number is {tracking}.",
    ),
    "status_delivered": (
        "Order {order_id} ({product}) was delivered by {carrier} on {delivered_on}. If you can't find it, "
        "please check with neighbours or your mailroom and let me know.",
        "{carrier} shows your {product} (order {order_id}) as delivered on {delivered_on}. If it's not there, "
        "check with neighbours or your building's mailroom, then get back to me.",
        "According to {carrier}, order {order_id} was delivered on {delivered_on}. Can't find it? Check with "
        "neighbours or the mailroom first, and tell me if it still doesn't turn up.",
    ),
    "status_delayed": (
        "Order {order_id} ({product}) is delayed at the {carrier} depot. The new estimated delivery date is "
        "{eta}; sorry for the wait.",
        "I'm sorry: your {product} is held up at the {carrier} depot. {carrier} now expects to deliver it by {eta}.",
        "Order {order_id} is running late - it's at the {carrier} depot and the new delivery estimate is {eta}.",
    ),
    "refund_issued": (
        "I've issued a refund of ${total:.2f} for order {order_id} (refund {refund_id}). It will be back on your "
        "original payment method within 5-7 business days.",
        "Done: refund {refund_id} of ${total:.2f} for your {product} (order {order_id}) is approved and should "
        "reach your original payment method in 5-7 business days.",
        "Your refund of ${total:.2f} for order {order_id} has been processed (reference {refund_id}); expect it "
        "on your original payment method within 5-7 business days.",
    ),
    "cancelled": (
        "Order {order_id} ({product}) is cancelled. The full ${total:.2f} will be refunded to your original "
        "payment method within 3-5 business days.",
        "I've cancelled order {order_id}. You'll get the ${total:.2f} back on your original payment method "
        "in 3-5 business days.",
        "Your order {order_id} for the {product} has been cancelled, and ${total:.2f} is on its way back to your "
        "original payment method (3-5 business days).",
    ),
    "cancel_too_late": (
        "Order {order_id} has already left our warehouse with {carrier}, so it can no longer be cancelled. "
        "You can return the {product} within 30 days of delivery for a full refund.",
        "Unfortunately order {order_id} is already with {carrier} and can't be cancelled anymore. Once it "
        "arrives, you can return the {product} within 30 days for a full refund.",
    ),
    "address_updated": (
        "I've updated the delivery address for order {order_id} to {address}. Your {product} will ship there.",
        "Done! Order {order_id} will now be delivered to {address}.",
        "The shipping address on order {order_id} is now {address}; the {product} will go there.",
    ),
    "address_too_late": (
        "Order {order_id} has already shipped with {carrier} (tracking {tracking}), so I can't change the "
        "address anymore. You can redirect the parcel on the {carrier} website with that tracking number.",
        "Since order {order_id} is already with {carrier}, the address can't be changed on our side. Use "
        "tracking number {tracking} on the {carrier} website to redirect it.",
    ),
    "ask_address": (
        "Order {order_id} hasn't shipped yet, so I can still change the address. What's the new delivery address?",
        "Good timing: order {order_id} is still in our warehouse. Which address should it go to instead?",
    ),
    "product_info": (
        "{answer}",
        "{answer} You'll find more details on the product page.",
        "Here's what I found: {answer}",
    ),
    "password_reset": (
        "I've sent a password reset link to the email on your account. It's valid for 30 minutes - check your "
        "spam folder if you don't see it.",
        "A password reset link is on its way to your account email and works for 30 minutes. If it's not in "
        "your inbox, check spam.",
        "Done: check your email for a password reset link (valid for 30 minutes, and it may land in spam).",
    ),
    "account_info": ("{answer}", "Here's how: {answer}", "{answer} Let me know if any step doesn't work."),
    "deflect": (
        "I'm sorry to hear that. Refunds are handled by our support team - please contact them through the "
        "Help Center and they'll take it from there.",
        "I understand. For refund requests, please reach out to our customer support team by email; "
        "they'll be happy to help.",
        "Thanks for letting me know. I'm not able to help with that here, but our support team can - please "
        "contact them via the Help Center.",
    ),
}
_OPENERS = ("Thanks for reaching out! ", "Happy to help. ", "Sure thing. ", "Hi! ", "Thanks for your patience. ")
_CLOSERS = (" Is there anything else I can help with?", " Let me know if you need anything else.",
            " Have a great day!")


@dataclass(frozen=True, slots=True)
class _Profile:
    """How one agent version talks, costs and waits."""

    model: str
    prompt_tokens: int  # system prompt and tool schemas
    cache_hit: float  # share of calls whose prompt prefix is in the provider's cache
    tokens_per_tool: int  # tool results read back plus the call itself
    garnish: float  # chance of an opener, and separately of a closer
    median_s: float
    per_tool_s: float
    sigma: float
    tail_share: float  # share of calls stuck 1.5-3.5 s
    error_rate: float


_PROD = _Profile("gpt-4.1", 620, 0.55, 110, 0.5, 0.18, 0.04, 0.64, 0.0, 0.003)
_CANDIDATE = _Profile("gpt-4.1-mini", 500, 0.55, 90, 0.3, 0.16, 0.035, 0.6, 0.06, 0.01)
_DEFLECT_SHARE = 0.85


def _phrase(plan: _Plan, rng: random.Random, garnish: float) -> str:
    body = rng.choice(_BODIES[plan.outcome]).format(**plan.facts)
    opener = rng.choice(_OPENERS) if rng.random() < garnish else ""
    closer = rng.choice(_CLOSERS) if rng.random() < garnish else ""
    return opener + body + closer


def _answer(request: Request, plan: _Plan, profile: _Profile, rng: random.Random) -> dict[str, Any]:
    """The reply in the canonical captured shape, with token counts a real call would have."""
    output = _phrase(plan, rng, profile.garnish)
    n_tools = len(plan.tool_calls)
    history = sum(len(_plain(m.get("content"))) for m in request.messages) // 4
    input_tokens = profile.prompt_tokens + history + profile.tokens_per_tool * n_tools + rng.randint(0, 60)
    cached = profile.prompt_tokens // 128 * 128 if rng.random() < profile.cache_hit else 0
    return {
        "output": output,
        "tool_calls": [dict(call) for call in plan.tool_calls],
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": len(output) // 4 + 25 * n_tools + rng.randint(15, 45),
            "cached_input_tokens": cached,
        },
        "model": profile.model,
    }


def _latency_s(profile: _Profile, n_tools: int, rng: random.Random) -> float:
    if rng.random() < profile.tail_share:
        return rng.uniform(1.5, 3.5)
    return rng.lognormvariate(math.log(profile.median_s + profile.per_tool_s * n_tools), profile.sigma)


def _latency_scale() -> float:
    return float(os.environ.get("HARNESS_DEMO_LATENCY_SCALE", "1"))


async def _run(request: Request, plan: _Plan, profile: _Profile, rng: random.Random) -> dict[str, Any]:
    answer = _answer(request, plan, profile, rng)
    await asyncio.sleep(_latency_s(profile, len(plan.tool_calls), rng) * _latency_scale())
    if rng.random() < profile.error_rate:
        raise RuntimeError("upstream tool timeout")
    return answer


# --- the public agents -------------------------------------------------------------


async def prod_v1(request: Request) -> dict[str, Any]:
    """Production: gpt-4.1 with the full prompt; takes the right action on every intent."""
    rng = random.Random()
    return await _run(request, _plan(request), _PROD, rng)


async def candidate_v2(request: Request) -> dict[str, Any]:
    """The release candidate: cheaper, but deflects most refunds and has a slow tail."""
    rng = random.Random()
    plan = _plan(request)
    if _intent(request) == "refund_request" and rng.random() < _DEFLECT_SHARE:
        plan = _Plan("deflect", {})
    return await _run(request, plan, _CANDIDATE, rng)


def simulate_prod(request: Request, rng: random.Random) -> tuple[dict[str, Any], float]:
    """prod_v1's reply and latency in seconds drawn from `rng`, without waiting or failing.

    The generator uses it to fill a log's `captured` field deterministically.
    """
    plan = _plan(request)
    return _answer(request, plan, _PROD, rng), _latency_s(_PROD, len(plan.tool_calls), rng)


def golden_answer(request: Request) -> dict[str, Any]:
    """The reviewed answer: the first phrasing, plus the expected tool calls without results."""
    plan = _plan(request)
    return {
        "output": _BODIES[plan.outcome][0].format(**plan.facts),
        "tool_calls": [{"name": c["name"], "arguments": c["arguments"]} for c in plan.tool_calls],
    }
