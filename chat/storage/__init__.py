"""DynamoDB storage: the tables, the users (sessions), the messages, the rooms and the read markers."""

from .client import Dynamo, connect
from .markers import MarkerStore
from .messages import MessageStore, Page
from .rooms import RoomRecord, RoomStore
from .schema import TableNames, ensure_tables
from .users import UserStore

__all__ = [
    "Dynamo",
    "MarkerStore",
    "MessageStore",
    "Page",
    "RoomRecord",
    "RoomStore",
    "TableNames",
    "UserStore",
    "connect",
    "ensure_tables",
]
