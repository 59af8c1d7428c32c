"""The analyst's local web page (see server.py)."""
