"""The `fastcnn` command (also `python -m fastcnn`).

    fastcnn train [--epochs N] [--batch-size B] [--lr LR] [--seed S] [--threads T] [--save PATH [--force]]
    fastcnn info
"""
from __future__ import annotations

import argparse
import os
import sys
import time


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastcnn", description="fastcnn: CNN layers on hand-written C++ kernels")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train the digits CNN on the bundled digits and report test accuracy")
    train.add_argument("--epochs", type=int, default=6, help="passes over the training split (default 6)")
    train.add_argument("--batch-size", type=int, default=32, help="images per step (default 32)")
    train.add_argument("--lr", type=float, default=2e-3, help="Adam's initial learning rate, decayed by a cosine "
                                                             "schedule (default 2e-3)")
    train.add_argument("--seed", type=int, default=0, help="seed for initialisation, shuffling and dropout (default 0)")
    train.add_argument("--threads", type=int, default=None, help="OpenMP threads for the kernels (default: all)")
    train.add_argument("--save", metavar="PATH", help="write the trained model's state_dict to PATH (.npz)")
    train.add_argument("--force", action="store_true", help="let --save replace an existing file")
    commands.add_parser("info", help="print how this build of fastcnn was made (fastcnn.config())")
    return parser


def _train(args) -> int:
    import fastcnn
    from fastcnn.training import train_digits

    for name in ("epochs", "batch_size"):
        if getattr(args, name) < 1:
            print(f"fastcnn train: --{name.replace('_', '-')} must be at least 1", file=sys.stderr)
            return 2
    # Refuse before training rather than after, so a long run is not lost to a name clash.
    if args.save and os.path.exists(args.save) and not args.force:
        print(f"fastcnn train: {args.save} already exists; pass --force to replace it", file=sys.stderr)
        return 2
    if args.threads is not None:
        fastcnn.set_num_threads(args.threads)
    print(f"training digits_cnn for {args.epochs} epochs (batch {args.batch_size}, lr {args.lr}, seed {args.seed}, "
          f"{fastcnn.get_num_threads()} threads)", flush=True)
    start = time.perf_counter()
    model, test_accuracy, _ = train_digits(args.epochs, args.batch_size, args.lr, args.seed,
                                           log=lambda line: print(line, flush=True))
    print(f"test accuracy: {100 * test_accuracy:.2f}% ({time.perf_counter() - start:.1f}s)")
    if args.save:
        fastcnn.save(model.state_dict(), args.save, overwrite=args.force)
        print(f"saved the model's state_dict to {args.save}")
    return 0


def _info() -> int:
    import fastcnn

    for key, value in fastcnn.config().items():
        print(f"{key}: {value}")
    return 0


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    return _train(args) if args.command == "train" else _info()
