"""Demo help center: categories, sections and articles a small online shop would publish.

Everything goes through the real knowledge actions (as the demo admin), so
the articles have versions, slugs and search index entries like any other.
Running it again changes nothing that exists.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.utils import timezone

from concierge.accounts.models import User
from concierge.customers.models import Customer
from concierge.demo import generator
from concierge.knowledge import actions, services
from concierge.knowledge.models import (
    Article,
    ArticleFlag,
    ArticleStatus,
    ArticleVote,
    Category,
    EventKind,
    HelpChannel,
    HelpSession,
    HelpSubscription,
    Section,
    Visibility,
)
from concierge.search.actions import index_now
from concierge.tickets.models import Ticket

# category -> section -> [(title, tags, markdown body)]
HELP_CENTER: dict[str, dict[str, list[tuple[str, list[str], str]]]] = {
    "Orders and shipping": {
        "Tracking": [
            (
                "Where is my order?",
                ["shipping", "tracking"],
                "Every order gets a tracking number as soon as it leaves our warehouse.\n\n"
                "## Find your tracking number\n\n"
                "1. Open the confirmation email we sent when the parcel shipped.\n"
                "2. Click **Track my parcel**, or copy the number into the carrier's site.\n\n"
                "## When to contact us\n\n"
                "If the tracking has not moved for **5 business days**, contact support "
                "with your order number and we will open an investigation with the carrier.",
            ),
            (
                "My parcel says delivered but I did not get it",
                ["shipping", "missing-parcel"],
                "Carriers sometimes mark a parcel delivered a day early.\n\n"
                "## First checks\n\n"
                "- Look around your door, mailbox and with neighbours.\n"
                "- Wait until the end of the next business day.\n\n"
                "## Still missing?\n\n"
                "Contact support: we will ask the carrier for the GPS proof of delivery "
                "and send a replacement or a refund.",
            ),
        ],
        "Delivery options": [
            (
                "Shipping times and costs",
                ["shipping"],
                "| Method | Time | Cost |\n|---|---|---|\n"
                "| Standard | 3–5 business days | free over 50 € |\n"
                "| Express | 1–2 business days | 9.90 € |\n\n"
                "Orders placed before 2 pm ship the same day.",
            ),
            (
                "Change the delivery address of an order",
                ["shipping", "address"],
                "You can change the address until the order ships.\n\n"
                "## Before shipping\n\nOpen **My orders**, choose the order, then "
                "**Edit address**.\n\n## After shipping\n\nContact support: we will ask "
                "the carrier to redirect the parcel (not always possible).",
            ),
        ],
    },
    "Billing and refunds": {
        "Refunds": [
            (
                "How do I get a refund?",
                ["refund", "billing"],
                "We refund any unused item within **30 days** of delivery.\n\n"
                "## Start a return\n\n1. Open **My orders**.\n2. Choose **Return items**.\n"
                "3. Print the prepaid label.\n\n## When the money arrives\n\n"
                "Refunds reach your card **5 to 10 business days** after we receive the "
                "parcel.",
            ),
            (
                "I was charged twice",
                ["billing", "double-charge"],
                "A second charge is usually a *pre-authorisation* that your bank releases "
                "within 3 business days.\n\n## If it stays\n\nContact support with both "
                "transaction dates and we will refund the duplicate at once.",
            ),
        ],
        "Payments": [
            (
                "Update your payment method",
                ["billing", "card"],
                "Go to **Account › Payment methods**, add the new card, then set it as "
                "default. Subscriptions use the default card from the next renewal.",
            ),
            (
                "Download an invoice",
                ["billing", "invoice"],
                "Invoices are in **My orders**: open an order and click **Invoice (PDF)**. "
                "Company details can be added before you download it.",
            ),
        ],
    },
    "Your account": {
        "Sign-in": [
            (
                "Reset your password",
                ["account", "password"],
                "## Reset it yourself\n\n1. On the sign-in page choose **Forgot password?**\n"
                "2. Enter your email address.\n3. Open the link we email you within "
                "15 minutes.\n\n## No email?\n\nCheck your spam folder, then contact "
                "support from the address on your account.",
            ),
            (
                "Sign in without a password",
                ["account", "magic-link"],
                "Choose **Email me a sign-in link** on the sign-in page: the link signs "
                "you in once and expires after 15 minutes.",
            ),
        ],
        "Privacy": [
            (
                "Delete your account and data",
                ["account", "privacy"],
                "Contact support from the address on your account and ask for deletion. "
                "We erase your data within 30 days, except invoices we must keep by law.",
            ),
        ],
    },
}
INTERNAL_ARTICLE = (
    "Goodwill refunds: when agents may approve them",
    "Agents may approve a goodwill refund up to **20 €** without a manager when the "
    "customer had a shipping problem in the last 30 days. Above that, add an internal "
    "note mentioning @Ada.",
)
# For customers signed in to the portal only: visitors are asked to sign in.
SIGNED_IN_ARTICLE = (
    "Download your order history",
    "## From the portal\n\n1. Sign in and open **My requests**.\n2. Choose **Order history**, "
    "then **Download as CSV**.\n\nThe file lists every order of the last three years with "
    "its invoice number, so your accountant can match them.",
)
# For the customers of one organization (the demo customer's): what a team
# writes for one business client, which nobody else should read.
ORGANIZATION_ARTICLE = (
    "Your company account: bulk orders and monthly invoices",
    "Your company orders on one account.\n\n## Bulk orders\n\nOrders of 50 items or more "
    "ship from our business warehouse within **3 working days**.\n\n## Monthly invoice\n\n"
    "All of a month's orders are billed on one invoice on the 1st, payable within 30 days.",
)
# Translations, as a team serving French and Spanish customers would publish:
# the help center then offers those languages, and questions in them find the
# article through its own words (the multilingual encoder alone ranks less well).
FRENCH = {
    "Reset your password": (
        "Réinitialiser votre mot de passe",
        "## Le faire vous-même\n\n1. Sur la page de connexion, choisissez **Mot de passe "
        "oublié ?**\n2. Saisissez votre adresse e-mail.\n3. Ouvrez le lien reçu dans les "
        "15 minutes.",
    ),
    "How do I get a refund?": (
        "Comment obtenir un remboursement ?",
        "Nous remboursons tout article non utilisé dans les **30 jours** suivant la "
        "livraison.\n\n## Lancer un retour\n\n1. Ouvrez **Mes commandes**.\n2. Choisissez "
        "**Retourner des articles**.",
    ),
}
SPANISH = {
    "Reset your password": (
        "Restablecer tu contraseña",
        "## Hazlo tú mismo\n\n1. En la página de inicio de sesión, elige **¿Olvidaste tu "
        "contraseña?**\n2. Escribe tu dirección de correo electrónico.\n3. Abre el enlace que "
        "te enviamos antes de 15 minutos.",
    ),
    "How do I get a refund?": (
        "¿Cómo obtengo un reembolso?",
        "Te devolvemos el dinero de cualquier artículo sin usar en los **30 días** siguientes "
        "a la entrega.\n\n## Iniciar una devolución\n\n1. Abre **Mis pedidos**.\n2. Elige "
        "**Devolver artículos**.\n3. Imprime la etiqueta prepagada.\n\n## Cuándo llega el "
        "dinero\n\nEl reembolso llega a tu tarjeta entre **5 y 10 días hábiles** después de "
        "recibir el paquete.",
    ),
    "Where is my order?": (
        "¿Dónde está mi pedido?",
        "Cada pedido recibe un número de seguimiento en cuanto sale de nuestro almacén.\n\n"
        "## Cuándo contactarnos\n\nSi el seguimiento no avanza en **5 días hábiles**, "
        "contacta con soporte indicando tu número de pedido.",
    ),
}
TRANSLATIONS = {"fr": FRENCH, "es": SPANISH}


def ensure_demo_help_center() -> str:
    """Publishes the demo articles once; returns a line for the demo's summary."""
    admin = User.objects.filter(email=generator.ADMIN_EMAIL).first()
    if admin is None:
        return "Help center: no demo admin, no articles loaded."
    if Category.objects.filter(slug="orders-and-shipping").exists():
        return f"Help center: {Article.objects.count()} articles (already loaded)."
    with transaction.atomic():
        actions.save_branding(
            actor=admin,
            changes={"name": "Concierge Help Center", "locales": " ".join(TRANSLATIONS)},
        )
        created = 0
        # Every fifth article has a review date: half of them already past, so
        # the "due for review" report has something to show, half next week.
        today = timezone.now().date()
        review_dates = (today - timedelta(days=3), today + timedelta(days=7))
        last_section_id = 0
        for category_position, (category_name, sections) in enumerate(HELP_CENTER.items()):
            category = actions.save_category(
                actor=admin, changes={"name": category_name, "position": category_position}
            )
            for section_position, (section_name, articles) in enumerate(sections.items()):
                section = actions.save_section(
                    actor=admin,
                    changes={
                        "name": section_name,
                        "category_id": category.pk,
                        "position": section_position,
                    },
                )
                last_section_id = section.pk
                for position, (title, tags, body) in enumerate(articles):
                    article = actions.create_article(
                        actor=admin,
                        changes={
                            "section_id": section.pk, "title": title, "body": body,
                            "tags": tags, "status": "published", "position": position,
                            "is_promoted": position == 0 and section_position == 0,
                            "review_due_on": (
                                review_dates[created // 5 % 2] if created % 5 == 0 else None
                            ),
                        },
                    )  # fmt: skip
                    created += 1
                    for locale, translated in TRANSLATIONS.items():
                        if title in translated:
                            local_title, local_body = translated[title]
                            actions.update_article(
                                actor=admin,
                                article=article,
                                locale=locale,
                                changes={"title": local_title, "body": local_body},
                            )
        restricted: list[tuple[tuple[str, str], dict[str, Any]]] = [
            (INTERNAL_ARTICLE, {"visibility": "internal", "tags": ["refund"]}),
            (SIGNED_IN_ARTICLE, {"visibility": "signed_in", "tags": ["invoice"]}),
        ]
        demo_organization_id = (
            Customer.objects.filter(user__email=generator.CUSTOMER_EMAIL)
            .values_list("organization_id", flat=True)
            .first()
        )
        if demo_organization_id is not None:
            restricted.append(
                (
                    ORGANIZATION_ARTICLE,
                    {
                        "visibility": "organizations",
                        "organization_ids": [demo_organization_id],
                        "tags": ["invoice"],
                    },
                )
            )
        for (title, body), fields in restricted:
            actions.create_article(
                actor=admin,
                changes={
                    "section_id": last_section_id, "title": title, "body": body,
                    "status": "published", **fields,
                },
            )  # fmt: skip
    return (
        f"Help center: {created + len(restricted)} articles published (1 for agents only, "
        f"1 for signed-in customers, {len(restricted) - 2} for the demo customer's "
        "organization) at /portal/help/."
    )


# What visitors typed into the help center search. The last two ask for what no
# article covers; those the search finds nothing for feed the "searches with no
# result" report (DEMO_NO_RESULT_SHARE of the searches).
DEMO_SEARCHES = (
    "refund", "where is my order", "reset password", "charged twice", "invoice",
    "change delivery address", "parcel delivered not received", "shipping cost",
    "delete account", "sign in link", "gift card balance", "student discount",
)  # fmt: skip
DEMO_NO_RESULT_SHARE = 0.08  # of the searches
DEMO_COMMENTS = {
    True: ["Clear, thanks!", "Exactly what I needed.", ""],
    False: ["Too short: what if that does not work?", "It does not say how long it takes.", ""],
}


# How many days of help center visits the demo records (load_demo --help-center-days).
HELP_CENTER_DAYS = 30


def ensure_demo_help_center_activity(days: int = HELP_CENTER_DAYS) -> str:
    """A month of visits to the help center, so its reports have something to show.

    Each visit goes through the same action the help center's pages call
    (``knowledge.actions.record_event`` / ``vote`` / ``note_request_opened``),
    backdated: searches (some with no result), article views, votes with a
    few comments, and about one visit in four that still opened a request
    (linked to a demo ticket opened within the next hours), which is what the
    self-service rate counts. Running it again changes nothing.
    """
    if HelpSession.objects.exists():
        return "Help center activity: already recorded."
    public = list(
        Article.objects.filter(
            status=ArticleStatus.PUBLISHED, visibility=Visibility.PUBLIC
        ).order_by("pk")
    )
    if not public:
        return "Help center activity: no published articles."
    rng = random.Random(20261124)  # noqa: S311 - repeatable invented data, not secrets
    # The articles were just written and their index entries are still queued
    # behind the load's backlog: index every published one now (agents-only
    # and signed-in ones too), so the searches below count what visitors would
    # find and every reader finds their articles as soon as the demo serves.
    published = Article.objects.filter(status=ArticleStatus.PUBLISHED).order_by("pk")
    index_now(kind="article", object_ids=list(published.values_list("pk", flat=True)))
    visitor = AnonymousUser()
    found: dict[str, list[int]] = {
        query: [hit.article.pk for hit in services.search_articles(
            user=visitor, query=query, locale="en", limit=5
        )]
        for query in DEMO_SEARCHES
    }  # fmt: skip
    # Tickets a visit can have led to, by the hour they were opened.
    now = timezone.now()
    tickets = list(
        Ticket.objects.filter(created_at__gte=now - timedelta(days=days + 1)).order_by("created_at")
    )
    visits = escalated = 0
    # About one visit in five reads its help in the chat widget (its own generator, so
    # the visits themselves are the same as before the widget's were told apart).
    channels = random.Random(20261125)  # noqa: S311 - repeatable invented data
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    for day in range(days - 1, -1, -1):  # the days the reports show, today included
        midnight = today - timedelta(days=day)
        minutes = int(min(timedelta(days=1), now - midnight).total_seconds() // 60)
        for _ in range(rng.randint(6, 16) if minutes > 60 else 0):
            started = midnight + timedelta(minutes=rng.randint(0, minutes - 30))
            visits += 1
            channel = HelpChannel.CHAT if channels.random() < 0.2 else HelpChannel.HELP_CENTER
            escalated += _demo_visit(rng, started, public, found, tickets, channel)
    return (
        f"Help center activity: {visits} visits over {days} days recorded "
        f"({escalated} went on to open a request)."
    )


def _demo_visit(
    rng: random.Random,
    started: datetime,
    public: list[Article],
    found: dict[str, list[int]],
    tickets: list[Ticket],
    channel: str = HelpChannel.HELP_CENTER,
) -> int:
    """One visitor's searches, views and vote; 1 when it opened a request afterwards.

    In the chat widget the typed question is not a search: the widget shows the
    articles it would find, and a click on one is a view."""
    key = actions.new_session_key()
    chat = channel == HelpChannel.CHAT
    clock = started
    read: list[int] = []
    if rng.random() < 0.65:
        no_result = rng.random() < DEMO_NO_RESULT_SHARE
        pool = [q for q in DEMO_SEARCHES if (not found[q]) == no_result] or list(DEMO_SEARCHES)
        query = rng.choice(pool)
        if chat:
            for article_id in found[query]:
                actions.record_event(
                    session_key=key, kind=EventKind.SUGGESTION_SHOWN, article_id=article_id,
                    locale="en", now=clock, channel=channel,
                )  # fmt: skip
        else:
            actions.record_event(
                session_key=key, kind=EventKind.SEARCH, query=query,
                result_count=len(found[query]), locale="en", now=clock,
            )  # fmt: skip
        read = found[query][: rng.randint(0, 2)]
    else:
        read = [rng.choice(public).pk]
        if chat:
            actions.record_event(
                session_key=key, kind=EventKind.SUGGESTION_SHOWN, article_id=read[0],
                locale="en", now=clock, channel=channel,
            )  # fmt: skip
    for article_id in read:
        clock += timedelta(seconds=rng.randint(20, 240))
        for kind in [EventKind.SUGGESTION_CLICK, EventKind.VIEW] if chat else [EventKind.VIEW]:
            actions.record_event(
                session_key=key, kind=kind, article_id=article_id, locale="en", now=clock,
                channel=channel,
            )  # fmt: skip
    if read and rng.random() < 0.3:
        helpful = rng.random() < 0.7
        article = next(a for a in public if a.pk == read[-1])
        ballot = actions.vote(
            session_key=key, article=article, is_helpful=helpful,
            comment=rng.choice(DEMO_COMMENTS[helpful]), locale="en",
        )  # fmt: skip
        # Votes take no time of their own (record_event does): stamp it after the reading.
        ArticleVote.objects.filter(pk=ballot.pk).update(created_at=clock, updated_at=clock)
    if rng.random() < 0.25:
        # The visit did not end it: a request opened within the next few hours.
        later = [t for t in tickets if clock <= t.created_at <= clock + timedelta(hours=6)]
        if later:
            actions.note_request_opened(session_key=key, ticket=rng.choice(later))
            return 1
    return 0


# Agents' notes that an article needs an update, raised while answering: (title, note).
DEMO_FLAGS = (
    ("Where is my order?", "Customers ask about parcels stuck in customs: say what to do."),
    ("How do I get a refund?", "Refunds to PayPal arrive within 3 days: say so apart from cards."),
)


def ensure_demo_article_flags() -> str:
    """Two open flags by demo agents, so the article page, the list's filter, the reports
    and the owner's notifications show what knowledge capture looks like."""
    if ArticleFlag.objects.exists():
        return "Article flags: already raised."
    admin = User.objects.filter(email=generator.ADMIN_EMAIL).first()
    agents = list(User.objects.filter(role="agent", is_active=True).order_by("pk")[:2])
    if admin is None or not agents:
        return "Article flags: no demo agents."
    raised = 0
    for (title, note), agent in zip(DEMO_FLAGS, agents * 2, strict=False):
        article = Article.objects.filter(translations__title=title).first()
        if article is None:
            continue
        if article.owner_id is None:  # the admin keeps the demo articles up to date
            actions.update_article(actor=admin, article=article, changes={"owner_id": admin.pk})
        ticket = Ticket.objects.filter(assignee=agent).order_by("-created_at").first()
        actions.flag_article(actor=agent, article=article, note=note, ticket=ticket)
        raised += 1
    return f"Article flags: {raised} raised by agents (Knowledge → Articles → Flagged)."


def ensure_demo_following() -> str:
    """The demo customer follows a section and an article (their Following page)."""
    customer = User.objects.filter(email=generator.CUSTOMER_EMAIL).first()
    if customer is None:
        return "Following: no demo customer."
    if HelpSubscription.objects.filter(user=customer).exists():
        return "Following: already set."
    article = Article.objects.filter(translations__title="How do I get a refund?").first()
    section = Section.objects.filter(name="Tracking").first()
    if article is not None:
        actions.follow(actor=customer, article=article)
    if section is not None:
        actions.follow(actor=customer, section=section)
    return "Following: the demo customer follows an article and a section (help center: Following)."
