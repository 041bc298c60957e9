"""Where genkit keeps what it makes once and reuses: `$GENKIT_CACHE/<kind>`.

`$GENKIT_CACHE` when set, else `$XDG_CACHE_HOME/genkit`, else `~/.cache/genkit`. Rendered
data sets live under `data/` (`genkit.data.shapes`), trained feature extractors under
`extractors/` (`genkit.evaluate.features`), the results of validating export manifests under
`manifests/` (`genkit.manifest.load`). Entries are written with
`genkit.atomic` (a directory or a file swapped in whole), so a reader never sees half of one; deleting the folder
only costs the next run the time to make its entries again.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir(kind: str) -> Path:
    """The cache folder of `kind` ("data", "extractors", "manifests"); created by the first write, not here."""
    if os.environ.get("GENKIT_CACHE"):
        return Path(os.environ["GENKIT_CACHE"]).expanduser() / kind
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "genkit" / kind
