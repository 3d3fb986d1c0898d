"""Cost and time limits: price table, pre-launch estimate, and guards that stop a run."""
