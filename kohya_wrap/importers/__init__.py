"""Import other tools' Kohya configs (kohya_ss, LoRA_Easy, sd-scripts, LoRA metadata) as kohya-wrap presets."""
