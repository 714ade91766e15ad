"""The content hashes are stored in the id map: a hash that changed with an upgrade would
make every synced record look changed, and the next run would rewrite all of them in RO App.
These values were computed by the code before ``content_hash`` got its fast path; they must
never change unless the hashed fields themselves change on purpose."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cartum_roapp_sync.transform import content_hash, transform_batch

from .records import store
from .test_batch import raw_batch

EVERY_KIND = {
    "a": "Текст", "b": 1, "c": 1.5, "d": 100.0, "e": None, "f": float("nan"), "g": True, "h": [1, 2.0, "x"],
    "i": {"z": 1, "y": [{"k": None}]}, "j": float("inf"), "k": (1, 2), "l": np.int64(7), "m": np.float64(2.0),
    "n": np.array([1, 2]), "o": pd.NA, "p": -0.0, "q": 10**20, "r": {3: "int key"},
}


def test_the_hash_of_every_kind_of_value_is_pinned():
    assert content_hash(EVERY_KIND, EVERY_KIND) == "3ce89817fd80915b540683e656fcf352ea47b701911fde8c6f6ad4705d6e8117"


PINNED = {
    "sku": {
        "clients": {"email:maria@i.ua": "5625c739e72051674d21b6ec52ff052c2ae1cf59cd04efada5831a3d039f52e8",
                    "guest:3": "063ed4c5fd1e1735a2eb7c5ffeb28e8d7cc3140de97badd9af213e2b7d1f049c",
                    "phone:+380501234567": "6009f3a33cac190ec190e6673762cb142052591e0c680bf938bb61996ffaf48c"},
        "products": {"SKU-1": "58daea5445fd30057df6d64105742f16f3fe59389440f2c0a19463bc5871b889",
                     "SKU-2": "a352194bca8d65a9fb118080471fd50f2d6740e6cc837ddcc71a8c6d68df9a19",
                     "SKU-3": "63cc13f4496d7af70a4eae1a307b578dd7b34a8fd48747d4a12f6e90d14740de",
                     "SKU-9": "69345cc23e445e6b5552a8a7efe488d0bee9757e96c4adff34d21528016bb5fd"},
        "orders": {"1": "1656c1a0528d599ed1c081b9df038dc6c1093320ee44dd8ccedd43783508f48b",
                   "2": "4f91902ec66c9af710bde1992ab862561c36616dfaf4730d61d83b512deebb40",
                   "3": "abc0685add019080aee7d99ebc4155f37525f874cbcda1e5662b5fce19cac14d"},
    },
    "barcode": {
        "clients": {"email:maria@i.ua": "5625c739e72051674d21b6ec52ff052c2ae1cf59cd04efada5831a3d039f52e8",
                    "guest:3": "063ed4c5fd1e1735a2eb7c5ffeb28e8d7cc3140de97badd9af213e2b7d1f049c",
                    "phone:+380501234567": "6009f3a33cac190ec190e6673762cb142052591e0c680bf938bb61996ffaf48c"},
        "products": {"4820000000001": "58daea5445fd30057df6d64105742f16f3fe59389440f2c0a19463bc5871b889",
                     "article:SKU-3": "63cc13f4496d7af70a4eae1a307b578dd7b34a8fd48747d4a12f6e90d14740de",
                     "article:SKU-9": "69345cc23e445e6b5552a8a7efe488d0bee9757e96c4adff34d21528016bb5fd"},
        "orders": {"1": "dbfcdccaf06774cc7810ab1e03f4bfd454e6ff855297e31b117a00a303ca3062",
                   "2": "6e252857da0fe758f6c318eee6a55d8115fdc18ded001e41bdb7b410f74380d0",
                   "3": "399fcdfc3abd4d05f5d886bc499f5cdb38da8c523330b0e29c85247f98c3ccf0"},
    },
}


@pytest.mark.parametrize("mode", sorted(PINNED))
def test_the_hashes_of_a_transformed_batch_are_pinned(mode):
    result = transform_batch(raw_batch(), config=store(product_key=mode))
    for name, pinned in PINNED[mode].items():
        frame = getattr(result, name)
        assert dict(zip(frame.iloc[:, 0].astype(str), frame["content_hash"])) == pinned, name
