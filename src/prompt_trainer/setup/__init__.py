"""Setup: getting a repository ready for prompt-trainer, outside the loop.

``onboard`` is ``prompt-trainer init`` (detects the agent, the prompt files and the test reports,
writes the configuration and the workflow); ``doctor`` is ``prompt-trainer doctor`` (checks the
configuration, the token's permissions, the data branch and the model, and says what to fix).
Neither is imported by the stages or by the loop.
"""
