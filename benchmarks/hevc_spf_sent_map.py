"""``edms eval`` with the unregistered ``hevc-spf-map`` pipeline available (extension).

``hevc-spf-map`` is the alternative of ``hevc-spf`` whose encoder sends SegNet(x) of the
original as a lossless semantic-map layer (bits counted) instead of letting the decoder
recompute the map from the decoded image; it is measured against ``hevc-spf``, not shipped
(see docs/results.md). Arguments are those of ``edms eval``; keep ``-j 1`` (the
registration lives in this process only), e.g.

    python benchmarks/hevc_spf_sent_map.py -p hevc,hevc-spf,hevc-spf-map \\
        -q 22,27,32,37,42 IMAGES --json spf-map.json
"""

from __future__ import annotations

import sys

from app.cli import main
from app.pipelines import registry
from app.pipelines.hevcpf import HevcSentMapPostFilterPipeline

if __name__ == "__main__":
    registry.available()  # the built-in pipelines first
    registry.register("hevc-spf-map", HevcSentMapPostFilterPipeline,
                      HevcSentMapPostFilterPipeline.description)
    sys.exit(main(["eval", *sys.argv[1:]]))
