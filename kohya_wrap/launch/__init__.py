"""Launch: a pure builder of the trainer's argv/env/cwd, and the process group that runs it."""
