"""Database: SQLAlchemy 2 models and sessions (PostgreSQL in production, SQLite embedded)."""

from .models import Base, Corpus, Epoch, Job, Sample, Token, User, WorkStatus
from .session import get_engine, session_scope, sessionmaker_for

__all__ = [
    "Base",
    "Corpus",
    "Epoch",
    "Job",
    "WorkStatus",
    "Sample",
    "WorkStatus",
    "Token",
    "User",
    "get_engine",
    "session_scope",
    "sessionmaker_for",
]
