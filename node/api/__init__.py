"""The local API: the server on the node's Unix socket, the blocking client the CLI
uses, and the handlers of every method, grouped by resource."""
