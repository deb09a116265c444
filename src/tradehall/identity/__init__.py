"""Identity: users, principals, roles, tokens, sessions, 2FA, API keys, external identity.

Pure logic over ports, like `service/`: no driver, framework or web library is imported here
(import-linter enforces it). Adapters in `adapters/` store the records; `entrypoints/api`
turns requests into the `RequestContext` and credentials these classes take.
"""
