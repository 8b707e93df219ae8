"""Accounts: users and their membership of organisations, API tokens, sign-in throttling and invitations."""
