"""Admin notices: the incident view, per-channel renderings and the senders.

``view`` (what a notice says) → ``render`` (how each channel shows it, escaped for its format) →
``channels`` (delivery, with retriable/permanent outcomes). ``channels`` imports httpx and, when a
mail is sent, msgraph; import it only where sending happens.
"""

from shared.notify.render import CHANNELS, ChannelName, Rendered, render, render_preview
from shared.notify.signing import sign_webhook, signature_headers, verify_webhook
from shared.notify.view import FixStep, IncidentView, Links, NoticeKind, build_view, fix_steps_for

__all__ = [
    "CHANNELS",
    "ChannelName",
    "FixStep",
    "IncidentView",
    "Links",
    "NoticeKind",
    "Rendered",
    "build_view",
    "fix_steps_for",
    "render",
    "render_preview",
    "sign_webhook",
    "signature_headers",
    "verify_webhook",
]
