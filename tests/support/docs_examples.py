"""APIMW's documented example bodies, word for word from docs.apimw.com (the page is named on
each), as retrieved for issue 14. Tests compare the sandbox's answers with these by shape (keys,
JSON types, id prefixes, formats), never by value: see tests/sandbox/shapes.py. The docs-only
fake API (tests/support/docs_api.py) answers with them.

The docs abbreviate long values ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...", "wamid.HBgN...");
the abbreviation is kept, as the format checks only look at what the value starts with.
"""

from __future__ import annotations

from typing import Any

# --- auth-token: POST /v1/auth/token ------------------------------------------------------------
AUTH_TOKEN_REQUEST: dict[str, Any] = {
    "api_key": "ak_live_abc123xyz",
    "api_secret": "sk_live_secret456",
}
AUTH_TOKEN: dict[str, Any] = {
    "success": True,
    "data": {
        "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...",
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": "rt_abc123xyz456",
    },
}
INVALID_CREDENTIALS: dict[str, Any] = {
    "success": False,
    "error": {"code": "INVALID_CREDENTIALS", "message": "Invalid API Key or Secret"},
}

# --- auth-refresh: POST /v1/auth/refresh --------------------------------------------------------
AUTH_REFRESH_REQUEST: dict[str, Any] = {"refresh_token": "rt_abc123xyz456"}
AUTH_REFRESH: dict[str, Any] = {
    "success": True,
    "data": {
        "access_token": "eyJ...",
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": "rt_new789abc",
    },
}
INVALID_REFRESH_TOKEN: dict[str, Any] = {
    "success": False,
    "error": {"code": "INVALID_REFRESH_TOKEN", "message": "Refresh token is invalid or expired"},
}

# --- auth-me: GET /v1/auth/me -------------------------------------------------------------------
AUTH_ME: dict[str, Any] = {
    "success": True,
    "data": {
        "user": {"id": "usr_abc123", "email": "developer@example.com", "name": "John Developer"},
        "tenant": {
            "id": "ten_xyz789",
            "name": "Acme Corp",
            "plan": "professional",
            "status": "active",
        },
        "permissions": ["whatsapp:send", "whatsapp:templates", "webhooks:manage"],
    },
}

# --- webhook-register: POST /v1/webhooks --------------------------------------------------------
WEBHOOK_CREATE_REQUEST: dict[str, Any] = {
    "url": "https://yourapp.com/webhooks/apimw",
    "events": ["message.sent", "message.delivered", "message.read", "message.received"],
    "secret": "whsec_your_secret_key",
}
WEBHOOK_CREATE: dict[str, Any] = {
    "success": True,
    "data": {
        "id": "whk_abc123xyz",
        "url": "https://yourapp.com/webhooks/apimw",
        "events": ["message.sent", "message.delivered", "message.read", "message.received"],
        "active": True,
        "created_at": "2024-01-15T10:30:00Z",
    },
}
VERIFICATION: dict[str, Any] = {"type": "webhook.verification", "challenge": "abc123xyz"}

# --- whatsapp-send: POST /v1/whatsapp/messages/send ---------------------------------------------
MESSAGE_SEND_REQUEST: dict[str, Any] = {
    "to": "+1234567890",
    "message": "Hello! Thanks for contacting us. How can we help you today?",
    "preview_url": True,
}
MESSAGE_SEND: dict[str, Any] = {
    "success": True,
    "data": {
        "message_id": "wamid.HBgNNjI4MTU1NTc0NDU2FQIAERgSM0VGMDA0...",
        "to": "+1234567890",
        "status": "sent",
        "timestamp": "2024-01-15T10:30:00Z",
    },
}
INVALID_PHONE_NUMBER: dict[str, Any] = {
    "success": False,
    "error": {"code": "INVALID_PHONE_NUMBER", "message": "The phone number format is invalid"},
}

# --- whatsapp-status: GET /v1/whatsapp/messages/{message_id} ------------------------------------
MESSAGE_STATUS: dict[str, Any] = {
    "success": True,
    "data": {
        "message_id": "wamid.HBgNNjI4MTU1NTc0NDU2FQIAERgSM0VGMDA0...",
        "to": "+1234567890",
        "type": "text",
        "status": "delivered",
        "timestamps": {
            "sent": "2024-01-15T10:30:00Z",
            "delivered": "2024-01-15T10:30:05Z",
            "read": None,
        },
    },
}
MESSAGE_STATUSES = ("sent", "delivered", "read", "failed")

# --- whatsapp-template: POST /v1/whatsapp/messages/template -------------------------------------
TEMPLATE_SEND_REQUEST: dict[str, Any] = {
    "to": "+1234567890",
    "template": "order_confirmation",
    "language": "en",
    "components": [
        {
            "type": "body",
            "parameters": [
                {"type": "text", "text": "John"},
                {"type": "text", "text": "ORD-12345"},
                {"type": "text", "text": "$99.99"},
            ],
        }
    ],
}
TEMPLATE_SEND: dict[str, Any] = {
    "success": True,
    "data": {
        "message_id": "wamid.HBgNNjI4MTU1NTc0NDU2FQIAERgSM0VGMDA0...",
        "to": "+1234567890",
        "template": "order_confirmation",
        "status": "sent",
        "timestamp": "2024-01-15T10:30:00Z",
    },
}

# --- whatsapp-templates-list: GET /v1/whatsapp/templates?status=APPROVED ------------------------
TEMPLATES_LIST: dict[str, Any] = {
    "success": True,
    "data": {
        "templates": [
            {
                "name": "order_confirmation",
                "language": "en",
                "status": "APPROVED",
                "category": "TRANSACTIONAL",
                "components": [
                    {"type": "HEADER", "format": "TEXT", "text": "Order Confirmed! 🎉"},
                    {
                        "type": "BODY",
                        "text": "Hi {{1}}, your order {{2}} has been confirmed. Total: {{3}}",
                    },
                    {"type": "FOOTER", "text": "Thank you for shopping with us!"},
                ],
            }
        ],
        "pagination": {"total": 15, "page": 1, "per_page": 20},
    },
}

# --- rate-limits --------------------------------------------------------------------------------
RATE_LIMIT_HEADERS: dict[str, str] = {
    "X-RateLimit-Limit": "1000",
    "X-RateLimit-Remaining": "999",
    "X-RateLimit-Reset": "1640995200",
}
RATE_LIMIT_EXCEEDED: dict[str, Any] = {
    "success": False,
    "error": {
        "code": "RATE_LIMIT_EXCEEDED",
        "message": "Rate limit exceeded. Please retry after 60 seconds.",
        "retry_after": 60,
    },
}
