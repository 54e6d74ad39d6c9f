"""chatapp: a team chat with large language models (`python -m chatapp`)."""
