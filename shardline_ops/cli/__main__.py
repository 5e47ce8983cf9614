import sys

from shardline_ops.cli import main

sys.exit(main())
