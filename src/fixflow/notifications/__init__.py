"""Delivery of e-mail and SMS: services queue a job in the caller's transaction, the worker sends."""
