"""The crash harness (issue 19): kill the worker at every durable step, prove nothing is lost."""
