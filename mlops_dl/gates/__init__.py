"""The gates between a registered version and production: canvas, acceptance, behavioural
checks, comparison and promotion. Torch-free."""
