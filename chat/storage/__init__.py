"""DynamoDB storage: the tables, the users (sessions) and the messages."""

from .client import Dynamo, connect
from .messages import MessageStore, Page
from .schema import TableNames, ensure_tables
from .users import UserStore

__all__ = ["Dynamo", "MessageStore", "Page", "TableNames", "UserStore", "connect", "ensure_tables"]
