"""Dramatiq actors: thin, idempotent, take ids, and import services lazily.

`manage.py rundramatiq` discovers this module (DRAMATIQ_AUTODISCOVER_MODULES).
"""
