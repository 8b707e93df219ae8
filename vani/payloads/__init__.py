"""Helpers for provider payloads that providers and services share: safe JSON and plain values."""
