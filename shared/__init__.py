"""Core library of the Webex directory-sync remediator.

Everything here is testable without the Azure Functions host: this package never imports
``azure.functions``. The thin triggers in ``functions/`` parse their bindings and call into it.
"""
