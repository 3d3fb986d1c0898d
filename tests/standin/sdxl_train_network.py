"""Entry-script name the launcher expects; runs the replaying stand-in (see replay.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from replay import main  # noqa: E402

sys.exit(main())
