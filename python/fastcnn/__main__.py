"""`python -m fastcnn ...` runs the fastcnn command line (fastcnn.cli)."""
import sys

from .cli import main

sys.exit(main())
