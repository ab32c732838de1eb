"""Which components make up each profile of the local stack, in start order.

The one module that knows every component, so that no component module needs another's.
"""

from __future__ import annotations

from taskfactory_stack.cluster import BROKERS, ClusterSettings, cluster_stack_settings
from taskfactory_stack.component import Component
from taskfactory_stack.components import KafkaComponent, TemporalComponent
from taskfactory_stack.jaeger import JaegerComponent
from taskfactory_stack.kafka_cluster import KafkaBroker
from taskfactory_stack.keycloak import KeycloakComponent
from taskfactory_stack.postgres import PostgresComponent
from taskfactory_stack.registry import RegistryComponent
from taskfactory_stack.settings import StackSettings
from taskfactory_stack.temporal_server import TemporalServerComponent
from taskfactory_stack.zipkin import ZipkinComponent

__all__ = ["cluster_components", "components"]


def components(settings: StackSettings) -> list[Component]:
    """Every component of ``settings.profile``, in start order."""
    if settings.profile == "cluster":
        return cluster_components(settings)
    kafka = KafkaComponent(settings)
    out: list[Component] = [kafka, TemporalComponent(settings)]
    if settings.registry:
        out.append(RegistryComponent(settings))
    if settings.jaeger:
        # Zipkin's UI shows what Jaeger receives, through a topic on the stack's broker.
        zipkin = settings.zipkin
        out.append(JaegerComponent(settings, zipkin_brokers=kafka.address if zipkin else None))
        if zipkin:
            out.append(ZipkinComponent(settings, brokers=kafka.address))
    if settings.keycloak:
        out.append(KeycloakComponent(settings))
    return out


def cluster_components(settings: StackSettings) -> list[Component]:
    """PostgreSQL, the three brokers, the Temporal server, the registry and Jaeger, in order."""
    cluster = ClusterSettings()
    inner = cluster_stack_settings(settings)
    out: list[Component] = [PostgresComponent(inner, cluster=cluster)]
    out += [KafkaBroker(inner, node=n, cluster=cluster) for n in range(1, BROKERS + 1)]
    out.append(TemporalServerComponent(inner, cluster=cluster))
    if settings.registry:
        out.append(RegistryComponent(inner))
    if settings.jaeger:
        out.append(JaegerComponent(inner))
    return out
