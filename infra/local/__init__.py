"""Local adapters: files and SQLite under MLOPS_HOME. No account, no Docker."""
