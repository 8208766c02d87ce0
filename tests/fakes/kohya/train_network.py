"""Fake kohya sd-scripts `train_network.py` (SD1.x/2.x LoRA): see sd_scripts.py."""

import sys

from sd_scripts import main

if __name__ == "__main__":
    sys.exit(main(sdxl=False))
