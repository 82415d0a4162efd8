"""Test helpers for txzaqar users: real Zaqar servers and (soon) an in-memory Zaqar."""
