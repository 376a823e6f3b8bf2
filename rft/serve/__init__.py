"""``rft serve-graders``: OpenAI's fine-tuning graders API, served locally.

Code written against the official ``openai`` SDK's ``client.fine_tuning.alpha.graders.run(...)``
and ``.validate(...)`` works unchanged once its ``base_url`` points here; the graders run in rft.

- :class:`ServeConfig`: how the server listens, whom it trusts, how much it grades at once;
- :func:`create_app`: the ASGI app (Starlette), to embed or to test;
- :func:`serve`: bind, announce the URL, serve with uvicorn until SIGTERM.

Needs the ``serve`` extra (``pip install 'rft[serve]'``: starlette and uvicorn); ``import rft``
does not import this package.
"""

from rft.serve._app import create_app
from rft.serve._config import ServeConfig
from rft.serve._run import serve

__all__ = ["ServeConfig", "create_app", "serve"]
