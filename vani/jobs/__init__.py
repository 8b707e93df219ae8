"""RQ job functions. Each takes ids, loads rows and is safe to run twice."""
