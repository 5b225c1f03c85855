"""What the resource blueprints share: pagination."""

from sqlalchemy import Select, func, select

from ..plumbing.context import get_db


def paginate(stmt: Select, page: int, per_page: int) -> tuple[list, int]:
    db = get_db()
    total = db.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    items = list(db.scalars(stmt.limit(per_page).offset((page - 1) * per_page)))
    return items, total
