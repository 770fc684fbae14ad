"""vidigest: videos in, searchable transcripts, summaries and chapters out."""

__version__ = "0.1.0"
