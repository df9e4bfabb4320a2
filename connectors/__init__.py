"""What a partner province or department runs: the hub-connector command."""
