"""A stand-in training worker for the launcher test: records its pid, then sleeps."""
import os
import sys
import time
from pathlib import Path

if __name__ == "__main__":
    folder = Path(sys.argv[1])
    (folder / f"worker-{os.getpid()}").write_text("")
    time.sleep(600)
