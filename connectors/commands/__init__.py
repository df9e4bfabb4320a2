"""Sub-commands of hub-connector, one module each."""
