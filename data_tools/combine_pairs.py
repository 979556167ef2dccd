"""Write side-by-side images (LEFT sharp | RIGHT blurred) from two folders of matching names.

A runnable front end over deblurkeras.data.combine (options and details: its docstring, or --help).

    python data_tools/combine_pairs.py --help
"""
import os
import sys

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository, uninstalled
    from deblurkeras.data.combine import main

    sys.exit(main())
