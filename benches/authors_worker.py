"""The authors' runtime (``zip2zip==0.2.0``) timed inside its own venv for bench_interop.py.

Reads one JSON request per line on stdin and answers one JSON line on stdout:
``{"op": "load", "checkpoint": DIR}`` loads a checkpoint (fp32); ``{"op": "generate", "ids":
[...], "new": N}`` times a greedy ``generate`` of ``N`` ids (EOS held back) after the prompt
``ids`` and answers ``{"seconds": ..., "sequence": [...]}``. Nothing here imports
``zip2zip_tokenizers``.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import torch


def main() -> None:
    torch.set_grad_enabled(False)
    model: Any = None
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "load":
            from zip2zip import Zip2ZipModel

            model = Zip2ZipModel.from_pretrained(request["checkpoint"], dtype=torch.float32)
            model.eval()
            answer: dict[str, Any] = {"ok": True}
        else:
            ids = torch.tensor([request["ids"]])
            new = request["new"]
            start = time.perf_counter()
            out = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=new,
                min_new_tokens=new,
                do_sample=False,
            )
            seconds = time.perf_counter() - start
            answer = {"seconds": seconds, "sequence": out[0].tolist()}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
