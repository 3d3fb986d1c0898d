"""Offline auto-captioning: captioners run in the backend's Python as a child; the parent writes the captions."""
