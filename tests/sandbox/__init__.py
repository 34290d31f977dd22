"""Black-box end-to-end tests of the local sandbox (apimw_cli/sandbox/SPEC.md), over real HTTP."""
