"""An APIMW-compatible local API: auth, webhooks, messages, and real signed deliveries.

server.py runs it (uvicorn), app.py answers HTTP (starlette), store.py keeps state (SQLite),
delivery.py POSTs events with APIMW's retry schedule, tokens.py signs access tokens, demo.py makes
traffic. Importing this package imports none of the heavy libraries.
"""
