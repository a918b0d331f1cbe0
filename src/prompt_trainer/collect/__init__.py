"""Collect stage: turn CI evidence (JUnit, traces, reviews, artifacts) into ``Sample`` records.

Each submodule owns one kind of evidence and returns canonical records from ``models`` or a
``Skipped`` value; ``github_pr`` and ``local`` assemble one ``Sample`` per pull request.
"""
