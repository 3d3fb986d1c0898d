"""The job: the contract between stages (folder, events, causes, outcome, cost, meta, resume)."""
