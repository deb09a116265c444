"""The web trading app: the built front end of `web/` served at `/app/` (see docs/web.md).

The sources live in the repository's `web/` folder (Vue 3, TypeScript, Vite); `dev.py` builds
them into `dist/` here (git-ignored). This package only serves those files; it holds no logic.
"""
