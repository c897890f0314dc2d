"""Serving: the prediction API and everything it needs at request time, in one room.

`router` picks and loads the model version a stage serves (verified, refreshed in place),
`bodies` reads and refuses JSON bodies, `schemas` holds the operations' request and response
models, `scoring` turns validated records into predictions, captures and metrics, and `app` is
the FastAPI app over them. Serving may import training and the core; never infra providers,
functions or tooling. It stays light for cold starts: no pandas, scikit-learn or pickle.
"""
