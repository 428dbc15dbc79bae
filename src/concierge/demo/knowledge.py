"""Demo help center: categories, sections and articles a small online shop would publish.

Everything goes through the real knowledge actions (as the demo admin), so
the articles have versions, slugs and search index entries like any other.
Running it again changes nothing that exists.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from concierge.accounts.models import User
from concierge.demo import generator
from concierge.knowledge import actions
from concierge.knowledge.models import Article, Category

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
        review_soon = timezone.now().date() + timedelta(days=7)
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
                            "review_due_on": review_soon if created % 5 == 0 else None,
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
        title, body = INTERNAL_ARTICLE
        actions.create_article(
            actor=admin,
            changes={
                "section_id": last_section_id, "title": title, "body": body,
                "status": "published", "visibility": "internal", "tags": ["refund"],
            },
        )  # fmt: skip
    return f"Help center: {created + 1} articles published (1 for agents only) at /portal/help/."
