"""Background work: RQ jobs (ids in, Twilio REST calls out) and the worker process."""
