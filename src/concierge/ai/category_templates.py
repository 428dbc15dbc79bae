"""Starter sets of triage categories, so a team gets useful predictions on day one.

Few-shot triage needs only a name, a description and a handful of example
phrases per category (see ``predictors.FewShotIntent``); a team that
does not want to write them from nothing starts from the set closest to its
business, then edits, deletes and adds (Settings → AI triage). Every agent
correction is still a label, and a trained classifier takes over once there
are enough. Written for this product; the phrases are how customers ask,
short and in plain words, because that is what the encoder compares.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CategoryTemplate:
    name: str
    description: str
    examples: tuple[str, ...]


@dataclass(frozen=True)
class TemplateSet:
    key: str
    title: str
    categories: tuple[CategoryTemplate, ...]


ECOMMERCE = TemplateSet(
    key="ecommerce",
    title="Online shop",
    categories=(
        CategoryTemplate(
            "billing",
            "Payments, charges, refunds not received, invoices and receipts.",
            (
                "I was charged twice for one order",
                "where is my refund",
                "I need an invoice for my purchase",
                "my card was declined at checkout",
                "why was I charged more than the price shown",
            ),
        ),
        CategoryTemplate(
            "shipping",
            "Where an order is: delivery times, tracking, late or lost parcels.",
            (
                "where is my order",
                "my tracking number does not work",
                "the parcel says delivered but I never got it",
                "how long does delivery take",
                "can you ship to my country",
            ),
        ),
        CategoryTemplate(
            "returns",
            "Sending items back, exchanges, wrong or damaged items received.",
            (
                "I want to return these shoes",
                "how do I exchange for another size",
                "the item arrived broken",
                "I received the wrong product",
                "I need a return label",
            ),
        ),
        CategoryTemplate(
            "order_changes",
            "Changing or cancelling an order before it ships, delivery address changes.",
            (
                "please cancel my order",
                "I need to change the delivery address",
                "can I add an item to my order",
                "I ordered the wrong colour, can you change it",
            ),
        ),
        CategoryTemplate(
            "product",
            "Questions about products: sizes, stock, compatibility, how to use them.",
            (
                "is this jacket true to size",
                "when will this be back in stock",
                "does this charger work with my phone",
                "what material is this made of",
            ),
        ),
        CategoryTemplate(
            "account",
            "Signing in, passwords, email and profile changes, deleting an account.",
            (
                "I cannot log in to my account",
                "reset my password",
                "change the email address on my account",
                "please delete my account",
            ),
        ),
    ),
)

SOFTWARE = TemplateSet(
    key="software",
    title="Software or online service",
    categories=(
        CategoryTemplate(
            "billing",
            "Subscriptions, plans, charges, invoices, refunds and payment methods.",
            (
                "I was charged after I cancelled",
                "how do I upgrade my plan",
                "I need a copy of last month's invoice",
                "update my credit card",
                "can I get a refund for the unused months",
            ),
        ),
        CategoryTemplate(
            "bug",
            "Something does not work: errors, crashes, wrong results, slow pages.",
            (
                "the app crashes when I open a report",
                "I get an error when saving",
                "the export is empty",
                "the page has been loading forever",
                "buttons do nothing since the update",
            ),
        ),
        CategoryTemplate(
            "outage",
            "The service is down or unreachable for many users at once.",
            (
                "is the site down",
                "nobody on our team can log in right now",
                "the API returns 503 errors",
                "your service has been unreachable for an hour",
            ),
        ),
        CategoryTemplate(
            "account_access",
            "Signing in, passwords, two-factor codes, single sign-on, locked accounts.",
            (
                "I forgot my password",
                "my two-factor code is not accepted",
                "single sign-on stopped working",
                "my account is locked",
                "I did not get the sign-in email",
            ),
        ),
        CategoryTemplate(
            "how_to",
            "How to use a feature or set something up.",
            (
                "how do I invite a colleague",
                "where can I change the notification settings",
                "how do I export my data",
                "can I set up a recurring task",
            ),
        ),
        CategoryTemplate(
            "integrations",
            "The API, webhooks and connections to other tools.",
            (
                "my API key does not work",
                "webhooks are not being delivered",
                "how do I connect this to Slack",
                "the sync with our CRM stopped",
            ),
        ),
        CategoryTemplate(
            "feature_request",
            "Ideas and requests for what the product does not do yet.",
            (
                "it would be great if you added dark mode",
                "please support exporting to Excel",
                "can you add an option to schedule reports",
                "we need a mobile app",
            ),
        ),
        CategoryTemplate(
            "cancellation",
            "Ending a subscription or closing the account.",
            (
                "I want to cancel my subscription",
                "how do I close our account",
                "please stop renewing my plan",
                "we are moving to another tool",
            ),
        ),
    ),
)

TELECOM = TemplateSet(
    key="telecom",
    title="Mobile or internet provider",
    categories=(
        CategoryTemplate(
            "billing",
            "Bills, charges, payments, roaming costs and refunds.",
            (
                "my bill is higher than usual",
                "I was charged for roaming at home",
                "I paid but my line is still suspended",
                "explain the charges on my invoice",
            ),
        ),
        CategoryTemplate(
            "network",
            "No signal, no data, slow internet, dropped calls, outages in an area.",
            (
                "I have no signal at home",
                "mobile data does not work",
                "my internet is very slow tonight",
                "calls keep dropping",
                "is there an outage in my area",
            ),
        ),
        CategoryTemplate(
            "device",
            "Phones, routers, SIM and eSIM cards: setting them up or replacing them.",
            (
                "my SIM card is not recognised",
                "how do I set up the eSIM",
                "the router keeps restarting",
                "my new phone does not send picture messages",
            ),
        ),
        CategoryTemplate(
            "plan_changes",
            "Changing plans, adding data or lines, keeping a number when moving.",
            (
                "I want a plan with more data",
                "add a line for my daughter",
                "can I keep my number if I switch to you",
                "downgrade to a cheaper plan",
            ),
        ),
        CategoryTemplate(
            "moving_or_installation",
            "New connections, installation appointments and moving house.",
            (
                "when will the technician come",
                "I am moving, can I take my internet with me",
                "book an installation appointment",
                "my new line is not active yet",
            ),
        ),
        CategoryTemplate(
            "cancellation",
            "Ending a contract or line.",
            (
                "I want to cancel my contract",
                "how much is the early termination fee",
                "close the line of my late father",
                "I am leaving for another provider",
            ),
        ),
    ),
)

TEMPLATE_SETS = {template.key: template for template in (ECOMMERCE, SOFTWARE, TELECOM)}
