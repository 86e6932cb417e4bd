"""A tiny sentiment model: the code the demo seals into its package."""
