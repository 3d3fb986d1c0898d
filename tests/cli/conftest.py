"""CLI tests that run a job use the stand-in trainer of tests/runner."""

from tests.runner.conftest import standin_env  # noqa: F401 (a fixture)
