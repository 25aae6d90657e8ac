"""The ML engine's pure half: pandas/numpy in, typed dataclasses out. No Django imports."""
