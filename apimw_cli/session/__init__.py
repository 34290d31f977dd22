"""A listen session: what `apimw listen` runs once its options are parsed.

The command (commands/listen.py) parses its flags into a `ListenOptions`, runs a
`ListenSession` and renders the `SessionResult` it returns. Nothing here imports typer or a
command module; the command line's state is seen through the `Invocation` protocol.

The modules, by responsibility:

    options       ListenOptions (the parsed flags) and Invocation (what the session needs)
    run           ListenSession: set-up, the main loop, finishing forwards, clean-up
    resources     the sandbox, the receiver, the ngrok tunnel and the demo traffic it runs on
    registration  the temporary webhook (register, delete, stale pruning) or --webhook's
                  (re-point, restore)
    watchdog      the self-check: restart a dead tunnel, report a disabled webhook
    screen        pacing the terminal: batches from the feed, backlog lines, a closed stdout
    outcome       Outcome (how it ended, with its error decided) and the --expect verdict
    secret        the stable signing secret per profile (--print-secret, --rotate-secret)
    inspection    the inspector page over the session log (also `apimw events inspect`'s)
    stopping      SIGTERM as a clean stop, and a Ctrl-C held between the banner and the loop

Modules are imported where needed, not here: the API and tunnel ones load httpx, which a
session without them never needs.
"""
