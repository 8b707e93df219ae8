"""Fakes of the outside services Vani calls, served on loopback or signed with test keys."""
