"""The REST API: one NinjaAPI under /api/v1/, every route authenticated.

The exceptions to authentication are the OpenAPI document and the docs page
(they describe the API, they hold no data).
"""

from __future__ import annotations

from ninja import NinjaAPI

from concierge.api import (
    agents,
    ai,
    automation,
    custom_fields,
    customers,
    knowledge,
    mail_inbound,
    organizations,
    search,
    tags,
    teams,
    tickets,
    views,
)
from concierge.api.auth import ApiTokenAuth, SessionCookieAuth
from concierge.api.docs import SelfHostedSwagger
from concierge.api.errors import install_error_handlers

DESCRIPTION = """
The Concierge help desk API.

**Authentication.** Send a personal API token (create one on your profile page) as
`Authorization: Bearer <token>`, or use the browser session; session requests that change
something need the `X-CSRFToken` header. Customers may use the API too and see only their
own requests and public replies.

**Errors** always look like `{"code": "...", "message": "...", "field_errors": {"field": ["..."]}}`.

**Creating twice.** Every `POST` accepts an `Idempotency-Key` header: a retry with the same key
returns the first response instead of creating again.

**Long work** runs in the background: `POST /api/v1/triage/retrain` answers `202 Accepted`
with the run, and `GET /api/v1/triage/retrain/status` follows it to `finished` or `failed`.

**Attachments** travel inline in JSON: `attachments: [{"filename", "content_type", "data"}]`,
`data` base64-encoded; a request body is at most 5 MB.

**Lists** of tickets page by cursor (`next_cursor`, `previous_cursor`); other lists by
`offset` and `limit`.
"""

api = NinjaAPI(
    title="Concierge API",
    version="1",
    description=DESCRIPTION.strip(),
    urls_namespace="api",
    auth=[ApiTokenAuth(), SessionCookieAuth()],
    docs=SelfHostedSwagger(),
)
install_error_handlers(api)

api.add_router("/tickets", tickets.router)
api.add_router("/attachments", tickets.attachments_router)
api.add_router("/customers", customers.router)
api.add_router("/organizations", organizations.router)
api.add_router("/agents", agents.router)
api.add_router("/teams", teams.router)
api.add_router("/tags", tags.router)
api.add_router("/triage", ai.router)
api.add_router("/custom-fields", custom_fields.router)
api.add_router("/views", views.router)
api.add_router("/mail/inbound", mail_inbound.router)
api.add_router("/routing", automation.router)
api.add_router("/kb", knowledge.router)
api.add_router("/search", search.router)
