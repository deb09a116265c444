"""The demo market of `tradehall serve`: instruments, funded users, market makers, a taker.

`catalog` says what the market is made of, `setup.DemoComponent` creates it once (idempotent
across restarts) and runs `makers` (seeded random-walk market makers and a taker flow) while
the platform runs, `credentials` keeps the demo logins in the data directory. Commands go
through the engine port only, never through HTTP.
"""
