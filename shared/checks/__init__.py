"""Checks: whether Webex directory sync can work, each a verdict with evidence.

A check returns its verdict; it never notifies and never moves an incident. What the admins must
hear about is carried as :class:`~shared.checks.report.NoticeOwed` in the result, and the app layer
(``shared.app.operational_notices``) decides to send it. Checks take what they call as
:class:`~shared.checks.deps.CheckClients` (or plain parameters), never the service locator.
Depends on :mod:`shared.core`, :mod:`shared.detect` and :mod:`shared.clients`.

* ``report`` — :class:`CheckResult`, :class:`HealthReport`, which verdicts block, :class:`NoticeOwed`;
* ``deps`` — :class:`CheckClients` and the protocols of the clients it holds;
* ``graph`` — service principals (present, enabled, recycle bin) and the integration's consent;
* ``webex`` — Control Hub's status call and the SCIM API, read together;
* ``run`` — :func:`run_checks`, every check concurrently, and the consent's witness;
* ``identity_app`` — which appId the Identity app has when it is not configured;
* ``config_report`` — configuration problems as a row and as the notice they owe;
* ``prevention`` — the opt-in warning in the apps' notes.

A new check goes in the module of the service it asks (or a new one named for it), returns a
``CheckResult`` and is added to :func:`shared.checks.run.run_checks`.
"""
