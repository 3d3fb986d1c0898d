"""Predict peak VRAM, time and cost of a config on a GPU before launch (`kohya-wrap estimate`)."""
