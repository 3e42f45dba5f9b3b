"""Table files in and out, shared by training (labelled data), batch scoring, the report and the
service's export: ``tables`` (JSONL, CSV, Excel, Parquet; encodings; spreadsheet-safe cells) and
``columns`` (``--map``: which column of a user's file holds a field).

A bottom layer of the runtime: it imports nothing of ``classifier`` but its errors (import-linter
contract in pyproject.toml), so training and serving can read and write files without scoring."""
