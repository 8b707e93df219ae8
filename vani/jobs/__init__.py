"""RQ jobs that are not lane work: thin entry points the scheduler or the API queue (cleanup,
Calendly sync). Each takes plain arguments, calls a service and is safe to run twice."""
