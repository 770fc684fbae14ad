"""Who said what: diarization (the engine), speakers on transcripts, names, voice profiles."""
