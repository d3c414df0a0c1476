"""``python -m cn_embeddings.cli``: the same as the ``cn-embeddings`` command."""

import sys

from . import main

sys.exit(main())
