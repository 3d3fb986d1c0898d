"""Error types; each carries the CLI exit code it maps to."""

from __future__ import annotations

from dataclasses import dataclass, field

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_LIMIT = 3
EXIT_INTERRUPTED = 130


class KohyaWrapError(Exception):
    """Base error: a message meant for the user, never a traceback."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


@dataclass
class ConfigIssue:
    """One problem in a resolved config: where, what, from which source."""

    key: str
    problem: str
    source: str = ""
    suggestion: str | None = None

    def line(self) -> str:
        text = f"{self.key}: {self.problem}"
        if self.source:
            text += f" [from {self.source}]"
        if self.suggestion:
            text += f" (did you mean {self.suggestion!r}?)"
        return text


@dataclass
class ConfigError(KohyaWrapError):
    """All problems found in one config, reported together."""

    issues: list[ConfigIssue] = field(default_factory=list)

    def __post_init__(self):
        KohyaWrapError.__init__(self, self.render())

    def render(self) -> str:
        count = len(self.issues)
        head = f"Config is not valid, {count} problem{'s' if count != 1 else ''}:"
        return "\n".join([head] + [f"  - {issue.line()}" for issue in self.issues])


class PresetError(KohyaWrapError):
    """A preset cannot be found, read or copied."""


class DatasetError(KohyaWrapError):
    """The dataset has errors that would stop or spoil a run."""


class BackendError(KohyaWrapError):
    """sd-scripts is missing, at the wrong commit, or cannot be installed."""


class RunFailed(KohyaWrapError):
    """A training run ended without a good result."""

    exit_code = EXIT_FAILED


class LimitReached(KohyaWrapError):
    """A cost or time limit stopped (or refused) a run."""

    exit_code = EXIT_LIMIT


class Interrupted(KohyaWrapError):
    """The user interrupted the run."""

    exit_code = EXIT_INTERRUPTED
