"""The LSP layer, the only package that imports pygls: the server and its thin handlers, when to
compute (`scheduling.py`), suggestions as code actions / ghost text / hints (`publish.py`), the
custom method names, what the client declared it takes, and how the sidecar ends."""
