"""``python main.py train vae|gan|diffusion --data PATH ...``: the command-line front end of models.training.

Examples::

    python main.py train vae --data ../shared/art/openclipart_64.npz ../shared/art/emoji_64.npz \\
        --conditional --steps 3000 --out runs/vae
    torchrun --nproc_per_node 4 main.py train gan --data my_art_folder --size 128 --out runs/gan

Running the same command again with the same ``--out`` resumes from its last checkpoint.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from models.errors import OneLineError
from models.training import KINDS, TrainConfig, model_config, train

logger = logging.getLogger(__name__)


class TrainArgumentError(OneLineError):
    """A training option is out of range."""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``train`` sub-command to ``subparsers``; returns its parser."""
    parser = subparsers.add_parser(
        "train", help="train a VAE, GAN or diffusion model on a folder of images or .npz sets",
        description="Train a VAE, GAN or diffusion model. Sub-folders (or .npz file names) are the themes. "
                    "Rerun with the same --out to resume. Under torchrun it trains with "
                    "DistributedDataParallel; --batch is then per process.")
    parser.add_argument("kind", choices=KINDS, help="the model to train")
    parser.add_argument("--data", nargs="+", required=True, metavar="PATH",
                        help="a folder of images (sub-folders = themes), .npz files, or a glob such as "
                             "'../shared/art/*.npz'")
    parser.add_argument("--size", type=int, default=64, choices=(16, 32, 64, 128, 256),
                        help="model resolution in pixels (default 64)")
    parser.add_argument("--steps", type=int, default=2000, help="optimiser steps in all (default 2000)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default runs/KIND_SIZE)")
    parser.add_argument("--seed", type=int, default=0, help="the same seed gives the same run on the CPU")
    parser.add_argument("--batch", type=int, default=None, help="batch per process (default VAE 64, GAN and diffusion 32)")
    parser.add_argument("--conditional", action="store_true", help="condition the model on the themes")
    parser.add_argument("--latent-dim", type=int, default=None,
                        help="latent size (default VAE 32, GAN 64; a diffusion model's is its noise, 3 x size x size)")
    parser.add_argument("--lr", type=float, default=None, help="learning rate (default VAE 1e-3, GAN 2e-4, diffusion 3e-4)")
    parser.add_argument("--description", default="", help="the training data, stored in the checkpoint "
                        "(default: counts and file names)")
    parser.add_argument("--licence", default="unknown", help="licence of the training data, stored in the checkpoint")
    parser.add_argument("--sample-every", type=int, default=250, help="steps between sample grids")
    parser.add_argument("--checkpoint-every", type=int, default=500, help="steps between checkpoints")
    parser.add_argument("--hparam", action="append", default=[], metavar="NAME=VALUE",
                        help="a field of the model's config dataclass (VAEConfig, GANConfig, DiffusionConfig), "
                             "e.g. --hparam d_channels=32 --hparam channels=64,128,192; repeat for several")
    parser.add_argument("--limit-per-theme", type=int, default=None, help="use only the first N images of each theme")
    return parser


def run(args: argparse.Namespace) -> int:
    """Train as ``args`` asks; returns the exit status 0.

    Raises OneLineError subclasses (DataError) for missing or unreadable data, with one-line messages.
    """
    if args.steps < 1:
        raise TrainArgumentError(f"--steps must be at least 1, got {args.steps}")
    if args.kind == "diffusion" and args.latent_dim is not None:
        raise TrainArgumentError("--latent-dim does not apply to a diffusion model: its latent is its "
                                 "starting noise, 3 x size x size numbers")
    hparams = []
    for item in args.hparam:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise TrainArgumentError(f"--hparam {item!r}: expected NAME=VALUE")
        hparams.append((name.strip(), value.strip()))
    out = args.out or Path("runs") / f"{args.kind}_{args.size}"
    config = TrainConfig(
        kind=args.kind, data=tuple(args.data), out=out, resolution=args.size, steps=args.steps,
        batch=args.batch or (64 if args.kind == "vae" else 32), seed=args.seed,
        conditional=args.conditional, latent_dim=args.latent_dim, lr=args.lr,
        description=args.description, licence=args.licence, sample_every=args.sample_every,
        checkpoint_every=args.checkpoint_every, limit_per_theme=args.limit_per_theme, hparams=tuple(hparams),
    )
    try:
        model_config(args.kind, args.size, latent_dim=args.latent_dim, hparams=config.hparams)  # checked before any work
    except ValueError as error:  # a model setting out of range, named by the dataclass
        raise TrainArgumentError(str(error)) from None
    checkpoint = train(config)
    logger.info("checkpoint: %s (samples and loss curve in %s)", checkpoint, out)
    return 0
