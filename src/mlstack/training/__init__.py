"""Training loops and their callbacks."""
