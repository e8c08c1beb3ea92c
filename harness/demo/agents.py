"""Two simulated support agents of the demo shop: `prod_v1` (production) and `candidate_v2`.

Both act like an LLM agent with tools: route on `metadata["intent"]` (keywords in the text
when it is missing), find the order number, product and address anywhere in the
conversation, call the shop's tools through the replay's tool sandbox (`context.tools`:
recorded results served, writes such as issue_refund blocked; the calls a plan makes are a
pure function of the conversation, so one request always makes the same calls) and phrase the answer with fresh
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
import math
import os
import random
from dataclasses import dataclass
from typing import Any

from harness.agents import CallContext
from harness.demo.plans import Plan, intent, plain, plan_for
from harness.demo.shop import CATALOG, INTENTS, Product, order_facts
from harness.errors import ToolCallError
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


def _phrase(plan: Plan, rng: random.Random, garnish: float) -> str:
    body = rng.choice(_BODIES[plan.outcome]).format(**plan.facts)
    opener = rng.choice(_OPENERS) if rng.random() < garnish else ""
    closer = rng.choice(_CLOSERS) if rng.random() < garnish else ""
    return opener + body + closer


def _answer(request: Request, plan: Plan, profile: _Profile, rng: random.Random) -> dict[str, Any]:
    """The reply in the canonical captured shape, with token counts a real call would have."""
    output = _phrase(plan, rng, profile.garnish)
    n_tools = len(plan.tool_calls)
    history = sum(len(plain(m.get("content"))) for m in request.messages) // 4
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


async def _use_tools(plan: Plan, context: CallContext | None) -> None:
    """Make the plan's tool calls through the replay's tool sandbox, when there is one: the calls
    (blocked writes included) become this answer's actions, with the results the sandbox served.
    A refused call changes nothing here: the answer rests on the plan's facts."""
    if context is None or context.tools is None:
        return
    for call in plan.tool_calls:
        try:
            await context.tools.call(call["name"], call["arguments"])
        except ToolCallError:
            continue


async def _run(request: Request, plan: Plan, profile: _Profile, rng: random.Random,
               context: CallContext | None) -> dict[str, Any]:
    await _use_tools(plan, context)
    answer = _answer(request, plan, profile, rng)
    await asyncio.sleep(_latency_s(profile, len(plan.tool_calls), rng) * _latency_scale())
    if rng.random() < profile.error_rate:
        raise RuntimeError("upstream tool timeout")
    return answer


# --- the public agents -------------------------------------------------------------


async def prod_v1(request: Request, context: CallContext | None = None) -> dict[str, Any]:
    """Production: gpt-4.1 with the full prompt; takes the right action on every intent."""
    rng = random.Random()
    return await _run(request, plan_for(request), _PROD, rng, context)


async def candidate_v2(request: Request, context: CallContext | None = None) -> dict[str, Any]:
    """The release candidate: cheaper, but deflects most refunds and has a slow tail."""
    rng = random.Random()
    plan = plan_for(request)
    if intent(request) == "refund_request" and rng.random() < _DEFLECT_SHARE:
        plan = Plan("deflect", {})
    return await _run(request, plan, _CANDIDATE, rng, context)


def simulate_prod(request: Request, rng: random.Random) -> tuple[dict[str, Any], float]:
    """prod_v1's reply and latency in seconds drawn from `rng`, without waiting or failing.

    The generator uses it to fill a log's `captured` field deterministically.
    """
    plan = plan_for(request)
    return _answer(request, plan, _PROD, rng), _latency_s(_PROD, len(plan.tool_calls), rng)


def golden_answer(request: Request) -> dict[str, Any]:
    """The reviewed answer: the first phrasing, plus the expected tool calls without results."""
    plan = plan_for(request)
    return {
        "output": _BODIES[plan.outcome][0].format(**plan.facts),
        "tool_calls": [{"name": c["name"], "arguments": c["arguments"]} for c in plan.tool_calls],
    }
