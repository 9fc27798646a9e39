import json
from pathlib import Path

import pandas as pd
import pytest

REFERENCE = Path(__file__).parent / "reference"
CASES = json.loads((REFERENCE / "cases.json").read_text())


def read_reference(name):
    """The R data (CSV) and lme4 fit (JSON) of one article setting."""
    return (pd.read_csv(REFERENCE / f"{name}.csv"),
            json.loads((REFERENCE / f"{name}.json").read_text()))


@pytest.fixture(params=sorted(CASES), scope="module")
def article_case(request):
    name = request.param
    data, fit = read_reference(name)
    return name, CASES[name], data, fit
