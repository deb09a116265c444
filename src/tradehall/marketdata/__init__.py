"""Market data: top-of-book views with sequenced deltas, trades, tickers and candles.

Everything here is fed by the event stream (`service/messages.py`); nothing reads the engine.
"""
