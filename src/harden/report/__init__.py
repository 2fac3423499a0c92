"""The security review: report.json (the contract), report.md, report.html, report.sarif, CycloneDX SBOMs.

``write.write_run_reports`` (``harden image``) and ``write.write_review_reports``
(``harden report``) are the entry points; ``findings.exit_code_for`` / ``findings.enforce_fail_on`` decide
``--fail-on``. Everything is computed from the image model; nothing here needs an engine.
"""
