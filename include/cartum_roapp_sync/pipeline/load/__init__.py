"""Loading into RO App (see ``base`` for the guarantees): one loader per entity."""

from .base import EntityLoader, LoadCounts
from .clients import ClientLoader
from .orders import OrderLoader
from .products import ProductLoader

LOADERS = {"clients": ClientLoader, "products": ProductLoader, "orders": OrderLoader}

__all__ = ["LOADERS", "ClientLoader", "EntityLoader", "LoadCounts", "OrderLoader", "ProductLoader"]
