"""One blueprint per trigger. Each is thin: parse the binding, call the core in ``shared``, map the
outcome to an HTTP status, a raise (the platform retries) or a log line (it does not)."""
