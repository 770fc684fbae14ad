"""Media files, shared by the features that read them (videos, transcription)."""
