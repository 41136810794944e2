"""Training a VAE, a GAN or a diffusion model on an art folder: one loop, resumable, on one or several processes.

``train(TrainConfig)`` runs the loop in ``Trainer.loop``: evaluate (sample grid and loss curve PNG)
/ checkpoint / stop / step / log. Everything it writes goes to ``TrainConfig.out``:

- ``vae.safetensors``, ``gan.safetensors`` or ``diffusion.safetensors``: the shippable checkpoint (``models.checkpoint``);
- ``train_state.safetensors``: everything needed to resume (all networks, optimiser moments, the
  step, the loss history); a run started again with the same ``--out`` resumes from it;
- ``samples_<step>.png`` (the step, six digits) and ``samples_latest.png`` (for a VAE, held-out images above their
  reconstructions, then samples), and ``loss.png``.

Reproducible: the model is initialised from ``torch.manual_seed(seed)``, and every random draw
of step ``s`` (batch indices, flips, noise) comes from a generator seeded by (seed, rank, s), so
the same seed gives the same run on the CPU, and a resumed run continues exactly as if it had
never stopped.

Several processes: launched by ``torchrun --nproc_per_node N main.py train ...`` (which sets
WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR/PORT), each process trains on its own batches and
DistributedDataParallel averages the gradients: NCCL on CUDA (one GPU per process, by
LOCAL_RANK), gloo on the CPU. ``--batch`` is per process, and so are the GAN generator's
BatchNorm statistics (DDP broadcasts rank 0's buffers at each forward). Rank 0 alone logs and
writes files.

Mixed precision on CUDA: autocast to bfloat16 where the GPU supports it, else float16 with a
gradient scaler. The CPU trains in float32.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from models import gan as gan_lib
from models.checkpoint import meta_for, save_checkpoint
from models.data import ArtDataset, load_dataset, save_image_grid, split_holdout, to_model_range
from models.diffusion import DiffusionConfig, DiffusionModel, DiffusionTrainee
from models.gan import GAN, GANConfig
from models.vae import VAE, VAEConfig, fit_prior

logger = logging.getLogger(__name__)

KINDS = ("vae", "gan", "diffusion")
STATE_FILE = "train_state.safetensors"
_STATE_KEY = "installation.train_state"


@dataclass(frozen=True)
class TrainConfig:
    """One training run: what, on which data, for how long, and where to write."""

    kind: str  # "vae" | "gan" | "diffusion"
    data: tuple[str, ...]  # folders, .npz files or glob patterns (see models.data)
    out: Path
    resolution: int = 64
    steps: int = 2000
    batch: int = 64  # per process
    seed: int = 0
    conditional: bool = False  # condition on themes (sub-folders / .npz names)
    latent_dim: int | None = None  # None = the model's default
    lr: float | None = None  # None = the kind's default (VAE 1e-3, GAN 2e-4, diffusion 3e-4)
    description: str = ""  # of the training data, stored in the checkpoint
    licence: str = "unknown"  # of the training data, stored in the checkpoint
    log_every: int = 20
    sample_every: int = 250
    checkpoint_every: int = 500
    limit_per_theme: int | None = None  # keep only the first N images of each theme
    ema_decay: float = 0.999  # GAN, diffusion: the shipped model averages about the last 1 / (1 - decay) steps
    hparams: tuple[tuple[str, str], ...] = ()  # (field, value) of the model's config dataclass, e.g. ("d_channels", "32")


def train(config: TrainConfig) -> Path:
    """Run (or resume) training; returns the path of the shippable checkpoint.

    Raises DataError when the data cannot be read and ValueError for an unknown kind.
    """
    if config.kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {config.kind!r}")
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    device = set_up_process(distributed)
    try:
        return Trainer(config, device, distributed).loop()
    finally:
        if distributed:
            dist.destroy_process_group()


def set_up_process(distributed: bool) -> torch.device:
    """Join the process group when launched by torchrun; returns this process's device."""
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0"))) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if distributed:
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    return device


def step_generator(seed: int, rank: int, step: int, device: torch.device | str = "cpu") -> torch.Generator:
    """Returns the generator for every random draw of one step: a pure function of its arguments."""
    # hash() of a tuple of ints is not salted per process (unlike str), so all ranks and reruns
    # on one Python version agree.
    return torch.Generator(device).manual_seed(hash((seed, rank, step)) & 0x7FFF_FFFF_FFFF_FFFF)


class Trainer:
    """The state of one training run; ``loop`` is the whole of training. ``train`` is the usual entry."""

    def __init__(self, config: TrainConfig, device: torch.device, distributed: bool) -> None:
        """Load the data, build the model and optimisers, and resume from ``config.out`` if it holds
        a train state. ``distributed``: the process group is already joined. Raises DataError."""
        self.config, self.device, self.distributed = config, device, distributed
        self.rank = dist.get_rank() if distributed else 0
        self.world = dist.get_world_size() if distributed else 1
        self.is_main = self.rank == 0
        self.out = Path(config.out)
        data = load_dataset(config.data, config.resolution, config.limit_per_theme)
        self.themes = data.themes if config.conditional else ()
        train_idx, held_idx = split_holdout(data)
        self.images = data.images[train_idx].to(device)  # (N, 3, R, R) uint8, stays on the device
        self.labels = data.labels[train_idx].to(device)  # (N,)
        shown = _interleave_themes(held_idx if len(held_idx) else train_idx, data.labels, 16)
        self.held_out = to_model_range(data.images[shown]).to(device)  # (<=16, 3, R, R)
        self.held_labels = data.labels[shown].to(device)  # (<=16,)
        self.data = data
        torch.manual_seed(config.seed)  # the one use of the global RNG: identical init everywhere
        self.model = self._build_model()
        self.optimizers = self._build_optimizers()
        self.trainable = self._wrap_for_ddp()
        self.step = 0
        self.history: list[dict[str, float]] = []  # one averaged entry per log interval
        self.amp_dtype, self.scaler = _mixed_precision(device)
        grid_generator = step_generator(config.seed, 0, -1)
        self.sample_z = torch.randn(64, self.model_latent_dim, generator=grid_generator).to(device)  # (64, D)
        self._resume()

    @property
    def model_latent_dim(self) -> int:
        return self.model.config.latent_dim

    # --- the loop ---------------------------------------------------------------------------

    def loop(self) -> Path:
        """Train up to ``config.steps``; returns the path of the shippable checkpoint (written by rank 0)."""
        cfg = self.config
        started, start_step = time.monotonic(), self.step
        running: dict[str, float] = {}
        last_logged = self.step  # losses are averaged over the steps since the last log line
        while True:
            done = self.step >= cfg.steps
            # evaluate: sample grid and loss curve, on rank 0 only
            if self.is_main and (done or (self.step % cfg.sample_every == 0 and self.step > start_step)):
                self._save_samples()
            # checkpoint: the shippable model and the resume state
            if self.is_main and (done or (self.step % cfg.checkpoint_every == 0 and self.step > start_step)):
                self._save_checkpoints()
            # stop
            if done:
                break
            # step
            losses = self._train_step(step_generator(cfg.seed, self.rank, self.step, "cpu"))
            self.step += 1
            for name, value in losses.items():
                running[name] = running.get(name, 0.0) + value
            # log: a progress line with the losses averaged since the last line, and time left
            if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                count = self.step - last_logged  # fewer than log_every after a resume or at the end
                averaged = {name: total / count for name, total in running.items()}
                self.history.append({"step": float(self.step), **averaged})
                running, last_logged = {}, self.step
                if self.is_main:
                    logger.info(_progress_line(self.step, cfg.steps, averaged, started, start_step))
        return self.out / f"{cfg.kind}.safetensors"

    # --- one optimisation step --------------------------------------------------------------

    def _train_step(self, generator: torch.Generator) -> dict[str, float]:
        B = self.config.batch
        index = torch.randint(len(self.images), (B,), generator=generator).to(self.device)  # (B,)
        if self.themes and self.config.kind == "gan":
            # Themes in runs: the discriminator's minibatch-std groups are then one theme each,
            # so a generator that draws one image per theme shows zero spread and is caught.
            index = index[torch.argsort(self.labels[index], stable=True)]
        flip = (torch.rand(B, generator=generator) < 0.5).to(self.device)  # (B,) mirror half the batch
        real = to_model_range(self.images[index])  # (B, 3, R, R)
        real = torch.where(flip[:, None, None, None], real.flip(3), real)
        condition = self.labels[index] if self.themes else None  # (B,) or None
        noise_generator = step_generator(self.config.seed, self.rank, self.step, self.device)
        if self.config.kind == "gan":
            return self._gan_step(real, condition, noise_generator)
        return self._loss_step(real, condition, noise_generator)

    def _loss_step(self, real: torch.Tensor, condition: torch.Tensor | None,
                   generator: torch.Generator) -> dict[str, float]:
        """One step of a model that is its own loss (the VAE, the diffusion model)."""
        (optimizer,) = self.optimizers
        with self._autocast():
            # DDP hooks only run through forward(), so the wrapped module's forward is the loss.
            loss, parts = self.trainable[self.config.kind](real, condition, generator)
        self._backward_and_step(loss, optimizer)
        if self.config.kind == "diffusion":  # the shipped model is the moving average
            self.model.update_ema(min(self.config.ema_decay, (1.0 + self.step) / (10.0 + self.step)))
        return {"loss": float(loss.detach()), **parts}

    def _gan_step(self, real: torch.Tensor, condition: torch.Tensor | None,
                  generator: torch.Generator) -> dict[str, float]:
        g_opt, d_opt = self.optimizers
        G, D = self.trainable["generator"], self.trainable["discriminator"]
        z = torch.randn(real.shape[0], self.model_latent_dim, generator=generator, device=self.device)  # (B, D)
        with self._autocast():
            fake = G(z, condition)  # (B, 3, R, R)
            d_loss, scores = gan_lib.discriminator_loss(D, real, fake, condition)
        self._backward_and_step(d_loss, d_opt)
        with self._autocast():
            g_loss = gan_lib.generator_loss(D, fake, condition)
        self._backward_and_step(g_loss, g_opt)
        self.model.update_ema(min(self.config.ema_decay, (1.0 + self.step) / (10.0 + self.step)))
        # fake_std: the spread of a batch of fakes; it falling towards 0 is mode collapse.
        spread = float(fake.detach().float().std(dim=0).mean())
        return {"d_loss": float(d_loss.detach()), "g_loss": float(g_loss.detach()), **scores, "fake_std": spread}

    def _backward_and_step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            loss.backward()
            optimizer.step()

    def _autocast(self) -> torch.autocast:
        enabled = self.amp_dtype is not None
        return torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32, enabled=enabled)

    # --- set-up -----------------------------------------------------------------------------

    def _build_model(self) -> nn.Module:
        cfg = self.config
        config = model_config(cfg.kind, cfg.resolution, self.themes, cfg.latent_dim, cfg.hparams)
        model = {"vae": VAE, "gan": GAN, "diffusion": DiffusionTrainee}[cfg.kind](config)
        return model.to(self.device)

    def _build_optimizers(self) -> list[torch.optim.Optimizer]:
        if self.config.kind == "vae":
            return [torch.optim.Adam(self.model.parameters(), lr=self.config.lr or 1e-3)]
        if self.config.kind == "diffusion":
            return [torch.optim.Adam(self.model.online.parameters(), lr=self.config.lr or 3e-4)]
        lr = self.config.lr or 2e-4
        # DCGAN's settings (beta1 = 0.5); beta1 = 0 with a faster discriminator collapsed here.
        return [torch.optim.Adam(self.model.generator.parameters(), lr=lr, betas=(0.5, 0.999)),
                torch.optim.Adam(self.model.discriminator.parameters(), lr=lr, betas=(0.5, 0.999))]

    def _wrap_for_ddp(self) -> dict[str, nn.Module]:
        if self.config.kind == "vae":
            modules: dict[str, nn.Module] = {"vae": _LossForward(self.model)}
        elif self.config.kind == "diffusion":
            modules = {"diffusion": _LossForward(self.model.online)}
        else:
            modules = {"generator": self.model.generator, "discriminator": self.model.discriminator}
        if self.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            # broadcast_buffers: the spectral-norm vectors u, v live in buffers; rank 0's win.
            modules = {name: DistributedDataParallel(m, device_ids=ids) for name, m in modules.items()}
        return modules

    # --- files ------------------------------------------------------------------------------

    def _shippable(self) -> nn.Module:
        if self.config.kind == "diffusion":
            return self.model.ema
        if self.config.kind == "vae":
            # Samples are drawn from a fit to the encoder's outputs (models.vae.fit_prior), not N(0, I).
            return fit_prior(self.model, self.images, self.labels if self.themes else None)
        return self.model.generator_ema

    def _save_checkpoints(self) -> None:
        cfg = self.config
        meta = meta_for(self._shippable(), cfg.kind, self.step, cfg.description or _describe(self.data),
                        cfg.licence)
        save_checkpoint(self.out / f"{cfg.kind}.safetensors", self._shippable(), meta)
        tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        groups = []
        for i, optimizer in enumerate(self.optimizers):
            state = optimizer.state_dict()
            groups.append(state["param_groups"])
            for param_id, moments in state["state"].items():
                for key, value in moments.items():
                    tensors[f"optim{i}.{param_id}.{key}"] = value.detach().cpu().reshape(-1).clone()
        info = {"step": self.step, "history": self.history, "param_groups": groups,
                "config": {k: str(v) for k, v in dataclasses.asdict(cfg).items()}}
        partial = self.out / (STATE_FILE + ".partial")
        save_file(tensors, str(partial), metadata={_STATE_KEY: json.dumps(info)})
        os.replace(partial, self.out / STATE_FILE)

    def _resume(self) -> None:
        path = self.out / STATE_FILE
        if not path.is_file():
            return
        from safetensors import safe_open
        with safe_open(str(path), framework="pt") as f:
            info = json.loads(f.metadata()[_STATE_KEY])
        tensors = load_file(str(path), device=str(self.device))
        self.model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
        for i, optimizer in enumerate(self.optimizers):
            state: dict[int, dict[str, torch.Tensor]] = {}
            for name, value in tensors.items():
                prefix, _, rest = name.partition(".")
                if prefix == f"optim{i}":
                    param_id, key = rest.split(".", 1)
                    state.setdefault(int(param_id), {})[key] = value
            params = [p for group in optimizer.param_groups for p in group["params"]]
            for param_id, moments in state.items():
                for key, value in moments.items():
                    moments[key] = value.reshape(() if key == "step" else params[param_id].shape)
            optimizer.load_state_dict({"state": state, "param_groups": info["param_groups"][i]})
        self.step, self.history = int(info["step"]), info["history"]
        logger.info("resumed from %s at step %d", path, self.step)

    def _save_samples(self) -> None:
        model = self._shippable().eval()
        with torch.inference_mode():
            condition = (torch.arange(64, device=self.device) % len(self.themes)) if self.themes else None
            rows = [model(self.sample_z, condition)]  # (64, 3, R, R)
            if self.config.kind == "vae":
                held_condition = self.held_labels if self.themes else None
                recon = model(model.encode(self.held_out, held_condition), held_condition)
                rows = [self.held_out[:16], recon[:16], rows[0][:32]]
        grid = torch.cat(rows).float().cpu()
        save_image_grid(grid, self.out / f"samples_{self.step:06d}.png", columns=8)
        save_image_grid(grid, self.out / "samples_latest.png", columns=8)
        save_loss_curve(self.history, self.out / "loss.png")


class _LossForward(nn.Module):
    """Wraps a VAE or a diffusion model so that its ``loss`` is a forward() call, which
    DistributedDataParallel needs (its gradient hooks run only through forward)."""

    def __init__(self, model: VAE | DiffusionModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor, condition: torch.Tensor | None,
                generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        return self.model.loss(images, condition, generator)


def model_config(kind: str, resolution: int, themes: tuple[str, ...] = (), latent_dim: int | None = None,
                 hparams: tuple[tuple[str, str], ...] = ()):
    """The hyper-parameter dataclass of a ``kind`` model: VAEConfig, GANConfig or DiffusionConfig.
    Raises ValueError for settings out of range (named by the dataclass or ``with_hparams``)."""
    extra = {} if latent_dim is None else {"latent_dim": latent_dim}
    if kind == "diffusion":
        config = DiffusionConfig.for_resolution(resolution, themes)
    else:
        config = (VAEConfig if kind == "vae" else GANConfig)(resolution=resolution, themes=themes, **extra)
    return with_hparams(config, hparams)


def with_hparams(config, hparams: tuple[tuple[str, str], ...]):
    """``config`` (a model's hyper-parameter dataclass) with fields set from (name, text) pairs,
    each text parsed as the field's type (int, float, bool, or a comma-separated tuple of ints).
    Raises ValueError naming the field for an unknown field or a value of the wrong form."""
    if not hparams:
        return config
    fields = {f.name: f for f in dataclasses.fields(config)}
    changes = {}
    for name, text in hparams:
        if name not in fields or name in ("resolution", "themes", "latent_dim"):
            settable = sorted(set(fields) - {"resolution", "themes", "latent_dim"})
            raise ValueError(f"--hparam {name}: not a setting of {type(config).__name__} (one of {', '.join(settable)})")
        current = getattr(config, name)
        try:
            if isinstance(current, bool):
                if text.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(text)
                value = text.lower() in ("true", "1")
            elif isinstance(current, tuple):
                value = tuple(int(part) for part in text.split(",") if part.strip())
            else:
                value = type(current)(text)
        except ValueError:
            raise ValueError(f"--hparam {name}={text}: expected {type(current).__name__} like {current!r}") from None
        changes[name] = value
    return dataclasses.replace(config, **changes)


def _interleave_themes(indices: torch.Tensor, labels: torch.Tensor, count: int) -> torch.Tensor:
    """Up to ``count`` of ``indices``, taking each theme in turn, so a grid shows every theme."""
    per_theme = [indices[labels[indices] == t] for t in labels[indices].unique()]
    order = [group[i] for i in range(count) for group in per_theme if i < len(group)]
    return torch.stack(order[:count]) if order else indices[:0]


def _mixed_precision(device: torch.device) -> tuple[torch.dtype | None, torch.amp.GradScaler | None]:
    """(autocast dtype or None, gradient scaler or None): bf16 if the GPU has it, else fp16 + scaler."""
    if device.type != "cuda":
        return None, None
    if torch.cuda.is_bf16_supported():
        return torch.bfloat16, None
    return torch.float16, torch.amp.GradScaler("cuda")


def save_loss_curve(history: list[dict[str, float]], path: Path) -> None:
    """Plot each logged loss against the step, one panel per loss, to a PNG; returns nothing."""
    if not history:
        return
    import matplotlib
    matplotlib.use("Agg")  # no display: training runs headless
    from matplotlib import pyplot as plt
    names = [k for k in history[0] if k != "step"]
    steps = [entry["step"] for entry in history]
    figure, axes = plt.subplots(len(names), 1, figsize=(7, 1.8 * len(names)), sharex=True, squeeze=False)
    for axis, name in zip(axes[:, 0], names):
        axis.plot(steps, [entry.get(name, float("nan")) for entry in history], linewidth=1)
        axis.set_ylabel(name)
        axis.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("step")
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def _describe(data: ArtDataset) -> str:
    counts = ", ".join(f"{t} {data.count(i)}" for i, t in enumerate(data.themes))
    return f"{len(data)} images ({counts}) from {', '.join(Path(s).name for s in data.sources)}"


def _progress_line(step: int, total: int, losses: dict[str, float], started: float, start_step: int) -> str:
    elapsed = time.monotonic() - started
    per_step = elapsed / max(step - start_step, 1)
    left = per_step * (total - step)
    filled = int(20 * step / max(total, 1))
    shown = " ".join(f"{k} {v:.4g}" for k, v in losses.items())
    return (f"[{'#' * filled}{'.' * (20 - filled)}] {step}/{total} | {shown} | "
            f"{per_step:.2f} s/step | {_clock(elapsed)} elapsed, {_clock(left)} left")


def _clock(seconds: float) -> str:
    seconds = int(math.ceil(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
