"""The model zoo: tasks, their size variants, deterministic training, imported models."""
