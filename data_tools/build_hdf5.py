"""Build the HDF5 training dataset from side-by-side / GoPro / paired images.

A runnable front end over deblurkeras.data.build (options and details: its docstring, or --help).

    python data_tools/build_hdf5.py --help
"""
import os
import sys

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository, uninstalled
    from deblurkeras.data.build import main

    sys.exit(main())
