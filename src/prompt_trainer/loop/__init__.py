"""The loop's operations: what runs around the stages, on GitHub events and schedules.

The stages (``collect/``, ``store``, ``measure/``, ``train/``, ``evaluate``, ``render/``,
``propose``) turn evidence into a proposal; ``pipeline`` calls them in order. This package holds
the operations around them: ``events`` (webhook payloads -> one typed ``Event``), ``action``
(the Action's planner and its plans), ``respond`` (the review loop on the bot's PRs),
``dashboard`` (the dashboard issue), ``followup`` (closed proposals -> rejections), ``runs``
(the run directories and resume), ``lock`` (the repository's run lock), ``failures``
(reported failures as evidence) and ``contract`` (what a run is asked and returns). The stages
import nothing from here: what a step needs of the run's record (what a resumed run collected
or trained already, where to record a step) is passed down by ``pipeline``.
"""
