"""The deterministic matching engine: books, risk holds, matching, state hash.

Nothing here does I/O, reads a clock or draws randomness: the same commands with the same
timestamps give the same events and the same state, bit for bit.
"""
