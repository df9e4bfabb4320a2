"""What a partner province or department runs: the hub-connector command.

Modules, in the order a row travels:

- `readers` (CSV / JSON Lines / .xlsx, streamed) with `encoding` (UTF-8 or GB18030 detection);
- `mapping` (editable TOML header mappings in `mappings/`), `dates`, `convert` and `rows`
  (a row to a checked payload, problems as field + plain reason);
- `publisher` (sign into the outbox, rejects beside the input), `outbox` (SQLite, WAL),
  `transport` (kafka-python, acks=all, idempotent);
- `inbox` (notifications, delivered-ids table), `config` (the participant's TOML file),
  `runtime` and `commands/` (the sub-commands), `samples` (generated demo files).
"""
