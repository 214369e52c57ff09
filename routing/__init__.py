"""Hotline's domain: leads, counselors, the queue and matching. Imports no Flask."""
