"""What one dashboard server runs with: where it listens, its token, limits, and the folders it may write."""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from kohya_wrap import paths
from kohya_wrap.errors import KohyaWrapError

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")
MB = 1024 * 1024


def is_loopback(host: str) -> bool:
    """A host name or address that only this machine can reach."""
    host = host.strip().lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def datasets_dir() -> Path:
    """Uploaded datasets live here and only here (under kohya-wrap's home)."""
    return paths.home() / "datasets"


def read_token_file(path: Path) -> str:
    """The token in a file: its first line, at least 16 characters."""
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as error:
        raise KohyaWrapError(f"Cannot read the token file {path}: {error.strerror}.",
                             hint="write a long random line into it, e.g. "
                                  "`python -c 'import secrets; print(secrets.token_urlsafe(32))' > token.txt`") from None
    token = text.strip().splitlines()[0].strip() if text.strip() else ""
    if len(token) < 16:
        raise KohyaWrapError(f"The token in {path} is too short ({len(token)} characters; at least 16).",
                             hint="use a long random token: python -c 'import secrets; print(secrets.token_urlsafe(32))'")
    return token


@dataclass
class WebSettings:
    """Everything the app factory needs; tests build one directly."""

    host: str = "127.0.0.1"
    port: int = 7860
    token: str | None = None
    workers: int = 1
    registry_url: str | None = None
    max_upload_bytes: int = 512 * MB
    max_files: int = 20_000
    max_request_bytes: int = 1 * MB  # any request that is not an upload
    poll_s: float = 0.1  # how often the event stream looks for new lines
    worker_poll_s: float = 2.0
    secret: str = field(default_factory=lambda: secrets.token_hex(32))  # per process: signs CSRF tokens

    def check(self) -> None:
        """Refuse to listen beyond this machine without a token."""
        if not is_loopback(self.host) and not self.token:
            raise KohyaWrapError(f"Refusing to serve on {self.host} without a token: anyone who can reach it "
                                 "could start and stop jobs and read your files.",
                                 hint="pass --token-file FILE (a long random line), or keep the default "
                                      "--host 127.0.0.1")
        if self.workers < 0:
            raise KohyaWrapError("--workers must be 0 (dashboard only) or more.")
        if not 0 < self.port < 65536:
            raise KohyaWrapError(f"--port {self.port} is not a TCP port.")
