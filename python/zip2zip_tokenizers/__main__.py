"""``python -m zip2zip_tokenizers`` (and ``torchrun -m zip2zip_tokenizers train ...``)."""

from __future__ import annotations

from zip2zip_tokenizers.cli import main

raise SystemExit(main())
