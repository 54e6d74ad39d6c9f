"""Files attached to a question.

- files: what a file holds, decided by its bytes (text, a PDF's text, or an image and its thumbnail), and its name
  made safe to show; blocking
- worker: the same, in a child process with a time and a memory limit, so that the event loop never waits on it
- content: an attachment as the rest of the app sees it, and what a model reads of it
- rows: the attachment rows of messages, and the bytes they hold, in the database

Nothing is imported here: `python -m chatapp.attachments.worker` starts by importing this package.
"""
