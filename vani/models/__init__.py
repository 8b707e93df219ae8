"""All models, imported here so Flask-Migrate and ``db.create_all`` see every table.

Add a new models module to the import list below.
"""
from vani.models.auth import (  # noqa: F401
    ROLES,
    ApiToken,
    LoginThrottle,
    ProviderCredential,
    Scope,
    User,
)
from vani.models.backfills import Backfill, BackfillStatus  # noqa: F401
from vani.models.catalogue import EventType  # noqa: F401
from vani.models.connections import ConnectionState, ProviderConnection, SubscriptionState  # noqa: F401
from vani.models.domain import (  # noqa: F401
    Meeting,
    MeetingStatus,
    Notification,
    NotificationStatus,
    Prospect,
    ProspectNote,
    ProspectStage,
)
from vani.models.idempotency import IdempotentRequest  # noqa: F401
from vani.models.leads import Lead  # noqa: F401
from vani.models.events import EventStatus, RejectedCall, WebhookEvent  # noqa: F401
from vani.models.mail import (  # noqa: F401
    Email, EmailDirection, Mailbox, MailboxFolder, MailboxKind, MailboxState, SyncStatus,
)
from vani.models.messaging import (  # noqa: F401
    Conversation,
    ConversationStatus,
    Message,
    MessageDirection,
    MessageStatus,
)
from vani.models.notifications import Channel, NotificationKind, NotificationSend, SendStatus  # noqa: F401
from vani.models.orgs import (  # noqa: F401
    DEFAULT_SLUG, Invitation, InvitationStatus, Membership, Organisation, OrgOwned, Role,
)
from vani.models.outbound import (  # noqa: F401
    AttemptTrigger,
    DeliveryAttempt,
    DeliveryStatus,
    SignatureScheme,
    WebhookDelivery,
    WebhookSubscription,
)
from vani.models.outbox import OutboundEvent  # noqa: F401
from vani.models.processes import ProcessHeartbeat, ProcessRole  # noqa: F401
from vani.models.rollups import ALL_TIME, HourlyRollup, ProspectStageChange, RollupMetric  # noqa: F401
from vani.models.replies import (  # noqa: F401
    AutoReplyRule, MessageSend, OutgoingStatus, RuleTrigger, SendAttempt, SendKind,
)
