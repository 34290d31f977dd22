"""The inspector: a local web page over a listen session's log (live, or a past one through
`apimw events inspect`), with each request's details, signature diagnosis, forward attempts and
replay.

- Reading the log: logindex.py (rows, details, filters; logstore.py, logfacts.py and details.py
  under it). Acting on a request: actions.py (replay, curl; the secret never leaves it).
- Serving: server.py runs uvicorn on loopback in a daemon thread; web.py is the app (the page in
  static/, the JSON endpoints), stream.py its server-sent events, security.py what keeps it the
  user's own (Host, token, Origin, CSP), threads.py the daemon threads blocking work runs on.
"""
