"""Cross-cutting building blocks: ObjectId ids, the error catalog and the JSON envelope."""
