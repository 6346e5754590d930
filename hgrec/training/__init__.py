"""Training: typed configs, the trainer loop, checkpoints, DDP."""
