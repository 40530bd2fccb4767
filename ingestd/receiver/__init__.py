"""The reference Pimcore-side receiver: checks every chunk as the protocol says and keeps it durably."""

from ingestd.receiver.app import ReceiverApp
from ingestd.receiver.server import ReceiverServer

__all__ = ["ReceiverApp", "ReceiverServer"]
