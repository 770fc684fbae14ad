"""Sentence embeddings (all-MiniLM-L6-v2 on numpy): a library the summary and search features
share; it knows no feature."""
