"""``python -m trt_panoptic.plugins build ...`` = ``trt-panoptic plugins build ...``."""
import sys

from trt_panoptic.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["plugins", *sys.argv[1:]]))
