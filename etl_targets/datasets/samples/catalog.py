"""The master data every sample generator shares: SO's customers and the SKU catalog.

Why: stock (INV), purchases (PO) and sales (SO) must talk about the same
products, and master data is fixed across seeds as a real ERP's is, so the
catalog is drawn once from its own seed (:data:`CATALOG_SEED`) whatever seed
a generator runs with. Integers only, so the same bytes come out on every
platform. Standard library only.
"""

from __future__ import annotations

import functools
import random

CATALOG_SEED = 4180
REGIONS = ("North", "South", "East", "West")


def _price_texts(cents: int) -> tuple:
    """Canonical ``1234.50`` plus the form a sloppy export might use instead."""
    whole, frac = divmod(cents, 100)
    canonical = f"{whole}.{frac:02d}"
    if whole >= 1000:
        return canonical, f"{whole:,}.{frac:02d}"
    if frac == 0:
        return canonical, str(whole)
    if frac % 10 == 0:
        return canonical, f"{whole}.{frac // 10}"
    return canonical, canonical


def _customer_name(rng: random.Random) -> str:
    heads = ("Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli",
             "Vandelay", "Tyrell", "Wonka", "Cyberdyne", "Müller", "Zoë's", "Café Olé",
             "Nordic", "Pacific", "Summit", "Blue River", "Oak & Iron", "Łódź Tools")
    tails = ("Inc.", "LLC", "Ltd", "GmbH", "Corp.", "Industries", "Trading", "Supply Co.")
    head, tail, r = rng.choice(heads), rng.choice(tails), rng.random()
    if r < 0.02:
        return ""
    if r < 0.25:
        name = f"{head}, {tail}"
    elif r < 0.35:
        name = f'{head} "{rng.choice(("Best", "Prime", "The Original"))}" {tail}'
    elif r < 0.40:
        name = f'"{head}", {tail}'
    else:
        name = f"{head} {tail}"
    return f"  {name} " if rng.random() < 0.05 else name


@functools.lru_cache(maxsize=4)
def master_data(seed: int = CATALOG_SEED) -> tuple:
    """``(customers, skus)``: customers are (id, name, region), SKUs (sku, price text, alternative).

    The alternative price text is how a sloppy export might spell the same
    price (``1,234.50``, ``12`` for ``12.00``, ``12.5`` for ``12.50``).
    """
    rng = random.Random(seed)
    customers = tuple((f"C{i:05d}", _customer_name(rng), rng.choice(REGIONS))
                      for i in range(1, 601))
    skus = []
    for i in range(2500):
        r = rng.random()
        top = 900000 if r < 0.1 else rng.choice((999, 9999, 99999))  # integers only:
        cents = 0 if r < 0.01 else rng.randint(50, top)  # same bytes on every platform
        r = rng.random()
        cents = cents // 100 * 100 if r < 0.15 else cents // 10 * 10 if r < 0.3 else cents
        skus.append((f"SKU-{10000 + i}", *_price_texts(cents)))
    return customers, tuple(skus)


def list_prices() -> tuple:
    """The SKUs with their list price in cents: ``(("SKU-10000", 1999), ...)``."""
    return tuple((sku, int(price.replace(".", ""))) for sku, price, _ in master_data()[1])
