"""The HTTP layer: the FastAPI app and what every route shares.

Routes live with their feature (`modules/<feature>/routes.py`, their Pydantic bodies in
`schemas.py` beside them) and import from here; nothing here imports a feature at module level,
so the layer sits above the features without an import circle:

- `main.py`: the app factory `create_app(settings)` (and `create_app_from_env` for uvicorn).
- `deps.py`: the application state and the typed dependencies (state, settings, session,
  session factory, API-key auth).
- `errors.py`: the JSON error envelope, `ApiError`, the table of error codes, the handlers.
- `security.py`, `security_log.py`: headers, Host/Origin guards, Content-Disposition, the
  security log.
- `metrics.py`: the Prometheus HTTP middleware.
"""
