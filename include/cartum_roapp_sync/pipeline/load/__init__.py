"""Loading into RO App (see ``base`` for the guarantees): one loader per entity, registered
by the entity it declares."""

from ...entities import ENTITIES
from .base import EntityLoader, LoadCounts
from .clients import ClientLoader
from .orders import OrderLoader
from .products import ProductLoader

LOADERS: dict[str, type[EntityLoader]] = {loader.entity.name: loader
                                          for loader in (ClientLoader, ProductLoader, OrderLoader)}


def missing_loaders() -> list[str]:
    """Entities declared in ``entities`` that no loader handles (an empty list when whole)."""
    return [entity.name for entity in ENTITIES if entity.name not in LOADERS]


__all__ = ["LOADERS", "ClientLoader", "EntityLoader", "LoadCounts", "OrderLoader", "ProductLoader", "missing_loaders"]
