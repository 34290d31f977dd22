"""The message templates the sandbox knows, seeded with the common templates of APIMW's docs.

Each template is stored as the list answers it (docs/apimw-api.md, "Templates"): name, language,
status, category and components in the documented form (`{"type": "BODY", "text": "Hi {{1}}"}`).
Seeding adds what is missing and never overwrites: a stored sandbox keeps its templates.
"""

from __future__ import annotations

import json
from typing import Any

from apimw_cli.sandbox.store.database import Table, locked

Template = dict[str, Any]


def _template(
    name: str,
    body: str,
    *,
    language: str = "en",
    status: str = "APPROVED",
    category: str = "TRANSACTIONAL",
    header: str | None = None,
    footer: str | None = None,
) -> Template:
    components: list[dict[str, Any]] = []
    if header is not None:
        components.append({"type": "HEADER", "format": "TEXT", "text": header})
    components.append({"type": "BODY", "text": body})
    if footer is not None:
        components.append({"type": "FOOTER", "text": footer})
    return {
        "name": name,
        "language": language,
        "status": status,
        "category": category,
        "components": components,
    }


# The docs' common templates (page whatsapp-template: order_confirmation with name, order_id,
# total; shipping_update with name, tracking_number; appointment_reminder, whose variables the
# retrievable page does not show: name, date, time is our choice). order_confirmation's
# components are the list page's example, word for word. A Spanish version exercises languages,
# hello_world (WhatsApp's starter template) takes no parameters, and a PENDING and a REJECTED
# template exercise the refusals.
SEED: tuple[Template, ...] = (
    _template(
        "order_confirmation",
        "Hi {{1}}, your order {{2}} has been confirmed. Total: {{3}}",
        header="Order Confirmed! 🎉",
        footer="Thank you for shopping with us!",
    ),
    _template(
        "order_confirmation",
        "Hola {{1}}, tu pedido {{2}} ha sido confirmado. Total: {{3}}",
        language="es",
        header="¡Pedido confirmado! 🎉",
        footer="¡Gracias por tu compra!",
    ),
    _template(
        "shipping_update",
        "Hi {{1}}, your order is on its way! Tracking number: {{2}}",
        header="Your order has shipped 📦",
    ),
    _template(
        "appointment_reminder",
        "Hi {{1}}, this is a reminder of your appointment on {{2}} at {{3}}.",
        category="UTILITY",
        footer="Reply to this message to reschedule.",
    ),
    _template(
        "hello_world",
        "Welcome! This message comes from your APIMW sandbox.",
        category="UTILITY",
        header="Hello World",
    ),
    _template(
        "spring_sale",
        "Hi {{1}}, our spring sale starts on {{2}}: {{3}} off everything!",
        status="PENDING",
        category="MARKETING",
    ),
    _template(
        "win_back_offer",
        "We miss you, {{1}}! Come back for a free gift.",
        status="REJECTED",
        category="MARKETING",
    ),
)


def _row_to_template(row: Any) -> Template:
    return {
        "name": row["name"],
        "language": row["language"],
        "status": row["status"],
        "category": row["category"],
        "components": json.loads(row["components"]),
    }


class Templates(Table):
    @locked
    def seed(self, templates: tuple[Template, ...] = SEED) -> None:
        """Add the templates that are not stored yet (by name and language)."""
        self.db.executemany(
            "INSERT OR IGNORE INTO templates (name, language, status, category, components)"
            " VALUES (?, ?, ?, ?, ?)",
            [
                (
                    t["name"],
                    t["language"],
                    t["status"],
                    t["category"],
                    json.dumps(t["components"], ensure_ascii=False),
                )
                for t in templates
            ],
        )

    @locked
    def page(
        self, *, status: str | None, category: str | None, page: int, per_page: int
    ) -> tuple[list[Template], int]:
        """One page of templates (by name, then language) and how many match in all."""
        where, args = [], []
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if category is not None:
            where.append("category = ?")
            args.append(category)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        total = self.db.execute(f"SELECT COUNT(*) FROM templates{clause}", args).fetchone()[0]  # noqa: S608
        rows = self.db.execute(
            f"SELECT * FROM templates{clause} ORDER BY name, language LIMIT ? OFFSET ?",  # noqa: S608
            [*args, per_page, (page - 1) * per_page],
        ).fetchall()
        return [_row_to_template(row) for row in rows], int(total)

    @locked
    def versions(self, name: str) -> list[Template]:
        """Every language version of the template called `name` (none when unknown)."""
        rows = self.db.execute(
            "SELECT * FROM templates WHERE name = ? ORDER BY language", (name,)
        ).fetchall()
        return [_row_to_template(row) for row in rows]
