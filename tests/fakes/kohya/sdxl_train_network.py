"""Fake kohya sd-scripts `sdxl_train_network.py` (SDXL, Illustrious, Pony, NoobAI LoRA): see sd_scripts.py."""

import sys

from sd_scripts import main

if __name__ == "__main__":
    sys.exit(main(sdxl=True))
