"""The sd-scripts backend: pin, install, patches, offline tokenizers, platform profile, doctor, smoke test."""
