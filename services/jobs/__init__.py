"""The job queue and the device workers that run it: every GPU task and long CPU task is a job."""

from services.jobs.cpu_worker import CPU_DEVICE, CpuWorker
from services.jobs.events import JobChanged, JobProgressed
from services.jobs.handlers import ComfyJobHandler, CpuJob, CpuJobHandler, JobHandlers, ProgressSink, RemoteJobHandler
from services.jobs.queue import FINISHED_STATES, JobDraft, JobFilter, JobQueue, new_batch_id
from services.jobs.remote_worker import RemoteAppWorker
from services.jobs.workers import DeviceWorkers, WorkerState, worker_identity

__all__ = [
    "CPU_DEVICE",
    "FINISHED_STATES",
    "ComfyJobHandler",
    "CpuJob",
    "CpuJobHandler",
    "CpuWorker",
    "DeviceWorkers",
    "JobChanged",
    "JobDraft",
    "JobFilter",
    "JobHandlers",
    "JobProgressed",
    "JobQueue",
    "ProgressSink",
    "RemoteAppWorker",
    "RemoteJobHandler",
    "WorkerState",
    "new_batch_id",
    "worker_identity",
]
