"""dsfgan: few-shot handwriting imitation (DSF-GAN at native 64 px)."""
