"""Files attached to a question.

- files: what a file is to the server: its kind, what was read of it, why it was refused, its name made safe
- reading: what a file holds, decided by its bytes (text, a PDF's text, or an image and its thumbnail); the program
  of a child process, so that Pillow and pypdf never load in the server
- worker: runs that child for each file, with a time and a memory limit: the event loop never waits on a parser
- content: an attachment as the rest of the app sees it, and what a model reads of it
- rows: the attachment rows of messages, and the bytes they hold, in the database

Nothing is imported here: `python -m chatapp.attachments.reading` starts by importing this package.
"""
