"""The LLM layer: which models there are and how to reach them (catalog), how a prompt is built from stored
history (prompt), and what an endpoint's failure means in plain words (failures). Everything goes through
LangChain's chat-model interface, so the offline demo model and a real endpoint share one streaming path."""
