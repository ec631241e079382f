"""Dagster definitions for candlelake: one partition per shard, each run through Dagster Pipes."""

from .definitions import Candlelake, build_definitions, defs, shard_of

__all__ = ["Candlelake", "build_definitions", "defs", "shard_of"]
