"""main() of the data_tools scripts (build_hdf5.py, combine_pairs.py, synthesize_blur.py): the module's own
parser, a user error as one line `NAME: error: ...` with exit status 2, Ctrl-C as 130, no traceback."""
import argparse
import sys

from ..errors import DeblurKerasError


def script_main(name, module, argv=None, prog=None):
    parser = argparse.ArgumentParser(prog=prog, description=module.__doc__.splitlines()[0])
    module.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return module.run(args)
    except DeblurKerasError as e:
        print(f"{name}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
