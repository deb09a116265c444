"""Shared pytest configuration: hypothesis profiles.

`default` keeps the suite fast (no per-example deadline: engine streams vary in length);
`thorough` runs ten times more examples, selected with TRADEHALL_HYPOTHESIS_PROFILE=thorough.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("default", deadline=None, print_blob=True)
settings.register_profile("thorough", deadline=None, print_blob=True, max_examples=1_000)
settings.load_profile(os.environ.get("TRADEHALL_HYPOTHESIS_PROFILE", "default"))
