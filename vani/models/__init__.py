"""All models, imported here so Flask-Migrate and ``db.create_all`` see every table.

Add a new models module to the import list below.
"""
from vani.models.auth import ROLES, ApiToken, ProviderCredential, User  # noqa: F401
from vani.models.domain import Meeting, MeetingStatus, Notification, Prospect, ProspectNote  # noqa: F401
from vani.models.events import EventStatus, RejectedCall, WebhookEvent  # noqa: F401
from vani.models.outbox import OutboundEvent  # noqa: F401
from vani.models.outbound import DeliveryAttempt, DeliveryStatus, WebhookDelivery, WebhookSubscription  # noqa: F401
from vani.models.messaging import Conversation, Message, MessageStatus  # noqa: F401
from vani.models.notifications import NotificationSend, SendStatus  # noqa: F401
