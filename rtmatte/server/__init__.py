"""``rtmatte serve``: a local HTTP API and a control panel in the browser.

Light on purpose: the job worker (``python -m rtmatte.server.worker``) imports this package
and needs none of the web framework; :mod:`rtmatte.server.app` is where FastAPI comes in.
"""
