"""kohya-wrap: a thin, typed layer around kohya-ss/sd-scripts for SDXL LoRA training."""

__version__ = "0.1.0"
