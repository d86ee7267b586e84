"""Stateless forward/backward pairs, one operation per file.

Each ``*_forward`` returns ``(out, cache)`` and each ``*_backward`` takes the
upstream gradient and that cache. The array module is taken from the inputs,
so every pair runs on NumPy and on CuPy. The module docstrings hold the
derivations, with the paper's equation numbers where there is one.
"""
