"""The foreign-key graph of a database: generation order, drivers, secondary and self references.

Pure Python over :class:`synthohive_spark.metadata.Metadata`; no Spark, no pandas. The graph
algorithms (:func:`strongly_connected_components`, :func:`topological_order`,
:func:`find_cycle`) work on a plain mapping of node -> parents and need no metadata: they are the
ones :class:`Metadata` validation and ordering and metadata detection use as well.
"""
from __future__ import annotations

import logging
from typing import Iterable, Mapping, Optional

from synthohive_spark.errors import SchemaGraphError  # noqa: F401 (re-exported)
from synthohive_spark.metadata import ForeignKey, Metadata

logger = logging.getLogger("synthohive_spark.relational.graph")

__all__ = ["SchemaGraph", "SchemaGraphError", "strongly_connected_components",
           "topological_order", "find_cycle"]


def strongly_connected_components(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of ``graph`` (node -> nodes it points at), each
    in the mapping's order; a component of more than one node is a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []
    counter = [0]
    order = list(graph)

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, []):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            comp.sort(key=order.index)
            result.append(comp)

    for v in graph:
        if v not in index:
            visit(v)
    return result


def topological_order(parents: Mapping[str, Iterable[str]], *, layers: bool = False) -> list[str]:
    """The nodes of ``parents`` (node -> its parents; edges to itself or to unknown nodes are
    ignored) with every parent before its children. Ties keep the mapping's order: the earliest
    ready node comes next, or with ``layers`` every node ready at once comes next, a generation at
    a time. Nodes on or below a cycle are left out (the caller names them)."""
    nodes = list(parents)
    rank = {t: i for i, t in enumerate(nodes)}
    need = {t: {p for p in parents[t] if p != t and p in rank} for t in nodes}
    order: list[str] = []
    done: set[str] = set()
    if layers:
        remaining = nodes
        while remaining:
            ready = [t for t in remaining if need[t] <= done]
            if not ready:
                break
            order.extend(ready)
            done.update(ready)
            remaining = [t for t in remaining if t not in done]
        return order
    children: dict[str, list[str]] = {t: [] for t in nodes}
    for t in nodes:
        for p in sorted(need[t], key=rank.__getitem__):
            children[p].append(t)
    indeg = {t: len(need[t]) for t in nodes}
    ready = [t for t in nodes if indeg[t] == 0]
    while ready:
        t = ready.pop(0)
        order.append(t)
        for child in children[t]:
            indeg[child] -= 1
            if indeg[child] == 0:
                ready.append(child)
        ready.sort(key=rank.__getitem__)
    return order


def find_cycle(parents: Mapping[str, Iterable[str]]) -> list[str]:
    """A cycle as a path ``a -> b -> ... -> a``, following the first parent (by name) from the
    first node; every node of ``parents`` must have a parent among them."""
    start = next(iter(parents))
    path: list[str] = [start]
    seen = {start: 0}
    node = start
    while True:
        nxt = sorted(parents[node])[0]
        if nxt in seen:
            return path[seen[nxt]:] + [nxt]
        seen[nxt] = len(path)
        path.append(nxt)
        node = nxt


class SchemaGraph:
    """Generation plan of a database: which table comes first and under which foreign key.

    >>> from synthohive_spark.examples import retail_metadata
    >>> g = SchemaGraph(retail_metadata())
    >>> g.order.index("customers") < g.order.index("orders") < g.order.index("order_items")
    True
    >>> g.driver("order_items").parent_table
    'orders'
    >>> [fk.column for fk in g.self_references("employees")]
    ['reports_to']
    """

    def __init__(self, metadata: Metadata) -> None:
        if not isinstance(metadata, Metadata):
            raise TypeError(f"SchemaGraph expects a synthohive_spark.Metadata, got "
                            f"{type(metadata).__name__}")
        self.metadata = metadata
        self._check_references()
        self.order: list[str] = self._topological_order()

    # ------------------------------------------------------------------ construction
    def _check_references(self) -> None:
        errors: list[str] = []
        tables = self.metadata.tables
        for name, table in tables.items():
            drivers = [fk for fk in table.foreign_keys if fk.driver]
            if len(drivers) > 1:
                errors.append(f"table {name!r}: {len(drivers)} driver foreign keys "
                              f"({', '.join(fk.column for fk in drivers)}); expected at most one")
            for fk in table.foreign_keys:
                where = f"table {name!r}, column {fk.column!r}"
                parent = tables.get(fk.parent_table)
                if parent is None:
                    errors.append(f"{where}: refers to table {fk.parent_table!r}, which is not in "
                                  f"the metadata (tables: {', '.join(sorted(tables))})")
                    continue
                if parent.primary_key is None or fk.parent_column != parent.primary_key:
                    errors.append(
                        f"{where}: refers to {fk.parent_table}.{fk.parent_column}; the generator "
                        f"needs foreign keys to reference the parent's primary key "
                        f"({parent.primary_key!r})")
                if fk.driver and fk.parent_table == name:
                    errors.append(f"{where}: a self-reference cannot be the driver foreign key")
        if errors:
            raise SchemaGraphError("cannot generate this schema:\n"
                                   + "\n".join(f"  - {e}" for e in errors), errors)

    def _topological_order(self) -> list[str]:
        tables = self.metadata.tables
        parents = {name: {fk.parent_table for fk in table.foreign_keys if fk.parent_table != name}
                   for name, table in tables.items()}
        order = topological_order(parents, layers=True)
        if len(order) < len(tables):
            done = set(order)
            cycle = find_cycle({t: parents[t] - done for t in tables if t not in done})
            raise SchemaGraphError(
                "foreign keys form a cycle across tables: " + " -> ".join(cycle)
                + " (child -> parent); a database with a cycle cannot be generated parents "
                "first: remove one of these foreign keys or make it a self-reference",
                [f"cycle: {' -> '.join(cycle)}"])
        return order

    # ------------------------------------------------------------------ lookups
    def driver(self, table: str) -> Optional[ForeignKey]:
        """The foreign key ``table`` is generated under (None for a root table)."""
        return self.metadata.table(table).driver

    def is_root(self, table: str) -> bool:
        return self.driver(table) is None

    def roots(self) -> list[str]:
        """Tables generated from nothing, sized by ``scale`` (reference tables are kept as they
        are, so they are not roots)."""
        return [t for t in self.order if self.is_root(t) and not self.is_reference(t)]

    def is_reference(self, table: str) -> bool:
        """A lookup table kept as it is (``reference: true`` in the metadata)."""
        return bool(self.metadata.table(table).reference)

    def secondary_fks(self, table: str) -> list[ForeignKey]:
        """Foreign keys to other tables besides the driver and reference tables."""
        return [fk for fk in self.metadata.table(table).foreign_keys
                if not fk.driver and fk.parent_table != table
                and not self.is_reference(fk.parent_table)]

    def reference_fks(self, table: str) -> list[ForeignKey]:
        """Foreign keys to reference tables: learned as categorical columns of ``table``, jointly
        with its other columns (their values are the reference table's own keys)."""
        return [fk for fk in self.metadata.table(table).foreign_keys
                if fk.parent_table != table and self.is_reference(fk.parent_table)]

    def self_references(self, table: str) -> list[ForeignKey]:
        return [fk for fk in self.metadata.table(table).foreign_keys if fk.parent_table == table]

    def key_columns(self, table: str) -> list[str]:
        """The primary key and every foreign-key column of ``table`` that is generated as a key,
        never learned (a key to a reference table is learned as a category instead)."""
        cfg = self.metadata.table(table)
        keys = [cfg.primary_key] if cfg.primary_key else []
        refs = {fk.column for fk in self.reference_fks(table)}
        keys += [fk.column for fk in cfg.foreign_keys if fk.column not in keys
                 and fk.column not in refs]
        return keys

    def children(self, table: str) -> list[str]:
        """Tables with a foreign key to ``table``, as :meth:`Metadata.children` (any key)."""
        return self.metadata.children(table)

    def generated_under(self, table: str) -> list[str]:
        """Tables whose driver foreign key points at ``table`` (generated per row of it), in order."""
        out = []
        for t in self.order:
            d = self.driver(t)
            if d is not None and d.parent_table == table:
                out.append(t)
        return out

    def __repr__(self) -> str:
        return f"SchemaGraph(order={self.order})"
