"""After training: render a LoRA against its base on fixed seeds (validate), generate with it, check the images."""
