"""Map docker SDK / requests exceptions raised while talking to the engine onto harden's error tree."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from harden.errors import EngineUnavailable, HardenError, ImageNotFound, InputError


@contextmanager
def engine_errors(what: str) -> Iterator[None]:
    """ImageNotFound for 404s, EngineUnavailable for connection failures, InputError for other API errors."""
    import docker.errors
    import requests.exceptions

    try:
        yield
    except HardenError:
        raise
    except docker.errors.NotFound as exc:
        raise ImageNotFound(f"{what}: no such image in the engine ({_explain(exc)})") from exc
    except docker.errors.APIError as exc:
        raise InputError(f"{what}: the engine refused ({_explain(exc)})") from exc
    except docker.errors.ImageLoadError as exc:
        raise InputError(f"{what}: the engine could not load the image ({exc})") from exc
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout, ConnectionError) as exc:
        raise EngineUnavailable(f"{what}: lost the connection to the engine ({type(exc).__name__})") from exc
    except docker.errors.DockerException as exc:
        raise EngineUnavailable(f"{what}: {exc}") from exc


def _explain(exc: object) -> str:
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc)
