import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"


def have(*tools: str) -> bool:
    return all(shutil.which(t) for t in tools)


needs_promtool = pytest.mark.skipif(
    not have("promtool"), reason="promtool not installed (make test installs it)"
)


@pytest.fixture
def root() -> Path:
    return ROOT
