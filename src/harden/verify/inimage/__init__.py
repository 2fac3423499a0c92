"""Scripts that run INSIDE an image: stdlib only, Python >= 3.8, each passed whole as ``python -c SOURCE``.

``walk.py`` imports the whole import surface (and runs the policy's smoke snippets); ``facts.py`` gathers the
facts of the hardening assertions and times start-up. ``harden.verify.scripts`` hands their sources out.
"""
