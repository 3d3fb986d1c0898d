"""Presets: find, list, copy and diff the shipped TOML presets; parse key=value overrides."""
