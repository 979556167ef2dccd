"""Train-step parity table: each family's trainer against its restated original's training step
(deblurkeras.training.step_parity; the cases are the family specs' `parity`, the references each family's
original.py). Columns and targets: experiments/README.md.

    python experiments/train_parity.py                       # every case, 128x128 crops, batch 2, K = 5
    python experiments/train_parity.py --cases dmphn srgan --size 64 --batch 1
    python experiments/train_parity.py --tiny --size 32 --batch 1 --float64
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from deblurkeras.training import step_parity  # noqa: E402


def main(argv=None):
    names = list(step_parity.cases())
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", nargs="+", default=names, choices=names)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--no-floor", action="store_true", help="skip the noise-floor subprocess")
    p.add_argument("--tiny", action="store_true", help="small channel counts / blocks (what the tests run)")
    p.add_argument("--float64", action="store_true",
                   help="both sides in float64 (no floor): what remains is a difference in the algorithm")
    p.add_argument("--json", help="also write the rows here")
    args = p.parse_args(argv)
    rows = []
    for case in args.cases:
        rows.append(step_parity.parity(case, args.size, args.batch, args.steps, args.lr, tiny=args.tiny,
                                       floor=not args.no_floor, dtype="float64" if args.float64 else "float32"))
        print(json.dumps(rows[-1]), flush=True)
    print(step_parity.table(rows, args.size, args.batch, args.steps))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
