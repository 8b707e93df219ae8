"""Email: mailboxes read through the Gmail API or IMAP.

A sync (the ``mailbox_syncs`` lane, ``sync``) asks the mailbox what is new (``gmail_sync``,
``imap_sync``) and stores each message as an ``email.received`` or ``email.sent`` event
(``store``), deduplicated like any webhook; the events lane then maps it (``mapping``): an
``Email`` row linked to the prospect whose address it carries, and the outbound event.
"""
