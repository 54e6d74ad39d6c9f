"""Taking conversations out and bringing them in.

- drafts: a conversation read from a file, before it is stored, and the checks every field of one passes
- native: this app's own JSON of a conversation, written and read (format `chatapp.conversation`, version 1)
- chatgpt: a conversation of ChatGPT's data export (`conversations.json`) as a draft
- export: one conversation as JSON or Markdown, and all of a person's as a ZIP streamed a page at a time
- reading: what an uploaded file holds (JSON, a ZIP of ours or ChatGPT's), read one conversation at a time
- imports: a file into the store, a conversation per transaction, with progress and a report

Services only: the pages (chatapp/pages/transfer.py) call these, never the other way round.
"""
