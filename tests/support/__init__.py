"""Helpers shared by the whole suite: waiting, a capture server, the CLI runner, sandbox fixtures.

One of each: a test module that needs to poll, to stand up a local HTTP endpoint, or to run
`apimw` in-process takes it from here instead of writing its own.
"""
