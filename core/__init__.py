"""Cross-cutting building blocks: ObjectId ids, the error catalog, the JSON envelope, logs, probes."""
