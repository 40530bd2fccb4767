"""The reference Pimcore-side receiver: checks each chunk as the protocol says and stores it."""

from ingestd.receiver.app import Policy, ReceiverApp
from ingestd.receiver.server import ReceiverServer

__all__ = ["Policy", "ReceiverApp", "ReceiverServer"]
