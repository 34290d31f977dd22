"""The inspector: a local web page over a listen session's log (live, or a past one through
`apimw events inspect`), with each request's details, signature diagnosis, forward attempts and
replay. logindex.py reads the log, actions.py replays and builds curl commands, web.py and
server.py serve the page and its JSON/SSE endpoints on loopback only."""
