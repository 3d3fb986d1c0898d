"""LoRA files after training: find them, inspect their keys and headers, export them to image tools."""
