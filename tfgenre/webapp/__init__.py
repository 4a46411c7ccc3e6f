"""The local web app and HTTP API of ``python -m tfgenre.serve``.

:mod:`~tfgenre.webapp.served` loads each served model once (a genre run or a published
tag weight set) and describes it; :mod:`~tfgenre.webapp.limits` holds the request
limits; :mod:`~tfgenre.webapp.uploads` streams a multipart upload to a temp file under
those limits; :mod:`~tfgenre.webapp.app` is the FastAPI application and the uvicorn
server around it. The page itself is static (``static/``: HTML, JS, CSS; no build step).
"""
