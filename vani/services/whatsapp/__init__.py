"""Two-way WhatsApp: replies queued once per intent (``outgoing``), sent by the ``message_sends``
lane through Kapso or Twilio (``sending``, ``clients``), their fate written into the
conversation (``timeline``), and the rules that answer by themselves (``autoreply``, ``rules``)."""
