"""The local webhook receiver of `apimw listen`: an ASGI app (app.py, whose docstring names the
module of each step) on uvicorn (server.py), a recorder (recorder.py) and a forwarder
(forwarder.py). It hands what happens to the command through a queue (types in events.py) and
never renders anything itself."""
