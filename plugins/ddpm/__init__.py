"""ddpm: denoising diffusion with a DDIM sampler (GANji)."""
