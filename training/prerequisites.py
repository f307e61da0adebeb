"""What the recipe's tests do when something they need is not on this machine (the Go twin is internal/testenv).

Locally such a check is skipped with one sentence saying what is missing. When the CI environment variable is set
(CI systems set CI=true) it fails instead: CI always has the shared data and everything `make deps` installs, so a
green CI run means the real data and tools were used. The rule lives here once; tests call `missing` or decorate
with `skip_unless`.
"""

import functools
import os
import unittest


class PrerequisiteMissing(RuntimeError):
    """Raised under CI for an absent prerequisite; its message says what is missing."""


def ci():
    """True when the CI environment variable is set to anything but a false value ("", 0, false)."""
    value = os.environ.get("CI", "").strip()
    return value != "" and value.lower() not in ("0", "f", "false")


def missing(reason):
    """Report that a check cannot run for lack of reason's prerequisite: raises PrerequisiteMissing under CI,
    returns the sentence otherwise (the caller skips, or falls back and says so)."""
    if ci():
        raise PrerequisiteMissing(f"CI is set, so this prerequisite must be present: {reason}")
    return reason


def skip_unless(condition, reason):
    """Like unittest.skipUnless, but a test class or method whose prerequisite is absent fails under CI."""
    if condition:
        return lambda obj: obj
    if not ci():
        return unittest.skip(reason)

    def fail(obj):
        if isinstance(obj, type):
            def set_up(self):
                self.fail(f"CI is set, so this prerequisite must be present: {reason}")
            obj.setUp = set_up
            return obj

        @functools.wraps(obj)
        def failing(self, *args, **kwargs):
            self.fail(f"CI is set, so this prerequisite must be present: {reason}")
        return failing
    return fail
