"""progan: progressive GAN with R1 and DiffAugment (the calligraphy project recipe)."""
