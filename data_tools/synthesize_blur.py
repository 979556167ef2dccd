"""Make blurred/sharp training pairs from sharp photos with random camera-shake kernels.

A runnable front end over deblurkeras.data.synthesize (options and details: its docstring, or --help).

    python data_tools/synthesize_blur.py --help
"""
import os
import sys

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository, uninstalled
    from deblurkeras.data.synthesize import main

    sys.exit(main())
