"""Many cameras across machines: a deployment's cameras as Ray actors, supervised from the head node.

Ray is an optional dependency (``pip install 'openlfr[cluster]'``); nothing outside this package
imports it.
"""
