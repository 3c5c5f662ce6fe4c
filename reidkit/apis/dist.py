"""Distributed start-up shared by the tools: GPUs (NCCL) and CPUs (gloo)."""
import os
import subprocess
from datetime import timedelta

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.dist import get_world_size
from mmengine.logging import print_log

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')


def _slurm_environment() -> None:
    """Derive torch.distributed's environment from Slurm's (srun)."""
    try:
        rank = int(os.environ['SLURM_PROCID'])
        world_size = int(os.environ['SLURM_NTASKS'])
        local_rank = int(os.environ.get('SLURM_LOCALID', 0))
        node_list = os.environ['SLURM_NODELIST']
    except KeyError as e:
        raise SystemExit(
            f'--launcher slurm needs the variables srun sets ({e} is '
            'missing); start the job with tools/slurm_train.sh.') from e
    if 'MASTER_ADDR' not in os.environ:
        os.environ['MASTER_ADDR'] = subprocess.getoutput(
            f'scontrol show hostname {node_list} | head -n1').strip()
    os.environ.setdefault('MASTER_PORT', '29500')
    os.environ['RANK'] = str(rank)
    os.environ['WORLD_SIZE'] = str(world_size)
    os.environ['LOCAL_RANK'] = str(local_rank)


def setup_distributed(cfg: Config, launcher: str) -> None:
    """Prepare ``cfg`` (and, on CPUs, the process group) for ``launcher``.

    With CUDA, mmengine's Runner initialises NCCL and binds each process to
    its GPU (``cfg.env_cfg.dist_cfg``). Without CUDA, mmengine would still
    call ``torch.cuda.set_device``, so this initialises a **gloo** process
    group from the launcher's environment (``torchrun``: RANK, WORLD_SIZE,
    MASTER_ADDR, MASTER_PORT; Slurm: SLURM_PROCID, SLURM_NTASKS,
    SLURM_NODELIST) and makes the Runner wrap the model in CPU
    ``MMDistributedDataParallel`` (``device_ids=None``). The Runner sees an
    initialised group and does not initialise another.
    """
    if launcher not in LAUNCHERS:
        raise SystemExit(f'Unknown launcher {launcher!r}; use one of '
                         f'{LAUNCHERS}.')
    cfg.launcher = launcher
    if cfg.get('sync_bn') and cfg.get('model', {}).get('bn_samples'):
        raise SystemExit(
            'sync_bn and model.bn_samples both set the BatchNorm batch; '
            'keep one (docs/distributed.md, "Batch size, BatchNorm and '
            'learning rate").')
    if launcher == 'none' or torch.cuda.is_available():
        return
    if launcher == 'mpi':
        raise SystemExit(
            '--launcher mpi needs CUDA GPUs; on CPUs use --launcher pytorch '
            '(tools/dist_train.sh) or slurm (tools/slurm_train.sh).')
    if cfg.get('sync_bn'):
        raise SystemExit(
            f'sync_bn={cfg.sync_bn!r} needs CUDA GPUs (torch SyncBatchNorm '
            'has no CPU kernel); remove it for a CPU run, or set '
            'model.bn_samples to choose how many samples each BatchNorm '
            'step sees (docs/distributed.md).')
    if launcher == 'slurm':
        _slurm_environment()
    missing = [
        k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
        if k not in os.environ
    ]
    if missing:
        raise SystemExit(
            f'--launcher {launcher} expects the environment that torchrun '
            f'sets, but {", ".join(missing)} is not set. Start the job with '
            'tools/dist_train.sh CONFIG NPROC (or torchrun ... '
            'tools/train.py CONFIG --launcher pytorch).')
    if not dist.is_initialized():
        dist_cfg = dict(cfg.get('env_cfg', {}).get('dist_cfg', {}))
        timeout = dist_cfg.get('timeout')
        dist.init_process_group(
            backend='gloo',
            rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']),
            **({} if timeout is None else
               dict(timeout=timedelta(seconds=timeout))))
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper['device_ids'] = None  # CPU DDP
    wrapper.setdefault('broadcast_buffers', False)
    wrapper.setdefault('find_unused_parameters',
                       cfg.get('find_unused_parameters', False))
    cfg.model_wrapper_cfg = wrapper


def batch_accounting(cfg: Config) -> str:
    """One log line with the global, per-process and BatchNorm batch sizes
    and the learning rate, so a run on another number of GPUs can be
    checked against the paper's (docs/distributed.md)."""
    world_size = get_world_size()
    per_process = cfg.train_dataloader.get('batch_size')
    bn_samples = cfg.model.get('bn_samples')
    if cfg.get('sync_bn') and world_size > 1:
        bn = (f'{per_process * world_size} (SyncBN over all '
              f'{world_size} processes)')
    elif bn_samples and bn_samples < per_process:
        bn = f'{bn_samples} (model.bn_samples splits each batch)'
    else:
        bn = f'{per_process} (per process)'
    optimizer = cfg.optim_wrapper.get('optimizer', {})
    lr = optimizer.get('lr')
    scale = cfg.get('auto_scale_lr') or {}
    if scale.get('enable'):
        base = scale['base_batch_size']
        lr_text = (f'{lr} x {per_process * world_size}/{base} (auto_scale_'
                   f'lr) = {lr * per_process * world_size / base:.3g}')
    else:
        lr_text = f'{lr} (not scaled with the batch)'
    return (f'Batch accounting: {world_size} process(es) x '
            f'{per_process} images = global batch '
            f'{per_process * world_size}; BatchNorm batch {bn}; '
            f'{optimizer.get("type", "optimizer")} lr {lr_text}.')


def log_batch_accounting(cfg: Config) -> None:
    print_log(batch_accounting(cfg), logger='current')
