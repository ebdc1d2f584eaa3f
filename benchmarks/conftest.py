import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

#: FASTINIT_BENCH=full: 1 GiB float32 for init, 64M elements for activations;
#: anything else (CI smoke): tiny sizes, each benchmark runs once under --benchmark-disable.
FULL = os.environ.get("FASTINIT_BENCH") == "full"
