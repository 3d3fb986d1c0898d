"""Config: resolve presets + overrides into a validated config; render sd-scripts' files from it."""
