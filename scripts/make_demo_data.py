"""Writes examples/transactions.csv: seeded synthetic card transactions.

4,950 ordinary transactions and 50 planted frauds of four kinds (a huge
amount, a country the card never uses, a burst of items at night, and an
odd merchant with a card-not-present purchase). Run from the repository
root: python3 scripts/make_demo_data.py
"""

import csv
import datetime as dt
import random

SEED = 7
N_NORMAL = 4950
N_FRAUD = 50

rng = random.Random(SEED)
start = dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc)
categories = ["grocery", "fuel", "restaurant", "online", "travel", "pharmacy"]
weights = [0.35, 0.15, 0.2, 0.2, 0.05, 0.05]
countries = ["GB", "FR", "DE", "ES"]
country_weights = [0.8, 0.08, 0.07, 0.05]
typical_amount = {"grocery": 45, "fuel": 60, "restaurant": 35, "online": 70, "travel": 250, "pharmacy": 20}

rows = []
for i in range(N_NORMAL):
    category = rng.choices(categories, weights)[0]
    amount = round(rng.lognormvariate(0, 0.45) * typical_amount[category], 2)
    # Daytime-heavy hours.
    hour = min(23, max(0, int(rng.gauss(14, 3.5))))
    when = start + dt.timedelta(days=rng.randrange(28), hours=hour, minutes=rng.randrange(60))
    rows.append({
        "timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "amount": amount,
        "merchant_category": category,
        "country": rng.choices(countries, country_weights)[0],
        "card_present": "true" if category != "online" else "false",
        "n_items": max(1, int(rng.gauss(3, 1.5))),
        "is_fraud": 0,
    })

for i in range(N_FRAUD):
    kind = i % 4
    when = start + dt.timedelta(days=rng.randrange(28), hours=rng.randrange(24), minutes=rng.randrange(60))
    row = {
        "timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "amount": round(rng.lognormvariate(0, 0.45) * 50, 2),
        "merchant_category": "online",
        "country": "GB",
        "card_present": "false",
        "n_items": max(1, int(rng.gauss(3, 1.5))),
        "is_fraud": 1,
    }
    if kind == 0:
        row["amount"] = round(rng.uniform(2500, 9000), 2)
    elif kind == 1:
        row["country"] = rng.choice(["NG", "KP", "VE"])
        row["amount"] = round(rng.uniform(300, 900), 2)
    elif kind == 2:
        row["n_items"] = rng.randrange(25, 60)
        row["amount"] = round(rng.uniform(400, 1500), 2)
    else:
        row["merchant_category"] = rng.choice(["jewellery", "crypto_exchange"])
        row["amount"] = round(rng.uniform(800, 3000), 2)
    rows.append(row)

rng.shuffle(rows)
# A few ordinary rows with missing values, as real exports have.
for row in rng.sample(rows, 25):
    row[rng.choice(["amount", "country", "n_items"])] = ""

with open("examples/transactions.csv", "w", newline="") as handle:
    fields = ["id", "timestamp", "amount", "merchant_category", "country", "card_present", "n_items", "is_fraud"]
    writer = csv.DictWriter(handle, fieldnames=fields)
    writer.writeheader()
    for index, row in enumerate(rows, start=1):
        writer.writerow({"id": f"t{index:05d}", **row})
