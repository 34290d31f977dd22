"""An APIMW-compatible local API: auth, webhooks, messages, and real signed deliveries.

server.py runs it (uvicorn); app.py assembles the starlette app from routes/ (one module per
resource), envelopes.py (answers and errors), validation.py (request checks), context.py (what
handlers share, the bearer check) and ratelimit.py. store/ keeps state in SQLite, one part per
concern; delivery.py POSTs events with APIMW's retry schedule and sends verification challenges;
outbox.py moves sent messages through their statuses; tokens.py signs access tokens; demo.py
makes traffic. Importing this package imports none of the heavy libraries.
"""
