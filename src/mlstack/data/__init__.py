"""Data preparation and loading."""
