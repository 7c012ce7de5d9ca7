"""Commands around the pipeline that are not stages of it (run as `python -m tools.<name>`)."""
