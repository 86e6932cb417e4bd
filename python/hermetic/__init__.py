"""hermetic: seal Python code and objects into one torch.package-compatible archive."""
