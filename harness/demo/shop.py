"""The demo shop's world: its products, intents, and the facts of any order (a pure function of its id)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

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


def stable_number(*parts: str) -> int:
    """A hash that is the same in every process (unlike `hash`), for the shop's facts."""
    return int.from_bytes(hashlib.sha256("|".join(parts).encode()).digest()[:8], "big")


def shop_day(offset: int) -> str:
    """The date `offset` days from the shop's today, as "November 16"."""
    day = _START + timedelta(days=offset)
    return f"{day:%B} {day.day}"


def order_facts(order_id: str) -> dict[str, Any]:
    """What the order system knows about an order: a pure function of its number."""
    h = stable_number("order", order_id)
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
        facts["delivered_on"] = shop_day(-1 - h // 13 % 5)
    elif status != "processing":
        facts["eta"] = shop_day(5 + h // 13 % 5)
    return facts


