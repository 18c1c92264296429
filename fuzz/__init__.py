"""Property-based fuzzing of the HTTP API against its own OpenAPI schema (Schemathesis)."""
