"""The one composition root: builds and owns every long-lived service.

Accessors are typed and cached on first use (Synapse's ``HomeServer`` pattern). Tests
build a container with overrides instead of monkeypatching modules.
"""

from __future__ import annotations

import functools
import hashlib
from typing import TYPE_CHECKING

from redoubt.actions.api_tokens import TokenUsage
from redoubt.actions.bot_activity import BotActivityRecorder
from redoubt.actions.bot_webhooks import BotWebhookWorker
from redoubt.actions.webhook_delivery import DeliveryWorker
from redoubt.core.bot_windows import BotWindows, RedisBotWindows
from redoubt.core.clock import Clock, SystemClock
from redoubt.core.egress import Egress, EgressPolicy
from redoubt.core.ids import IdGenerator
from redoubt.core.mailer import mailer_from_settings
from redoubt.core.node_lease import NodeLease
from redoubt.core.passwords import PasswordHasher
from redoubt.core.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from redoubt.core.secretbox import SecretBox, load_or_create_key
from redoubt.core.settings import Settings
from redoubt.domain.enums import UserRole
from redoubt.queries.context import Context
from redoubt.queries.events import events_between
from redoubt.realtime.bus import EventBus, MemoryBus
from redoubt.realtime.dispatcher import Dispatcher
from redoubt.realtime.gateway import Gateway
from redoubt.realtime.presence import MemoryPresence, PresenceTracker, RedisPresence
from redoubt.storage.database import Database
from redoubt.storage.filestore import LocalFileStore
from redoubt.storage.ldap import LdapConfig, LdapDirectory, LdapMode
from redoubt.storage.migrate import current_revision, head_revision

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["Container", "SchemaOutdatedError"]


class SchemaOutdatedError(RuntimeError):
    """The database schema is not at the version this code needs."""


class Container:
    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self._redis_prefix: str | None = None
        self._node_lease: NodeLease | None = None

    @functools.cached_property
    def database(self) -> Database:
        return Database(self.settings.effective_database_url, clock=self.clock.now)

    @functools.cached_property
    def redis(self) -> Redis | None:
        if self.settings.redis_url is None:
            return None
        from redis.asyncio import Redis

        return Redis.from_url(self.settings.redis_url.get_secret_value())

    @property
    def redis_prefix(self) -> str:
        """Prefix of this deployment's Redis keys and pub/sub channel (known once started).

        Pub/sub channels are global to a Redis server (database numbers don't separate
        them), so two deployments sharing one Redis would hear each other's events. The
        processes of one deployment share a database, so the database names it.
        """
        if self._redis_prefix is None:
            raise RuntimeError("the Redis prefix is known once the container has started")
        return self._redis_prefix

    async def resolve_redis_prefix(self) -> str:
        if self._redis_prefix is None:
            identity = await self.database.identity()
            self._redis_prefix = f"redoubt:{hashlib.sha256(identity.encode()).hexdigest()[:16]}:"
        return self._redis_prefix

    async def _lease_node(self) -> None:
        """Scale-out: lease this process's node number for ids (core/node_lease.py)."""
        if self.redis is None or self._node_lease is not None:
            return
        explicit = "node_id" in self.settings.model_fields_set
        lease = NodeLease(
            self.redis,
            self.context.ids,
            prefix=await self.resolve_redis_prefix(),
            fixed=self.settings.node_id if explicit else None,
        )
        await lease.start()
        self._node_lease = lease

    async def _release_node(self) -> None:
        lease, self._node_lease = self._node_lease, None
        if lease is not None:
            await lease.stop()

    @functools.cached_property
    def context(self) -> Context:
        s = self.settings
        return Context(
            db=self.database,
            clock=self.clock,
            ids=IdGenerator(s.node_id),
            settings=s,
            passwords=PasswordHasher(
                time_cost=s.argon2_time_cost,
                memory_kib=s.argon2_memory_kib,
                parallelism=s.argon2_parallelism,
            ),
            files=LocalFileStore(s.data_dir / "uploads"),
            ldap=ldap_directory(s),
            secrets=SecretBox(self._secret_key()),
            egress=Egress(EgressPolicy.from_settings(s)),
            mailer=mailer_from_settings(s),  # [password reset]
            bot_windows=self.bot_windows,  # [bots] T7
        )

    def _secret_key(self) -> bytes:
        s = self.settings
        if s.secret_key is not None:
            try:
                key = bytes.fromhex(s.secret_key.get_secret_value())
            except ValueError:
                raise ValueError("REDOUBT_SECRET_KEY must be 64 hex characters") from None
            return key
        if s.redis_url is not None:
            raise ValueError(
                "scale-out needs REDOUBT_SECRET_KEY (or _FILE), the same for every process"
            )
        s.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        return load_or_create_key(s.data_dir / "secret.key")

    @functools.cached_property
    def bus(self) -> EventBus:
        if self.redis is not None:
            from redoubt.realtime.redis_bus import RedisBus

            return RedisBus(self.redis, channel=self.redis_prefix + "bus")
        return MemoryBus()

    @functools.cached_property
    def rate_limiter(self) -> RateLimiter:
        if self.redis is not None:
            return RedisRateLimiter(self.redis, prefix=self.redis_prefix + "rl:")
        return MemoryRateLimiter()

    @functools.cached_property
    def bot_windows(self) -> BotWindows | None:
        """Scale-out: bots' one-minute activity windows shared in Redis (T7); None in
        the embedded default (each process's ``context.bot_activity``)."""
        if self.redis is not None:
            return RedisBotWindows(self.redis, prefix=lambda: self.redis_prefix + "botact:")
        return None

    @functools.cached_property
    def dispatcher(self) -> Dispatcher:
        ctx = self.context
        return Dispatcher(
            fetch_between=lambda after, upto: events_between(ctx, after, upto),
            fetch_position=ctx.db.current_position,
            replay_buffer=self.settings.ws_replay_buffer,
        )

    @functools.cached_property
    def presence(self) -> PresenceTracker:
        local = self.dispatcher.online_user_ids
        if self.redis is not None:
            ids = self.context.ids
            return RedisPresence(
                self.redis,
                prefix=self.redis_prefix + "presence:",
                node=lambda: ids.node,
                local=local,
            )
        return MemoryPresence(local)

    @functools.cached_property
    def delivery_worker(self) -> DeliveryWorker:
        """Sends the outgoing-webhook outbox (every process runs one)."""
        return DeliveryWorker(self.context)

    @functools.cached_property
    def bot_webhook_worker(self) -> BotWebhookWorker:
        """Delivers bot updates to bot webhooks (every process runs one; a lease per
        bot keeps one process per bot at a time)."""
        dispatcher = self.dispatcher
        return BotWebhookWorker(self.context, dispatcher)

    @functools.cached_property
    def token_usage(self) -> TokenUsage:
        """Per-token request counts and usage alerts, flushed every few seconds."""
        return TokenUsage(self.context)

    @functools.cached_property
    def bot_activity(self) -> BotActivityRecorder:
        """Per-bot activity counts (the baselines) and pending quarantines (T7)."""
        return BotActivityRecorder(self.context)

    @functools.cached_property
    def gateway(self) -> Gateway:
        return Gateway(
            self.context,
            dispatcher=self.dispatcher,
            bus=self.bus,
            limiter=self.rate_limiter,
            presence=self.presence,
        )

    async def check_schema(self) -> None:
        """Refuse to run on a database that isn't at the current schema version."""
        current = await current_revision(self.database.engine)
        head = head_revision()
        if current != head:
            raise SchemaOutdatedError(
                f"The database schema is at {current or 'nothing (empty database)'}, "
                f"this version of Redoubt needs {head}. Run `redoubt db upgrade` first."
            )

    async def start(self) -> None:
        """Check the schema, connect the bus and start fan-out."""
        self.settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        await self.check_schema()
        await self._lease_node()
        self.bus.subscribe(self.dispatcher.on_events, self.dispatcher.on_ephemeral)
        await self.bus.start()
        self.database.set_event_sink(self.bus.publish)
        await self.dispatcher.start()
        await self.presence.start()
        self.token_usage.start()
        self.bot_activity.start()
        self.delivery_worker.start()
        self.bot_webhook_worker.start()
        _ = self.gateway

    async def stop(self) -> None:
        # [password reset] Mails being sent finish first: they may still write to the
        # database, which closes below.
        await self.context.background.close()
        await self.delivery_worker.stop()  # it writes results: before the database closes
        await self.bot_webhook_worker.stop()  # the same
        await self.token_usage.stop()
        await self.bot_activity.stop()
        await self.gateway.stop()
        await self.presence.stop()
        await self.dispatcher.stop()
        await self.bus.stop()
        self.database.set_event_sink(None)
        await self.database.dispose()
        await self._release_node()
        if self.redis is not None:
            await self.redis.aclose()
        await self.context.egress.aclose()
        self.context.passwords.close()
        if self.context.ldap is not None:
            self.context.ldap.close()

    async def start_command(self) -> None:
        """What a one-off command (the CLI) needs: the schema check and a node number."""
        await self.check_schema()
        await self._lease_node()

    async def stop_command(self) -> None:
        await self._release_node()
        await self.database.dispose()
        if self.redis is not None:
            await self.redis.aclose()
        await self.context.egress.aclose()
        self.context.passwords.close()


def ldap_directory(settings: Settings) -> LdapDirectory | None:
    """The directory from the ``ldap_*`` settings, or None when LDAP login is off.

    Raises:
        ValueError: an incomplete or invalid LDAP configuration (at startup, not at the
            first login).
    """
    if settings.ldap_host is None:
        return None
    if settings.ldap_ca_file is None or settings.ldap_bind_password is None:
        raise ValueError("LDAP login needs ldap_ca_file and ldap_bind_password")
    timeout = settings.ldap_timeout_seconds
    config = LdapConfig(
        host=settings.ldap_host,
        port=settings.ldap_port,
        mode=LdapMode(settings.ldap_mode),
        ca_file=settings.ldap_ca_file,
        bind_dn=settings.ldap_bind_dn,
        bind_password=settings.ldap_bind_password.get_secret_value(),
        user_base_dn=settings.ldap_user_base_dn,
        user_object_class=settings.ldap_user_object_class,
        username_attribute=settings.ldap_username_attribute,
        id_attribute=settings.ldap_id_attribute,
        display_name_attribute=settings.ldap_display_name_attribute,
        email_attribute=settings.ldap_email_attribute,
        group_member_attribute=settings.ldap_group_member_attribute,
        group_roles={dn: UserRole(role) for dn, role in settings.ldap_group_roles.items()},
        default_role=UserRole(settings.ldap_default_role) if settings.ldap_default_role else None,
        connect_timeout=float(timeout),
        receive_timeout=timeout,
        total_timeout=3.0 * timeout,
    )
    return LdapDirectory(config)
